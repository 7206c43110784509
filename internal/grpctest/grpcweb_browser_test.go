package grpctest_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/grpcserver"
	"github.com/kestrel-go/kestrel/internal/grpctest"
)

// webCall is what the page reports of one gRPC-Web call.
type webCall struct {
	HTTP         int
	ContentType  string
	TrailersOnly bool
	Status       string
	Message      string
	Sizes        []int
	Rest         int
}

// TestGRPCWebInChromium: a page in headless Chromium calls grpc-go's
// interop service on package grpcserver with fetch over gRPC-Web, the
// protobuf messages encoded by hand (testdata/grpcweb.html): a unary call
// in binary and in text (base64) mode, a server-streaming call read as it
// streams, and a call answered with an error status. The page and the
// service share the origin, served by one kestrel.Server whose native
// handler sends gRPC and gRPC-Web requests to the grpcserver.Server and
// everything else to an http.ServeMux. It runs over HTTP/1.1, h2 and
// HTTP/3 (QUIC forced for the origin).
func TestGRPCWebInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed; run scripts/install-test-deps.sh, which installs the Debian package chromium")
	}
	page, err := os.ReadFile("testdata/grpcweb.html")
	if err != nil {
		t.Fatal(err)
	}
	gs, _ := nativeServer()
	result := make(chan string, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /page.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	})
	mux.HandleFunc("POST /result", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case result <- string(b):
		default:
		}
	})
	e := grpctest.Start(t, &kestrel.Server{
		Handler: mux,
		NativeHandler: kestrel.NativeHandlerFunc(func(c *kestrel.Context) {
			if grpcserver.IsGRPCContentType(string(c.Header("Content-Type"))) {
				gs.ServeKestrel(c)
				return
			}
			c.ServeHTTP(mux)
		}),
	})
	spki := sha256.Sum256(e.Certificate().RawSubjectPublicKeyInfo)
	for _, tc := range []struct {
		name, origin, protocol string
		flags                  []string
	}{
		{"http1", "http://" + e.Plain, "http/1.1", nil},
		{"h2", "https://" + e.Secure, "h2", nil},
		{"h3", "https://" + e.Secure, "h3", []string{"--enable-quic", "--origin-to-force-quic-on=" + e.Secure}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--ignore-certificate-errors-spki-list=" + base64.StdEncoding.EncodeToString(spki[:]),
				"--user-data-dir=" + t.TempDir()}, tc.flags...)
			cmd := exec.Command(chromium, append(args, tc.origin+"/page.html")...)
			var log lockedBuffer
			cmd.Stdout, cmd.Stderr = &log, &log
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				cmd.Process.Kill()
				cmd.Wait()
			}()
			var raw string
			select {
			case raw = <-result:
			case <-time.After(90 * time.Second):
				t.Fatalf("no result from the browser; its output:\n%s", log.String())
			}
			t.Logf("the page reported %s", raw)
			var got struct {
				Unary, UnaryText, Stream, Error webCall
				Protocol, Exception             string
			}
			if err := json.Unmarshal([]byte(raw), &got); err != nil {
				t.Fatalf("the page's report %q: %v", raw, err)
			}
			if got.Exception != "" {
				t.Fatalf("the page failed: %s", got.Exception)
			}
			if got.Protocol != tc.protocol {
				t.Errorf("the calls went over %q, want %q", got.Protocol, tc.protocol)
			}
			for _, c := range []struct {
				name  string
				call  webCall
				ct    string
				sizes []int
			}{
				{"unary", got.Unary, "application/grpc-web+proto", []int{13}},
				{"unary in text mode", got.UnaryText, "application/grpc-web-text", []int{13}},
				{"server streaming", got.Stream, "application/grpc-web+proto", []int{1, 10, 100, 1000}},
			} {
				if c.call.HTTP != 200 || !strings.HasPrefix(c.call.ContentType, c.ct) || c.call.Status != "0" || c.call.TrailersOnly || c.call.Rest != 0 ||
					!equalInts(c.call.Sizes, c.sizes) {
					t.Errorf("%s: %+v; want HTTP 200, %s, messages of %v bytes, grpc-status 0 in the trailer frame", c.name, c.call, c.ct, c.sizes)
				}
			}
			// The status of a call that failed before any message may
			// come in the headers (trailers-only) or in a trailer frame.
			if e := got.Error; e.HTTP != 200 || e.Status != "3" || e.Message != "bad ☺" || len(e.Sizes) != 0 || e.Rest != 0 {
				t.Errorf("error call: %+v; want grpc-status 3 with the message %q and no message", e, "bad ☺")
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// lockedBuffer collects a child process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
