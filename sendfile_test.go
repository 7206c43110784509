package kestrel

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSendfile checks that a file copied into the response (io.Copy from
// an *os.File, http.ServeContent's *io.SectionReader, an io.LimitReader)
// goes out with sendfile on plain TCP, exactly, and through the buffered
// copy under TLS.
func TestSendfile(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 3<<20+123)
	rand.Read(data)
	path := filepath.Join(dir, "f.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/copy", func(w http.ResponseWriter, r *http.Request) {
		f, _ := os.Open(path)
		defer f.Close()
		io.Copy(w, f)
	})
	mux.HandleFunc("/serve", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, path) // a *io.SectionReader for ranges
	})
	mux.HandleFunc("/limit", func(w http.ResponseWriter, r *http.Request) {
		f, _ := os.Open(path)
		defer f.Close()
		f.Seek(1000, io.SeekStart)
		io.Copy(w, io.LimitReader(f, 1<<20))
	})
	pki := newTestPKI(t)
	cert, key := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	plain := &Server{Handler: mux}
	addr := startServer(t, plain)
	secure := &Server{Handler: mux, Logger: quietLogger}
	secure.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", HTTPS: &HTTPS{CertificateFile: cert, KeyFile: key}, Protocols: HTTP1})
	if err := secure.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { secure.Close() })
	saddr := strings.TrimPrefix(secure.Addresses()[0], "https://")

	client := newClient(t)
	tlsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}}}
	check := func(c *http.Client, url string, rangeHeader string, want []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if rangeHeader != "" {
			req.Header.Set("Range", rangeHeader)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || !bytes.Equal(b, want) {
			t.Fatalf("%s %s: %d bytes (%v), want %d", url, rangeHeader, len(b), err, len(want))
		}
	}
	sent := func() int64 { return plain.listeners[0].cfg.SentFile.Load() }
	before := sent()
	check(client, "http://"+addr+"/copy", "", data)
	check(client, "http://"+addr+"/serve", "", data)
	check(client, "http://"+addr+"/serve", "bytes=100000-2000000", data[100000:2000001])
	check(client, "http://"+addr+"/limit", "", data[1000:1000+1<<20])
	onTCP := sent() - before
	if runtime.GOOS == "linux" {
		// Every body here is a file larger than ReadFrom copies: sent
		// whole with sendfile after the head.
		want := int64(2*len(data) + 1900001 + 1<<20)
		if onTCP != want {
			t.Errorf("sendfile sent %d bytes on TCP, want %d", onTCP, want)
		}
	}
	check(tlsClient, "https://localhost:"+saddr[strings.LastIndexByte(saddr, ':')+1:]+"/copy", "", data)
	if n := secure.listeners[0].cfg.SentFile.Load(); n != 0 {
		t.Errorf("sendfile sent %d bytes under TLS", n)
	}

	// HTTP/2 streams (h2c on the same plain endpoint) take the buffered
	// copy: their bytes go out in DATA frames.
	before = sent()
	check(h2cClient(t), "http://"+addr+"/copy", "", data)
	check(h2cClient(t), "http://"+addr+"/serve", "bytes=100000-2000000", data[100000:2000001])
	if n := sent() - before; n != 0 {
		t.Errorf("sendfile sent %d bytes on HTTP/2 streams", n)
	}

	// Unix sockets take the zero-copy path as TCP does.
	sock := filepath.Join(dir, "app.sock")
	unix := &Server{Handler: mux, Logger: quietLogger}
	unix.ListenEndpoint(Endpoint{UnixPath: sock})
	if err := unix.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close() })
	unixClient := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	t.Cleanup(unixClient.CloseIdleConnections)
	check(unixClient, "http://app/copy", "", data)
	check(unixClient, "http://app/serve", "bytes=100000-2000000", data[100000:2000001])
	if n := unix.listeners[0].cfg.SentFile.Load(); runtime.GOOS == "linux" && n != int64(len(data)+1900001) {
		t.Errorf("sendfile sent %d bytes on a Unix socket, want %d", n, len(data)+1900001)
	}
}

// TestSendfileSharedFileSlowClient: one open file served to many clients
// at once (an *io.SectionReader over it, as staticfiles and handlers that
// cache open files do) is not held by a client that stops reading: the
// others get the file meanwhile. sendfile held the file's read lock while
// it waited for the slow client's socket, so every other response of
// that file waited behind it, until the slow client's minimum data rate
// ran out (hours for a large file at the default rate).
func TestSendfileSharedFileSlowClient(t *testing.T) {
	t.Parallel()
	data := make([]byte, 16<<20)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		io.Copy(w, io.NewSectionReader(f, 0, int64(len(data))))
	})
	addr := startServer(t, &Server{Handler: h})

	// The slow client: a small receive window, and it reads nothing.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { setReceiveBuffer(fd, 4096) })
	}}
	slow, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	io.WriteString(slow, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(100 * time.Millisecond) // its sendfile waits for the socket

	c := &http.Client{Timeout: 3 * time.Second}
	for i := range 2 {
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			t.Fatalf("request %d while a client of the same file reads nothing: %v", i, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("request %d: %d bytes, %v", i, len(got), err)
		}
	}
}

// TestSendfileMinResponseDataRate: a client that reads nothing of a large
// file sent with sendfile is cut off by the minimum response data rate
// within about the grace period, as with any other response: each wait
// for its socket is timed for the bytes put in it, not for the whole file
// at once (256 MiB at 1 MiB/s gave it over four minutes).
func TestSendfileMinResponseDataRate(t *testing.T) {
	t.Parallel()
	const size = 256 << 20
	path := filepath.Join(t.TempDir(), "big.bin")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil { // sparse: sendfile reads zeros
		t.Fatal(err)
	}
	defer f.Close()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		io.Copy(w, io.NewSectionReader(f, 0, size))
	})
	addr := startServer(t, &Server{Handler: h, Limits: Limits{
		MinResponseDataRate: &DataRate{BytesPerSecond: 1 << 20, GracePeriod: 1500 * time.Millisecond},
	}})
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { setReceiveBuffer(fd, 4096) })
	}}
	slow, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	io.WriteString(slow, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(4 * time.Second) // it reads nothing: past the grace period and the heartbeat's slack

	// The server has given up: reading what is queued ends, short of the
	// file, rather than waiting for more.
	start := time.Now()
	slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.Copy(io.Discard, slow)
	if err == nil && n >= size {
		t.Fatalf("the whole file came (%d bytes)", n)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("after %v the connection is still open: %d bytes read, the server still sending", time.Since(start), n)
	}
}
