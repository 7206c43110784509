package main

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestURLsAgainstFileOnReload: --urls serve while the configuration file
// has no endpoints; when a change gives the file endpoints, only those
// serve, as a restart with the same file and flags would; when they go
// again, the URLs serve again.
func TestURLsAgainstFileOnReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "appsettings.json")
	fromURLs, fromFile := filepath.Join(dir, "urls.sock"), filepath.Join(dir, "file.sock")
	const noEndpoints = `{"Kestrel": {"Limits": {"MaxRequestBodySize": 1000}}}`
	withEndpoint := `{"Kestrel": {"Endpoints": {"File": {"Url": "unix:` + fromFile + `"}}}}`
	writeConfig(t, file, noEndpoints)
	ctx, cancel := context.WithCancel(context.Background())
	var log syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--config", file, "--urls", "unix:" + fromURLs}, nil, &log) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitListening(t, log.String)
	serves := func(sock string) bool {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", sock)
			}}}
		resp, err := c.Get("http://localhost/plaintext")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	reloads := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); strings.Count(log.String(), "Configuration reloaded") < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("reload %d never happened:\n%s", n, log.String())
			}
		}
	}
	if !serves(fromURLs) {
		t.Fatalf("at start, with no endpoints in the file, --urls does not serve:\n%s", log.String())
	}

	time.Sleep(pollWait) // a new modification time, seen by the next poll
	writeConfig(t, file, withEndpoint)
	reloads(1)
	if serves(fromURLs) || !serves(fromFile) {
		t.Errorf("after the file gained an endpoint: --urls serves %v, the file's endpoint %v; want only the file's, as a restart serves", serves(fromURLs), serves(fromFile))
	}
	if !strings.Contains(log.String(), "Overriding address(es) 'unix:"+fromURLs+"'") {
		t.Errorf("no warning that the file's endpoints override --urls:\n%s", log.String())
	}

	time.Sleep(pollWait)
	writeConfig(t, file, noEndpoints)
	reloads(2)
	if !serves(fromURLs) || serves(fromFile) {
		t.Errorf("after the file lost its endpoints: --urls serves %v, the file's endpoint %v; want only --urls", serves(fromURLs), serves(fromFile))
	}
}

// pollWait is longer than the library's configuration-file poll (250 ms),
// so that a rewritten file has a new modification time and is seen.
const pollWait = 300 * time.Millisecond
