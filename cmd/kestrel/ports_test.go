package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runLogged runs the command in-process with environ, waits until it
// listens, and returns its log.
func runLogged(t *testing.T, args, environ []string) *syncBuffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := new(syncBuffer)
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, environ, log) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run returned %v", err)
		}
	})
	waitListening(t, log.String)
	return log
}

var listeningAll = regexp.MustCompile(`Now listening on: (\S+)`)

// TestHTTPPorts: the command reads HTTP_PORTS as ASP.NET Core 8 does, from
// KESTREL_, ASPNETCORE_ or DOTNET_ variables or --http-ports, and logs
// the precedence: URLs win with ASP.NET's warning, the file's endpoints
// win over both.
func TestHTTPPorts(t *testing.T) {
	dir := t.TempDir()
	withEndpoint := filepath.Join(dir, "appsettings.json")
	writeConfig(t, withEndpoint, `{"Kestrel": {"Endpoints": {"File": {"Url": "http://127.0.0.1:0"}}}}`)
	const portsWarning = "warn: Microsoft.AspNetCore.Hosting.Diagnostics[15]\n      Overriding HTTP_PORTS '0' and HTTPS_PORTS ''. Binding to values defined by URLS instead 'http://127.0.0.1:0'."
	const urlsOverridden = "Overriding address(es) 'http://127.0.0.1:0'. Binding to endpoints defined in code or the configuration file instead."
	const portsOverridden = "Overriding address(es) 'http://*:0'. Binding to endpoints defined in code or the configuration file instead."
	for _, tc := range []struct {
		name      string
		args, env []string
		loopback  bool     // bound to 127.0.0.1 (the URL or the file), not every address
		want      []string // in the log
		notWant   []string
	}{
		{"ASPNETCORE_HTTP_PORTS", nil, []string{"ASPNETCORE_HTTP_PORTS=0"}, false, nil, []string{"Overriding"}},
		{"DOTNET_HTTP_PORTS", nil, []string{"DOTNET_HTTP_PORTS=0"}, false, nil, []string{"Overriding"}},
		{"KESTREL_ over ASPNETCORE_", nil, []string{"ASPNETCORE_HTTP_PORTS=x", "KESTREL_HTTP_PORTS=0"}, false, nil, nil},
		{"--http-ports over the environment", []string{"--http-ports", "0"}, []string{"ASPNETCORE_HTTP_PORTS=x"}, false, nil, nil},
		{"ASPNETCORE_URLS win", nil, []string{"ASPNETCORE_HTTP_PORTS=0", "ASPNETCORE_URLS=http://127.0.0.1:0"}, true, []string{portsWarning}, nil},
		{"--urls win", []string{"--urls", "http://127.0.0.1:0"}, []string{"ASPNETCORE_HTTP_PORTS=0"}, true, []string{portsWarning}, nil},
		{"the file wins over the ports", []string{"--config", withEndpoint}, []string{"ASPNETCORE_HTTP_PORTS=0"}, true, []string{portsOverridden}, []string{"HTTP_PORTS '"}},
		{"the file wins over both", []string{"--config", withEndpoint, "--urls", "http://127.0.0.1:0"}, []string{"ASPNETCORE_HTTP_PORTS=0"}, true, []string{portsWarning, urlsOverridden}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := runLogged(t, tc.args, tc.env)
			m := listeningAll.FindAllStringSubmatch(log.String(), -1)
			if len(m) != 1 {
				t.Fatalf("listening on %v, want one address:\n%s", m, log)
			}
			u, _ := url.Parse(m[0][1])
			if (u.Hostname() == "127.0.0.1") != tc.loopback {
				t.Errorf("listening on %s; want loopback only: %v", u, tc.loopback)
			}
			resp, err := http.Get("http://127.0.0.1:" + u.Port() + "/plaintext")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "Hello, World!" {
				t.Errorf("GET /plaintext: %q", body)
			}
			for _, w := range tc.want {
				if !strings.Contains(log.String(), w) {
					t.Errorf("the log lacks %q:\n%s", w, log)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(log.String(), w) {
					t.Errorf("the log has %q:\n%s", w, log)
				}
			}
		})
	}
	// A bad value names the variable and the fix.
	err := run(context.Background(), nil, []string{"ASPNETCORE_HTTP_PORTS=8080;http"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `HTTP_PORTS "8080;http": "http" is not a port number; use port numbers separated by semicolons, such as 8080;8081 (from ASPNETCORE_HTTP_PORTS)`) {
		t.Errorf("ASPNETCORE_HTTP_PORTS=8080;http: %v", err)
	}
	// So does a bad URL, from the flag or either variable.
	for _, tc := range []struct {
		args, env []string
		want      string
	}{
		{nil, []string{"ASPNETCORE_URLS=http://localhost:5000/app"}, "a path base is not supported"},
		{nil, []string{"KESTREL_URLS=http://::1:5000", "ASPNETCORE_URLS=http://x:1"}, "an IPv6 address goes in brackets"},
		{[]string{"--urls", "ftp://localhost:5000"}, []string{"KESTREL_URLS=http://x:1"}, "unsupported scheme"},
	} {
		from := "--urls"
		if tc.args == nil {
			from, _, _ = strings.Cut(tc.env[0], "=")
		}
		err := run(context.Background(), tc.args, tc.env, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasSuffix(err.Error(), "(from "+from+")") {
			t.Errorf("%v %v: %v; want %q, from %s", tc.args, tc.env, err, tc.want, from)
		}
	}
}

// TestCommandLineEdges: command lines an operator gets wrong fail at once,
// naming the flag and the fix, before anything starts: an empty --root
// (an unset variable in a unit file) does not serve the demo app, the
// status page may not hide the health checks, and dev-certs takes no
// words (dotnet's "dev-certs https --clean" habit).
func TestCommandLineEdges(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	for _, tc := range []struct {
		args  []string
		want  string
		usage bool     // exit status 2: a command line it cannot parse
		env   []string // the environment, for configuration keys
	}{
		{[]string{"--root", "", "--urls", "http://127.0.0.1:0"}, `--root "": name the folder to serve`, false, nil},
		{[]string{"--health", "/x", "--status", "/x", "--urls", "http://127.0.0.1:0"}, `--status "/x": the health checks answer there`, false, nil},
		{[]string{"--health", "/x", "--status", "/x/live", "--urls", "http://127.0.0.1:0"}, `--status "/x/live": the health checks answer there`, false, nil},
		{[]string{"--health", "/x/", "--status", "/x", "--urls", "http://127.0.0.1:0"}, `--status "/x": the health checks answer there`, false, nil},
		{[]string{"--health", "//", "--urls", "http://127.0.0.1:0"}, `--health "//": use a path beginning with /`, false, nil},
		{[]string{"--health", "/x", "--urls", "http://127.0.0.1:0"}, `Kestrel:Status:Path "/x/live": the health checks answer there`, false, []string{"Kestrel__Status__Path=/x/live"}},
		{[]string{"dev-certs", "https", "--clean"}, `unexpected argument "https"`, true, nil},
		{[]string{"dev-certs", "check"}, `unexpected argument "check"`, true, nil},
		{[]string{"--urls", "http://127.0.0.1:0;http://127.0.0.1:0"}, `URL "http://127.0.0.1:0" is listed twice`, false, nil},
		{[]string{"--metrics", "http://" + taken, "--urls", "http://127.0.0.1:0"}, "--metrics: failed to bind to http://" + taken, false, nil},
	} {
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a command line taken would serve until then
		err := run(ctx, tc.args, tc.env, &out)
		cancel()
		if err == nil || tc.usage != errors.Is(err, errUsage) || !strings.Contains(err.Error()+out.String(), tc.want) || strings.Contains(strings.TrimPrefix(err.Error(), "kestrel: "), "kestrel:") { // main prints "kestrel:" once
			t.Errorf("%q: %v (usage %v)\n%s\nwant %q", tc.args, err, errors.Is(err, errUsage), out.String(), tc.want)
		}
	}
}
