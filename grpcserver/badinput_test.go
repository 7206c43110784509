package grpcserver

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptrace"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"
)

// frame is one gRPC length-prefixed message.
func frame(flag byte, payload []byte) []byte {
	b := []byte{flag, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(payload)))
	return append(b, payload...)
}

// rawResult is what a hand-made call got back.
type rawResult struct {
	httpStatus int
	status     string // grpc-status, from the trailers or the head
	message    string
	body       []byte
	reused     bool // the request went on a connection used before
}

// rawCall sends a hand-made gRPC request.
func rawCall(t *testing.T, c *http.Client, url string, header map[string]string, body []byte) rawResult {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	var res rawResult
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { res.reused = i.Reused },
	}))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	res.body, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	res.httpStatus = resp.StatusCode
	res.status, res.message = resp.Trailer.Get("Grpc-Status"), resp.Trailer.Get("Grpc-Message")
	if res.status == "" {
		res.status, res.message = resp.Header.Get("Grpc-Status"), resp.Header.Get("Grpc-Message")
	}
	return res
}

// h2cClient is an HTTP/2 client with prior knowledge, on one connection.
func h2cClient() *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: p}, Timeout: 10 * time.Second}
}

// TestBadInput: each malformed request gets the status grpc-go's server
// gives it, the connection goes on serving (the next request reuses it),
// and nothing leaks.
func TestBadInput(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() { checkGoroutines(t, before) }) // after the server closes
	gs := NewServer()
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	ts := startKestrel(t, gs)
	c := h2cClient()
	base := "http://" + ts.plain
	const unary = "/grpc.testing.TestService/UnaryCall"
	req, _ := proto.Marshal(&testgrpc.SimpleRequest{ResponseSize: 10})
	good := frame(0, req)
	over := []byte{0, 0, 0x40, 0, 1} // 4 MiB + 1
	serving := 0                     // goroutines once the connection serves

	for _, tc := range []struct {
		name       string
		path       string
		header     map[string]string
		body       []byte
		httpStatus int
		status     string
		message    string
	}{
		{"good", unary, nil, good, 200, "0", ""},
		{"over the limit", unary, nil, over, 200, "8", "grpc: received message larger than max (4194305 vs. 4194304)"},
		{"at the limit, truncated", unary, nil, []byte{0, 0, 0x40, 0, 0, 1, 2}, 200, "13", "unexpected EOF"},
		{"truncated frame", unary, nil, good[:len(good)-1], 200, "13", "unexpected EOF"},
		{"truncated prefix", unary, nil, good[:3], 200, "13", "unexpected EOF"},
		{"no message", unary, nil, nil, 200, "13", "cardinality violation: received no request message from non-client-streaming RPC"},
		{"two messages", unary, nil, append(append([]byte(nil), good...), good...), 200, "13", "cardinality violation: received multiple request messages for non-client-streaming RPC"},
		{"two messages, server streaming", "/grpc.testing.TestService/StreamingOutputCall", nil, append(append([]byte(nil), good...), good...), 200, "13", "cardinality violation: received multiple request messages for non-client-streaming RPC"},
		{"flag 2", unary, nil, frame(2, req), 200, "13", "grpc: received unexpected payload format 2"},
		// grpc-go checks a message's length, then reads it, then its flag.
		{"flag 2, over the limit", unary, nil, []byte{2, 0, 0x40, 0, 1}, 200, "8", "grpc: received message larger than max (4194305 vs. 4194304)"},
		{"flag 2, truncated", unary, nil, frame(2, req)[:len(req)+4], 200, "13", "unexpected EOF"},
		{"compressed without encoding, over the limit", unary, nil, []byte{1, 0, 0x40, 0, 1}, 200, "8", "grpc: received message larger than max (4194305 vs. 4194304)"},
		{"compressed without encoding", unary, nil, frame(1, req), 200, "13", "grpc: compressed flag set with identity or empty encoding"},
		{"unknown encoding", unary, map[string]string{"grpc-encoding": "br"}, frame(1, req), 200, "12", `grpc: Decompressor is not installed for grpc-encoding "br"`},
		{"bad gzip", unary, map[string]string{"grpc-encoding": "gzip"}, frame(1, req), 200, "13", ""},
		{"malformed grpc-timeout", unary, map[string]string{"grpc-timeout": "1x"}, good, 400, "13", ""},
		{"grpc-timeout too long", unary, map[string]string{"grpc-timeout": "1234567890S"}, good, 400, "13", `malformed grpc-timeout: transport: timeout string is too long: "1234567890S"`},
		{"grpc-timeout not a number", unary, map[string]string{"grpc-timeout": "-1S"}, good, 400, "13", `malformed grpc-timeout: strconv.ParseUint: parsing "-1": invalid syntax`},
		{"grpc-timeout expired", unary, map[string]string{"grpc-timeout": "0n"}, good, 200, "4", "context deadline exceeded"},
		{"text/plain", unary, map[string]string{"Content-Type": "text/plain"}, good, 415, "3", `invalid gRPC request content-type "text/plain"`},
		{"unknown method", "/grpc.testing.TestService/Nope", nil, good, 200, "12", "unknown method Nope for service grpc.testing.TestService"},
		{"unknown service", "/no.Such/Call", nil, good, 200, "12", "unknown service no.Such"},
		{"malformed path", "/nothing", nil, good, 200, "12", `malformed method name: "/nothing"`},
		{"bad binary metadata", unary, map[string]string{"x-data-bin": "!!!"}, good, 400, "13", ""},
		{"good again", unary, nil, good, 200, "0", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := rawCall(t, c, base+tc.path, tc.header, tc.body)
			if tc.name == "good" {
				serving = runtime.NumGoroutine()
			} else {
				checkGoroutines(t, serving) // no call left running
			}
			if res.httpStatus != tc.httpStatus || res.status != tc.status {
				t.Errorf("HTTP %d, grpc-status %q (%q); want HTTP %d, grpc-status %q", res.httpStatus, res.status, res.message, tc.httpStatus, tc.status)
			}
			if tc.message != "" && res.message != tc.message && !strings.Contains(decodeMsg(res.message), tc.message) {
				t.Errorf("grpc-message %q, want %q", res.message, tc.message)
			}
			if tc.name != "good" && !res.reused {
				t.Errorf("the request did not reuse the connection: it was closed")
			}
		})
	}
	c.CloseIdleConnections()
}

// decodeMsg undoes grpc-message's percent-encoding.
func decodeMsg(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			var v byte
			for _, c := range s[i+1 : i+3] {
				v <<= 4
				switch {
				case c >= '0' && c <= '9':
					v |= byte(c - '0')
				case c >= 'A' && c <= 'F':
					v |= byte(c - 'A' + 10)
				}
			}
			b.WriteByte(v)
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
