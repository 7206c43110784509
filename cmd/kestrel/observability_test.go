package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runCommand runs the command in-process until the test ends and returns
// its base URL and its output.
func runCommand(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var log syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, nil, &log) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run returned %v", err)
		}
	})
	return waitListening(t, log.String), &log
}

func fetch(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// waitOutput waits until the output matches re.
func waitOutput(t *testing.T, log *syncBuffer, re *regexp.Regexp) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !re.MatchString(log.String()); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no match for %s in:\n%s", re, log.String())
		}
	}
}

func TestConsoleLogFormat(t *testing.T) {
	t.Parallel()
	url, log := runCommand(t, "--urls", "http://127.0.0.1:0")
	want := regexp.MustCompile(`(?m)^info: Microsoft\.Hosting\.Lifetime\[14\]\n      Now listening on: ` + regexp.QuoteMeta(url) + `\n` +
		`info: Microsoft\.Hosting\.Lifetime\[0\]\n      Application started\. Press Ctrl\+C to shut down\.\n`)
	if !want.MatchString(log.String()) {
		t.Errorf("console output:\n%s", log.String())
	}
}

func TestJSONLogFormatAndAccessLog(t *testing.T) {
	t.Parallel()
	url, log := runCommand(t, "--urls", "http://127.0.0.1:0", "--log-format", "json", "--access-log")
	fetch(t, url+"/plaintext")
	waitOutput(t, log, regexp.MustCompile(`"Category":"AccessLog"`))
	var listening, access bool
	for _, line := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		var e struct {
			Timestamp time.Time
			EventId   int
			LogLevel  string
			Category  string
			Message   string
			State     map[string]any
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %q is not a JSON object: %v", line, err)
		}
		if e.Timestamp.IsZero() || e.LogLevel != "Information" {
			t.Errorf("entry %q", line)
		}
		switch e.Category {
		case "Microsoft.Hosting.Lifetime":
			if e.EventId == 14 && e.Message == "Now listening on: "+url && e.State["address"] == url {
				listening = true
			}
		case "AccessLog":
			// The fields of the text line, each.
			id, _ := e.State["RequestId"].(string)
			_, timed := e.State["StartTime"].(string)
			access = e.State["Method"] == "GET" && e.State["Target"] == "/plaintext" && e.State["StatusCode"] == 200.0 &&
				e.State["ResponseBytes"] == 13.0 && e.State["Protocol"] == "HTTP/1.1" && e.State["Referer"] == "" &&
				e.State["RemoteUser"] == "" && e.State["UserAgent"] == "Go-http-client/1.1" && len(id) == 22 && timed &&
				strings.HasPrefix(fmt.Sprint(e.State["RemoteAddr"]), "127.0.0.1:")
		}
	}
	if !listening || !access {
		t.Errorf("listening %v, access %v in:\n%s", listening, access, log.String())
	}
}

// TestAccessLogConsole checks the combined-format lines, for the demo's
// native paths too (which the access log takes off the native path).
func TestAccessLogConsole(t *testing.T) {
	t.Parallel()
	url, log := runCommand(t, "--urls", "http://127.0.0.1:0", "--access-log")
	fetch(t, url+"/plaintext")
	fetch(t, url+"/missing")
	waitOutput(t, log, regexp.MustCompile(`(?m)^127\.0\.0\.1 - - \[[^\]]+\] "GET /plaintext HTTP/1\.1" 200 13 "-" "Go-http-client/1\.1" \d+\.\d{6} \w{13}:\w{8}$`))
	waitOutput(t, log, regexp.MustCompile(`(?m)^127\.0\.0\.1 - - \[[^\]]+\] "GET /missing HTTP/1\.1" 404 \d+ "-" "Go-http-client/1\.1" \d+\.\d{6} \w{13}:\w{8}$`))
}

// TestLogDefaults: without --access-log no request is logged, and at the
// default level (info) connection events stay out; --log-level debug
// shows them, as Kestrel's Debug ConnectionStart and ConnectionStop.
func TestLogDefaults(t *testing.T) {
	t.Parallel()
	url, log := runCommand(t, "--urls", "http://127.0.0.1:0")
	fetch(t, url+"/plaintext")
	fetch(t, url+"/missing")
	time.Sleep(200 * time.Millisecond) // an access line would be written by now
	if out := log.String(); strings.Contains(out, "GET /plaintext") || strings.Contains(out, "dbug:") {
		t.Errorf("default output has an access line or a Debug event:\n%s", out)
	}

	url, log = runCommand(t, "--urls", "http://127.0.0.1:0", "--log-level", "debug")
	fetch(t, url+"/plaintext")
	waitOutput(t, log, regexp.MustCompile(`(?m)^dbug: Microsoft\.AspNetCore\.Server\.Kestrel\.Connections\[1\]\n {6}Connection id "[0-9A-V]{13}" started\.$`))
	if strings.Contains(log.String(), "GET /plaintext") {
		t.Errorf("an access line without --access-log:\n%s", log.String())
	}
}

func TestObservabilityFlagErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-format", "xml"}, `--log-format "xml": use console or json`},
		{[]string{"--pprof"}, "--pprof needs --metrics"},
		{[]string{"--metrics", "https://127.0.0.1:9464"}, "want an http:// URL"},
		{[]string{"--metrics", "127.0.0.1:9464"}, "want an http:// URL"},
		{[]string{"--metrics", "http://127.0.0.1:0/a/../metrics"}, `--metrics "http://127.0.0.1:0/a/../metrics": want a clean path such as /metrics`},
		{[]string{"--metrics", "http://127.0.0.1:0/a//metrics"}, "want a clean path"},
	} {
		var log syncBuffer
		err := run(context.Background(), append([]string{"--urls", "http://127.0.0.1:0"}, c.args...), nil, &log)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.args, err, c.want)
		}
	}
}
