package kestrel

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"
)

// zeroReader is an endless stream of zero bytes.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// earlyAnswers answers before reading the request body: a rejection
// that never reads it, MaxBytesReader's 413, and a handler that reads on
// until the server's own limit answers 413.
func earlyAnswers() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/reject", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no credentials", http.StatusUnauthorized) // the body is never read
	})
	mux.HandleFunc("/maxbytes", func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "too big", http.StatusRequestEntityTooLarge)
			return
		}
		io.WriteString(w, "read it all")
	})
	mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			return // past the server's limit: the server answers 413
		}
		io.WriteString(w, "read it all")
	})
	return mux
}

// TestEarlyResponseReachesGoClient checks that a response sent before the
// request body was read reaches Go's client every time, over every
// protocol: the server must not reset the connection (or the stream)
// while the client still writes the body (net/http's server half-closes
// and waits; so does Kestrel). Plain HTTP/1.1, where the reset was seen,
// gets the most tries and the largest bodies.
func TestEarlyResponseReachesGoClient(t *testing.T) {
	t.Parallel()
	limits := Limits{MaxRequestBodySize: 8 << 20}
	_, secure := h3Server(t, &Server{Handler: earlyAnswers(), Limits: limits}, HTTP1AndHTTP2AndHTTP3)
	plain := startServer(t, &Server{Handler: earlyAnswers(), Limits: limits})
	for _, c := range everyProtocol(t, plain, secure) {
		c.client.Timeout = time.Minute
		more := 1
		if c.name == "HTTP/1.1" {
			more = 4
		}
		for _, tc := range []struct {
			path  string
			size  int64
			tries int
			want  int
		}{
			{"/reject", 1 << 20, 10 * more, http.StatusUnauthorized},
			{"/maxbytes", 20 << 20, 3 * more, http.StatusRequestEntityTooLarge},
			{"/read", 25 << 20 * int64(more), 2, http.StatusRequestEntityTooLarge},
		} {
			for i := range tc.tries {
				resp, err := c.client.Post(c.base+tc.path, "application/octet-stream", io.LimitReader(zeroReader{}, tc.size))
				if err != nil {
					t.Fatalf("%s %s with %d bytes, try %d: %v", c.name, tc.path, tc.size, i, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.want || resp.ProtoMajor != c.major {
					t.Fatalf("%s %s, try %d: %s %d %.80q, want %d", c.name, tc.path, i, resp.Proto, resp.StatusCode, bytes.TrimSpace(b), tc.want)
				}
			}
		}
	}
}
