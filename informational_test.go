package kestrel

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestContinueWithConcurrentResponse: a full-duplex handler reads the body
// in one goroutine (its first read sends 100 Continue, as the client
// asked) while another writes 103 Early Hints and the start of the
// response, over HTTP/1.1, HTTP/2 and HTTP/3. The 100 went out unlocked
// against the handler's writes: over HTTP/1.1 and HTTP/3 both wrote into
// the connection's (the stream's) buffer at once, and the 100 could land
// after the final head, inside the body (the race detector reports it).
// The 100 now goes out under the lock the head and 1xx writes hold, and
// never after the final head (the clients then send the body without it:
// Go's HTTP/2 client after its ExpectContinueTimeout).
func TestContinueWithConcurrentResponse(t *testing.T) {
	t.Parallel()
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).EnableFullDuplex()
		done := make(chan []byte)
		go func() {
			b, _ := io.ReadAll(r.Body)
			done <- b
		}()
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "head;")
		w.(http.Flusher).Flush()
		w.Write(<-done)
	})}
	_, addr := h3Server(t, s, HTTP1AndHTTP2AndHTTP3)
	h2 := &http.Transport{TLSClientConfig: testClientTLS(t), Protocols: new(http.Protocols), ExpectContinueTimeout: 50 * time.Millisecond}
	h2.Protocols.SetHTTP2(true)
	t.Cleanup(h2.CloseIdleConnections)
	for _, c := range []struct {
		name string
		c    *http.Client
	}{
		{"HTTP/2", &http.Client{Transport: h2, Timeout: 10 * time.Second}},
		{"HTTP/3", h3Client(t)},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for range 5 {
				req, _ := http.NewRequest("POST", "https://"+addr+"/", io.MultiReader(strings.NewReader("body")))
				req.Header.Set("Expect", "100-continue")
				resp, err := c.c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != "head;body" {
					t.Fatalf("%s: %q %v", resp.Proto, b, err)
				}
			}
		})
	}
	t.Run("HTTP/1.1", func(t *testing.T) {
		t.Parallel()
		for range 5 {
			// Over TLS, as the endpoint serves; a raw client sees where
			// the 100 lands.
			c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: testClientTLS(t).RootCAs, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\nConnection: close\r\n\r\n")
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(c)
			var out bytes.Buffer
			sent := false
			for {
				line, err := br.ReadString('\n')
				out.WriteString(line)
				if err != nil {
					break
				}
				// The body goes on 100 Continue, or once the response
				// has started without it (the server sends no 100
				// after the final head, as net/http).
				if (line == "HTTP/1.1 100 Continue\r\n" || line == "head;\r\n") && !sent {
					sent = true
					io.WriteString(c, "body")
				}
			}
			c.Close()
			got := out.String()
			head := strings.Index(got, "HTTP/1.1 200 OK\r\n")
			if cont := strings.Index(got, "HTTP/1.1 100 Continue\r\n"); head < 0 || cont > head {
				t.Fatalf("100 Continue after the final head, or no final head:\n%s", got)
			}
			if strings.Count(got, "HTTP/1.1 200 OK\r\n") != 1 || !strings.HasSuffix(got, "5\r\nhead;\r\n4\r\nbody\r\n0\r\n\r\n") {
				t.Fatalf("response:\n%s", got)
			}
		}
	})
}
