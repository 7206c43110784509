package staticfiles_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/staticfiles"
)

// site makes a small site in a temporary folder.
func site() string {
	dir, err := os.MkdirTemp("", "site")
	if err != nil {
		log.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "assets"), 0o755)
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>Hello</h1>"), 0o644)
	os.WriteFile(filepath.Join(dir, "assets", "app.3f2a9c1b.js"), []byte("console.log(1)"), 0o644)
	return dir
}

// get serves one request and prints the status and some headers.
func get(h http.Handler, path string) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	fmt.Printf("%s: %d %s; %s\n", path, w.Code, w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"))
}

func Example() {
	dir := site()
	defer os.RemoveAll(dir)

	h, err := staticfiles.New(dir, staticfiles.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	get(h, "/")
	get(h, "/assets/app.3f2a9c1b.js")
	get(h, "/missing.txt")
	// Output:
	// /: 200 text/html; charset=utf-8; no-cache
	// /assets/app.3f2a9c1b.js: 200 text/javascript; charset=utf-8; public, max-age=31536000, immutable
	// /missing.txt: 404 text/plain; charset=utf-8;
}

// A single-page app: client-side routes get index.html, missing assets 404.
func ExampleOptions_fallback() {
	dir := site()
	defer os.RemoveAll(dir)

	h, err := staticfiles.New(dir, staticfiles.Options{Fallback: "index.html"})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	get(h, "/users/42")
	get(h, "/assets/missing.js")
	// Output:
	// /users/42: 200 text/html; charset=utf-8; no-cache
	// /assets/missing.js: 404 text/plain; charset=utf-8;
}

func ExampleOptions_cacheRules() {
	dir := site()
	defer os.RemoveAll(dir)

	h, err := staticfiles.New(dir, staticfiles.Options{
		CacheControl: "public, max-age=300",
		CacheRules: []staticfiles.CacheRule{
			{Pattern: "/index.html", Value: "no-store"},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	get(h, "/")
	get(h, "/assets/app.3f2a9c1b.js")
	// Output:
	// /: 200 text/html; charset=utf-8; no-store
	// /assets/app.3f2a9c1b.js: 200 text/javascript; charset=utf-8; public, max-age=31536000, immutable
}

// Files under /static/, an API beside them, on the Kestrel server.
func Example_server() {
	files, err := staticfiles.New("./public", staticfiles.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer files.Close()
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static", files))
	mux.HandleFunc("GET /api/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	})
	srv := &kestrel.Server{Handler: mux}
	if err := srv.ListenURL("http://localhost:5000"); err != nil {
		log.Fatal(err)
	}
	log.Fatal(srv.Run(context.Background()))
}

func ExampleTypeByExtension() {
	fmt.Println(staticfiles.TypeByExtension(".js"))
	fmt.Println(staticfiles.TypeByExtension(".woff2"))
	fmt.Println(staticfiles.TypeByExtension(".webmanifest"))
	// Output:
	// text/javascript; charset=utf-8
	// font/woff2
	// application/manifest+json
}
