package staticfiles_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/kestrel-go/kestrel/staticfiles"
)

// TestLargeFiles serves sparse files at the sizes where 32-bit offsets and
// lengths end (2 GiB, 4 GiB) and past them, and compares every answer with
// net/http's FileServer on the same files: HEAD, ranges past 4 GiB, suffix
// and open-ended ranges, If-Range with either validator. On 32-bit Linux,
// a file of 2 GiB or more needs O_LARGEFILE to open at all.
func TestLargeFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sizes := map[string]int64{"2g-1": 1<<31 - 1, "2g": 1 << 31, "4g+1": 1<<32 + 1, "5g": 5<<30 + 123}
	for name, size := range sizes {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		// Markers either side of 2 GiB and 4 GiB and at the end; the rest
		// is a hole, so no test writes gigabytes.
		for _, at := range []int64{1<<31 - 4, 1<<32 - 4, size - 6} {
			if at >= 0 && at+8 <= size {
				if _, err := f.WriteAt([]byte("<mark!>"), at); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	base := serve(t, dir, staticfiles.Options{})
	ref := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(ref.Close)

	type answer struct {
		status        int
		length        int64
		contentRange  string
		body          string
		acceptsRanges string
	}
	get := func(method, url string, header ...string) answer {
		t.Helper()
		req, err := http.NewRequest(method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		req.Header.Set("Accept-Encoding", "identity")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		a := answer{status: resp.StatusCode, length: resp.ContentLength, contentRange: resp.Header.Get("Content-Range"), acceptsRanges: resp.Header.Get("Accept-Ranges")}
		if resp.ContentLength <= 1<<10 {
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("%s %s %q: %v", method, url, header, err)
			}
			a.body = string(b)
		}
		return a
	}
	for name, size := range sizes {
		for _, tc := range []struct {
			method string
			header []string
		}{
			{"HEAD", nil},
			{"GET", []string{"Range", "bytes=2147483640-2147483650"}},
			{"GET", []string{"Range", "bytes=4294967290-4294967300"}},
			{"GET", []string{"Range", "bytes=-10"}},
			{"GET", []string{"Range", "bytes=" + itoa(size-10) + "-"}},
			{"GET", []string{"Range", "bytes=" + itoa(size) + "-"}},
			{"GET", []string{"Range", "bytes=" + itoa(size-1) + "-" + itoa(size-1)}},
			{"GET", []string{"Range", "bytes=0-0,4294967295-4294967296"}},
			{"GET", []string{"Range", "bytes=4294967290-4294967300", "If-Range", "\"x\""}},
		} {
			want := get(tc.method, ref.URL+"/"+name, tc.header...)
			got := get(tc.method, base+"/"+name, tc.header...)
			if want.status == http.StatusPartialContent && want.contentRange == "" {
				// Multipart: the boundaries differ, not the parts' count.
				want.length, got.length, want.body, got.body = 0, 0, "", ""
			}
			if want.status >= 400 && got.status == want.status {
				// The error's text, and Accept-Ranges beside it, are each
				// server's own; the status and Content-Range are not.
				want.length, want.body, want.acceptsRanges = got.length, got.body, got.acceptsRanges
			}
			if got != want {
				t.Errorf("%s of %s (%d bytes) %q:\n got %+v\nwant %+v (net/http)", tc.method, name, size, tc.header, got, want)
			}
		}
		// If-Range with each server's own validators: the range.
		for _, url := range []string{ref.URL + "/" + name, base + "/" + name} {
			head := func() *http.Response {
				resp, err := client.Head(url)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp
			}()
			for _, v := range []string{head.Header.Get("ETag"), head.Header.Get("Last-Modified")} {
				if v == "" {
					continue
				}
				if a := get("GET", url, "Range", "bytes=-10", "If-Range", v); a.status != http.StatusPartialContent || a.length != 10 {
					t.Errorf("%s: If-Range %s: %+v, want 206 of 10 bytes", url, v, a)
				}
			}
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
