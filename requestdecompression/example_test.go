package requestdecompression_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/kestrel-go/kestrel/requestdecompression"
)

func ExampleHandler() {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return // the middleware answers 400 or 413
		}
		fmt.Fprintf(w, "%d bytes, Content-Encoding %q: %s", r.ContentLength, r.Header.Get("Content-Encoding"), body)
	})
	// On a kestrel.Server, the decoded body is held to the request's body
	// size limit (Limits.MaxRequestBodySize); here, to 1 MiB.
	h := requestdecompression.Handler(echo, requestdecompression.Options{MaxBodySize: 1 << 20})

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, "Hello, gzip!")
	zw.Close()
	for _, coding := range []string{"gzip", "xz"} {
		r := httptest.NewRequest("POST", "/echo", bytes.NewReader(gz.Bytes()))
		r.Header.Set("Content-Encoding", coding)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Body.String())
	}

	// A gzip bomb: 10 MB of zeros in about 10 KB.
	gz.Reset()
	zw = gzip.NewWriter(&gz)
	zw.Write(make([]byte, 10_000_000))
	zw.Close()
	r := httptest.NewRequest("POST", "/echo", &gz)
	r.Header.Set("Content-Encoding", "gzip")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Print(w.Code, " ", w.Body.String())
	// Output:
	// 200 -1 bytes, Content-Encoding "": Hello, gzip!
	// 415 Unsupported Content-Encoding "xz": send the body as it is, or with one of br, deflate, gzip, zstd.
	//
	// 413 The request body decompresses to more than 1048576 bytes.
}
