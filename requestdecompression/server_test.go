package requestdecompression_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"testing"

	"github.com/kestrel-go/kestrel"
	"github.com/kestrel-go/kestrel/requestdecompression"
)

// TestServerLimit: on a kestrel.Server, the limit on the decoded body is
// the request's own body size limit: Limits.MaxRequestBodySize (1 MiB
// here), or what kestrel.SetMaxRequestBodySize set before the handler
// read. A zstd body of 64 KiB of frames that decodes to 64 MiB is refused
// with 413 under the server's limit, and read whole under a raised one;
// the connection serves the next request.
func TestServerLimit(t *testing.T) {
	app := requestdecompression.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("limit"); v != "" {
			n, _ := strconv.ParseInt(v, 10, 64)
			if err := kestrel.SetMaxRequestBodySize(r, n); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
		}
		n, err := io.CopyBuffer(io.Discard, r.Body, make([]byte, 256<<10))
		if err != nil {
			http.Error(w, "handler: "+err.Error(), 500)
			return
		}
		io.WriteString(w, strconv.FormatInt(n, 10))
	}), requestdecompression.Options{})
	srv := &kestrel.Server{Handler: app, Limits: kestrel.Limits{MaxRequestBodySize: 1 << 20}, Logger: slog.New(slog.DiscardHandler)}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	base := srv.Addresses()[0]
	frames := bytes.Repeat(compress(t, "zstd", make([]byte, 1<<20)), 64)
	t.Logf("%d compressed bytes decode to %d", len(frames), 64<<20)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for _, tc := range []struct {
		query      string
		wantStatus int
		wantBody   string
	}{
		{"", 413, "The request body decompresses to more than 1048576 bytes.\n"},
		{"?limit=" + strconv.Itoa(64<<20), 200, strconv.Itoa(64 << 20)},
		{"?limit=-1", 200, strconv.Itoa(64 << 20)},
		{"?limit=" + strconv.Itoa(64<<20-1), 413, "The request body decompresses to more than 67108863 bytes.\n"},
	} {
		req, _ := http.NewRequest("POST", base+"/"+tc.query, bytes.NewReader(frames))
		req.Header.Set("Content-Encoding", "zstd")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.wantStatus || string(body) != tc.wantBody {
			t.Errorf("POST /%s: %d %q, want %d %q", tc.query, resp.StatusCode, body, tc.wantStatus, tc.wantBody)
		}
	}
}
