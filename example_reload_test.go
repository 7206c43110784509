package kestrel_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"strings"

	"github.com/kestrel-go/kestrel"
)

func ExampleServer_Reload() {
	// In a program, the configuration comes from a file, read again with
	// LoadConfig when it changes or on SIGHUP (Service.Run does both).
	config := func(maxBody int) *kestrel.Config {
		cfg, err := kestrel.ParseConfig([]byte(fmt.Sprintf(`{"Kestrel": {
			"Endpoints": {"Local": {"Url": "http://127.0.0.1:0"}},
			"Limits": {"MaxRequestBodySize": %d}}}`, maxBody)), "appsettings.json", nil, nil)
		if err != nil {
			log.Fatal(err)
		}
		return cfg
	}

	srv := &kestrel.Server{
		Logger: slog.New(slog.DiscardHandler),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, err := io.Copy(io.Discard, r.Body)
			if err != nil {
				return // over the limit: the server answers 413
			}
			fmt.Fprintf(w, "%d bytes", n)
		}),
	}
	if err := config(10).Apply(srv); err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	post := func() {
		resp, err := client.Post(srv.Addresses()[0], "text/plain", strings.NewReader(strings.Repeat("x", 100)))
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Println(strings.TrimSpace(resp.Status + " " + string(body)))
	}
	post()
	// The endpoint is unchanged: it keeps its socket and its connections.
	// New connections get the new limit.
	if err := srv.Reload(config(1000)); err != nil {
		log.Fatal(err) // the error names the key at fault; the server runs on as it was
	}
	post()
	// Output:
	// 413 Request Entity Too Large
	// 200 OK 100 bytes
}
