package kestrel

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"
	"time"
)

// TestHandlerTransferCodings checks that a handler that codes its body
// itself and says so in Transfer-Encoding (gzip) has that coding sent,
// before the chunked the server frames the body with (RFC 9112, 6.1), as
// net/http's HTTP/1 server sends it, so that the client can decode the
// body; chunked and identity are the server's to choose, and such a body
// is not sniffed for a Content-Type (it would be typed by its coding),
// as by net/http.
func TestHandlerTransferCodings(t *testing.T) {
	t.Parallel()
	const text = "hello, coded world"
	var coded bytes.Buffer
	zw := gzip.NewWriter(&coded)
	io.WriteString(zw, text)
	zw.Close()
	tests := []struct {
		name, te, wantTE string
		gzipped          bool
	}{
		{"gzip", "gzip", "gzip, chunked", true},
		{"gzip, chunked", "gzip, chunked", "gzip, chunked", true},
		{"upper case, spaces", " GZIP ,chunked", "GZIP, chunked", true},
		{"chunked", "chunked", "chunked", false},
		{"identity", "identity", "chunked", false},
		{"not a token", "gzip;q=1, x y", "chunked", false},
	}
	for _, native := range []bool{false, true} {
		for _, tt := range tests {
			name := tt.name
			if native {
				name = "native/" + name
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				body := []byte(text)
				if tt.gzipped {
					body = coded.Bytes()
				}
				s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Transfer-Encoding", tt.te)
					w.Write(body)
				})}
				if native {
					s = &Server{NativeHandler: NativeHandlerFunc(func(c *Context) {
						c.SetHeader("Transfer-Encoding", tt.te)
						c.SetHeader("Content-Type", "text/plain")
						c.Write(body)
					})}
				}
				addr := startServer(t, s)
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(10 * time.Second))
				io.WriteString(nc, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
				br := bufio.NewReader(nc)
				var te, ctype []string
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						t.Fatalf("reading the head: %v", err)
					}
					line = strings.TrimRight(line, "\r\n")
					if line == "" {
						break
					}
					name, value, _ := strings.Cut(line, ": ")
					switch strings.ToLower(name) {
					case "transfer-encoding":
						te = append(te, value)
					case "content-type":
						ctype = append(ctype, value)
					}
				}
				if len(te) != 1 || te[0] != tt.wantTE {
					t.Fatalf("Transfer-Encoding %q, want %q", te, tt.wantTE)
				}
				if !native && len(ctype) > 0 {
					t.Errorf("Content-Type %q sniffed from a body the handler framed", ctype)
				}
				got, err := io.ReadAll(httputil.NewChunkedReader(br))
				if err != nil {
					t.Fatalf("reading the chunked body: %v", err)
				}
				if tt.gzipped {
					zr, err := gzip.NewReader(bytes.NewReader(got))
					if err != nil {
						t.Fatalf("the body is not gzip: %v", err)
					}
					if got, err = io.ReadAll(zr); err != nil {
						t.Fatal(err)
					}
				}
				if string(got) != text {
					t.Errorf("body %q, want %q", got, text)
				}
			})
		}
	}
}
