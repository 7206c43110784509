package kestrel_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"

	"github.com/kestrel-go/kestrel"
)

func ExampleServer() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hello, %s!\n", r.PathValue("name"))
	})

	srv := &kestrel.Server{Handler: mux}
	// Port 0 picks a free port; Addresses reports it.
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	resp, err := http.Get(srv.Addresses()[0] + "/hello/gopher")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, resp.Header.Get("Server"))
	fmt.Print(string(body))
	// Output:
	// 200 OK Kestrel
	// Hello, gopher!
}

func ExampleNativeHandlerFunc() {
	// Standard handlers for the paths that are not hot.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /about", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "about, served by net/http's mux (%s)\n", r.Proto)
	})

	srv := &kestrel.Server{
		NativeHandler: kestrel.NativeHandlerFunc(func(c *kestrel.Context) {
			// The hot path: no *http.Request, no allocation.
			if string(c.Path()) == "/plaintext" {
				c.SetContentType("text/plain")
				c.WriteString("Hello, World!\n")
				return
			}
			c.ServeHTTP(mux)
		}),
	}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	for _, path := range []string{"/plaintext", "/about"} {
		resp, err := http.Get(srv.Addresses()[0] + path)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Print(resp.Header.Get("Content-Type"), ": ", string(body))
	}
	// Output:
	// text/plain: Hello, World!
	// text/plain; charset=utf-8: about, served by net/http's mux (HTTP/1.1)
}

func ExampleSetMaxRequestBodySize() {
	upload := func(w http.ResponseWriter, r *http.Request) {
		// This endpoint takes at most 16 bytes, whatever the server's limit.
		if err := kestrel.SetMaxRequestBodySize(r, 16); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		body, err := io.ReadAll(r.Body)
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return // the server answers 413
		}
		fmt.Fprintf(w, "stored %d bytes", len(body))
	}

	srv := &kestrel.Server{Handler: http.HandlerFunc(upload)}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	for _, body := range []string{"small", "far more than sixteen bytes"} {
		resp, err := http.Post(srv.Addresses()[0]+"/upload", "text/plain", strings.NewReader(body))
		if err != nil {
			log.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%d bytes: %s %q\n", len(body), resp.Status, answer)
	}
	// Output:
	// 5 bytes: 200 OK "stored 5 bytes"
	// 27 bytes: 413 Request Entity Too Large ""
}

// A configuration file's AllowedHosts and Kestrel:ForwardedHeaders are
// middleware: Config.Handler puts them in front of the app.
func ExampleConfig_Handler() {
	// In an app: cfg, err := kestrel.LoadConfig("appsettings.json")
	cfg, err := kestrel.ParseConfig([]byte(`{
		"Kestrel": { "Endpoints": { "Http": { "Url": "http://127.0.0.1:0" } } },
		"AllowedHosts": "example.com;*.example.com" }`), "appsettings.json", nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	srv := &kestrel.Server{}
	if err := cfg.Apply(srv); err != nil { // limits, certificates, endpoints
		log.Fatal(err)
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	if srv.Handler, err = cfg.Handler(app); err != nil { // AllowedHosts, ForwardedHeaders
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	for _, host := range []string{"www.example.com", "attacker.test"} {
		req, _ := http.NewRequest("GET", srv.Addresses()[0]+"/", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(host, resp.StatusCode)
	}
	// Output:
	// www.example.com 200
	// attacker.test 400
}
