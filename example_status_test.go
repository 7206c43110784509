package kestrel_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"

	"github.com/kestrel-go/kestrel"
)

// A server serves its live status page at /status (HTML that refreshes
// itself; ?format=json for scripts) to loopback clients and to the
// operators' network, ahead of its application. The handler is made
// before Start, so that the server counts from its start.
func ExampleServer_StatusHandler() {
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "Hello")
	})
	srv := &kestrel.Server{Logger: slog.New(slog.DiscardHandler)}
	mux := http.NewServeMux()
	mux.Handle("/status", srv.StatusHandler(&kestrel.StatusOptions{
		AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("10.8.0.0/16")},
	}))
	mux.Handle("/", app)
	srv.Handler = mux
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	base := srv.Addresses()[0]
	// One keep-alive connection: each request is counted before the next
	// is read.
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	for range 3 {
		if resp, err := client.Get(base + "/"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}

	resp, err := client.Get(base + "/status?format=json")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var st struct {
		State       string
		Requests    struct{ Total, Active int64 }
		Connections struct {
			Active     int64
			ByProtocol map[string]int64
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Header.Get("Cache-Control"), st.State)
	fmt.Println("requests:", st.Requests.Total, "done,", st.Requests.Active, "active (this one)")
	fmt.Println("connections:", st.Connections.Active, "HTTP/1.1:", st.Connections.ByProtocol["HTTP/1.1"])
	// Output:
	// no-store ready
	// requests: 3 done, 1 active (this one)
	// connections: 1 HTTP/1.1: 1
}
