package kestrel

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// llhttpVector is one case of llhttp's test suite (testdata/llhttp-vectors.json,
// extracted from llhttp/test/**/*.md).
type llhttpVector struct {
	File string `json:"file"`
	Name string `json:"name"`
	Meta struct {
		Type string `json:"type"`
	} `json:"meta"`
	Log   string `json:"log"`
	Input string `json:"input"`
	Error []any  `json:"error"`
}

// llhttpDeviations are the strict request cases where this server
// deliberately answers differently from llhttp, with the reason.
var llhttpDeviations = map[string]string{
	// RFC 9110, section 9.1: a method is any token; unknown methods are the
	// application's to refuse (501 or 405), not the parser's.
	"Invalid method":                                                   "any token is a valid method (RFC 9110, 9.1)",
	"HTTP protocol and ANNOUNCE method":                                "any token is a valid method (RFC 9110, 9.1)",
	"Content-Length reset when no body is received":                    "llhttp's callbacks skip the body in this case; a server waits for the 123 declared bytes, and the connection ends first: 400",
	"SOURCE request with ICE":                                          "ICE is not HTTP: 400",
	"OPTIONS request with RTSP":                                        "RTSP is not HTTP: 400",
	"ANNOUNCE request with RTSP":                                       "RTSP is not HTTP: 400",
	"No HTTP version":                                                  "HTTP/0.9 is not supported: 400",
	"POST with `chunked` as last transfer-encoding":                    "a transfer coding the server cannot decode (deflate) is answered 501 (RFC 9112, 6.1)",
	"POST with `chunked` as last transfer-encoding (multiple headers)": "a transfer coding the server cannot decode (deflate) is answered 501 (RFC 9112, 6.1)",
	// RFC 9112, section 3.2.4: the asterisk form is only for OPTIONS.
	"M-SEARCH request": "the asterisk-form target is only for OPTIONS (RFC 9112, 3.2.4): 405",
	// RFC 9110, section 4.2.4: user information in an http URI is an error.
	"`host:port` and basic auth": "user information in an absolute-form target is refused (RFC 9110, 4.2.4): 400",
}

// TestLLHTTPVectors runs llhttp's strict request cases against a real
// server. Only meta.type "request" applies: "response" cases are for
// clients, and the "lenient" variants test llhttp's opt-in leniencies that
// a strict server must not have. For every case the server must complete
// exactly the messages llhttp completes ("message complete" in its log),
// each with its whole body, and answer a malformed one with an error
// status (or, for framing it cannot answer, by closing) instead of serving
// it. Cases where llhttp pauses (upgrades, CONNECT, PRI) are parser
// outcomes, not errors: the server serves the request and must only not
// serve more than llhttp completed plus what follows as a new request.
func TestLLHTTPVectors(t *testing.T) {
	data, err := os.ReadFile("testdata/llhttp-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []llhttpVector
	if err := json.Unmarshal(data, &vectors); err != nil {
		t.Fatal(err)
	}
	var served atomic.Int64
	s := &Server{Logger: discardLogger(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return // the server answers the broken body
		}
		served.Add(1)
	})}
	s.Listen("127.0.0.1:0")
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := strings.TrimPrefix(s.Addresses()[0], "http://")

	applicable, deviations := 0, 0
	for _, v := range vectors {
		if v.Meta.Type != "request" {
			continue
		}
		applicable++
		t.Run(v.Name, func(t *testing.T) {
			want := strings.Count(v.Log, "message complete")
			errText := ""
			if len(v.Error) == 2 {
				errText, _ = v.Error[1].(string)
			}
			pause := strings.HasPrefix(errText, "Pause on")
			served.Store(0)
			statuses := sendRaw(t, addr, withHost(v.Input))
			got := int(served.Load())
			if reason, ok := llhttpDeviations[v.Name]; ok {
				deviations++
				t.Logf("deviation (%s): llhttp completes %d, server served %d, statuses %v", reason, want, got, statuses)
				return
			}
			switch {
			case pause:
				if got < want {
					t.Errorf("served %d requests, llhttp completes %d before pausing", got, want)
				}
			case errText != "":
				if got != want {
					t.Errorf("served %d requests, want %d (llhttp: %s); statuses %v", got, want, errText, statuses)
				}
				// The malformed message is refused: an error status, or a close.
				for _, st := range statuses[min(got, len(statuses)):] {
					if st < 400 {
						t.Errorf("status %d for the malformed message (llhttp: %s)", st, errText)
					}
				}
			default:
				if got != want {
					t.Errorf("served %d requests, want %d; statuses %v", got, want, statuses)
				}
			}
		})
	}
	t.Logf("%d applicable request cases, %d documented deviations", applicable, deviations)
	if applicable < 100 {
		t.Errorf("only %d applicable cases: is the vector file complete?", applicable)
	}
}

// withHost adds a Host header to the HTTP/1.1 requests of an input that has
// none: llhttp does not require it, but a server must answer an HTTP/1.1
// request without Host with 400 (RFC 9112, section 3.2), which the hostile
// input tests check on their own. An absolute-form request gets its
// target's authority, which the Host must match.
func withHost(input string) string {
	if strings.Contains(strings.ToLower(input), "\nhost:") {
		return input
	}
	var out strings.Builder
	for line := range strings.SplitAfterSeq(input, "\r\n") {
		out.WriteString(line)
		f := strings.Fields(line)
		if len(f) != 3 || f[2] != "HTTP/1.1" || !strings.HasSuffix(line, " HTTP/1.1\r\n") {
			continue
		}
		host := "llhttp"
		if _, rest, ok := strings.Cut(f[1], "://"); ok {
			host, _, _ = strings.Cut(rest, "/")
			host, _, _ = strings.Cut(host, "?")
			if i := strings.LastIndexByte(host, '@'); i >= 0 {
				host = host[i+1:]
			}
		}
		out.WriteString("Host: " + host + "\r\n")
	}
	return out.String()
}

// sendRaw sends input, closes the sending side, and returns the status
// codes of the responses read until the server closes.
func sendRaw(t *testing.T, addr, input string) []int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte(input))
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	var statuses []int
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return statuses
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
	}
}
