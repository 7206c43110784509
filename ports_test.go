package kestrel

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kestrel-go/kestrel/logging"
)

// urlPort is the port of an address Addresses reports.
func urlPort(t *testing.T, addr string) string {
	t.Helper()
	u, err := url.Parse(addr)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

// getVia GETs / from the address's port on 127.0.0.1, over TLS for
// https, and returns the body.
func getVia(t *testing.T, addr string) string {
	t.Helper()
	u, _ := url.Parse(addr)
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(u.Scheme + "://127.0.0.1:" + u.Port() + "/")
	if err != nil {
		t.Fatalf("GET %s: %v", addr, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestPorts: UsePorts (HTTP_PORTS and HTTPS_PORTS) under each precedence
// ASP.NET Core documents, with its log lines: alone, the ports bind every
// address, HTTP and HTTPS (with the default certificate); URLs win over
// them with PortsOverridenByUrls; endpoints from code or from the
// configuration win over both, with OverridingAddresses naming what they
// override.
func TestPorts(t *testing.T) {
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	const portsWarning = "Overriding HTTP_PORTS '0;0' and HTTPS_PORTS '0'. Binding to values defined by URLS instead 'http://127.0.0.1:0'."
	for _, tc := range []struct {
		name       string
		setup      func(t *testing.T, s *Server)
		want       []string // the addresses' prefixes, in order
		wantEvents []string // the warnings, in order
	}{
		{"HTTP_PORTS alone", func(t *testing.T, s *Server) {
			mustNil(t, s.UsePorts("0; 0;", ""))
		}, []string{"http://", "http://"}, nil},
		{"HTTPS_PORTS alone, with the default certificate", func(t *testing.T, s *Server) {
			mustNil(t, s.UsePorts("", "0"))
		}, []string{"https://"}, nil},
		{"both, HTTP first", func(t *testing.T, s *Server) {
			mustNil(t, s.UsePorts("0", "0"))
		}, []string{"http://", "https://"}, nil},
		{"URLS win", func(t *testing.T, s *Server) {
			mustNil(t, s.UsePorts("0;0", "0"))
			mustNil(t, s.UseURLs("http://127.0.0.1:0"))
		}, []string{"http://127.0.0.1:"}, []string{portsWarning}},
		{"an endpoint in code wins", func(t *testing.T, s *Server) {
			mustNil(t, s.UsePorts("0", ""))
			mustNil(t, s.Listen("127.0.0.1:0"))
		}, []string{"http://127.0.0.1:"}, []string{
			"Overriding address(es) 'http://*:0'. Binding to endpoints defined in code or the configuration file instead."}},
		{"the configuration's endpoints win over URLS and ports", func(t *testing.T, s *Server) {
			mustNil(t, s.UsePorts("0;0", "0"))
			mustNil(t, s.UseURLs("http://127.0.0.1:0"))
			cfg, err := ParseConfig([]byte(`{"Kestrel": {"Endpoints": {"Http": {"Url": "http://127.0.0.1:0"}}}}`), "appsettings.json", nil, nil)
			mustNil(t, err)
			mustNil(t, cfg.Apply(s))
		}, []string{"http://127.0.0.1:"}, []string{portsWarning,
			"Overriding address(es) 'http://127.0.0.1:0'. Binding to endpoints defined in code or the configuration file instead."}},
		{"empty ports are none", func(t *testing.T, s *Server) {
			mustNil(t, s.UsePorts("", ""))
			mustNil(t, s.UseURLs("http://127.0.0.1:0"))
		}, []string{"http://127.0.0.1:"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, log := newLogRecorder(slog.LevelWarn)
			s := &Server{Handler: hello, Logger: log, DefaultHTTPS: &HTTPS{Certificate: cert}}
			tc.setup(t, s)
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			addrs := s.Addresses()
			if len(addrs) != len(tc.want) {
				t.Fatalf("addresses %v, want %d like %v", addrs, len(tc.want), tc.want)
			}
			for i, a := range addrs {
				if !strings.HasPrefix(a, tc.want[i]) || urlPort(t, a) == "0" {
					t.Errorf("address %d: %s, want %s...", i, a, tc.want[i])
				}
				if tc.want[i] == "http://" || tc.want[i] == "https://" {
					// Every address: the port answers on 127.0.0.1.
					if strings.HasPrefix(a, tc.want[i]+"127.0.0.1:") || strings.HasPrefix(a, tc.want[i]+"localhost:") {
						t.Errorf("address %d: %s binds loopback only, want every address", i, a)
					}
				}
				if body := getVia(t, a); body != "hello" {
					t.Errorf("GET %s: %q", a, body)
				}
			}
			var got []string
			for _, e := range rec.events("") {
				if e.level == slog.LevelWarn && strings.HasPrefix(e.msg, "Overriding") {
					got = append(got, e.msg)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.wantEvents, "\n") {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.wantEvents, "\n"))
			}
			for _, e := range rec.events("PortsOverridenByUrls") {
				if e.attrs[logging.CategoryKey] != "Microsoft.AspNetCore.Hosting.Diagnostics" || e.attrs[logging.EventIDKey] != "15" {
					t.Errorf("PortsOverridenByUrls: category %q, id %q; want ASP.NET's Microsoft.AspNetCore.Hosting.Diagnostics[15]", e.attrs[logging.CategoryKey], e.attrs[logging.EventIDKey])
				}
			}
		})
	}
	// Bad ports name the setting and the fix.
	for _, bad := range []struct{ http, https, want string }{
		{"8080;x", "", `HTTP_PORTS "8080;x": "x" is not a port number; use port numbers separated by semicolons, such as 8080;8081`},
		{"", "70000", `HTTPS_PORTS "70000": "70000" is not a port number`},
		{"http://*:80", "", `"http://*:80" is not a port number`},
		{"-1", "", `"-1" is not a port number`},
	} {
		if err := (&Server{}).UsePorts(bad.http, bad.https); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("UsePorts(%q, %q): %v, want an error containing %s", bad.http, bad.https, err, bad.want)
		}
	}
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestPortsReload: the ports follow the URLs' rule through Reload: a
// configuration that gains its first endpoint stops them (naming them as
// overridden), and one that loses it binds them again, as a restart with
// the same file would.
func TestPortsReload(t *testing.T) {
	rec, log := newLogRecorder(slog.LevelWarn)
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }), Logger: log}
	mustNil(t, s.UsePorts("0", ""))
	mustNil(t, parseTestConfig(t, `{"Kestrel": {}}`).Apply(s))
	mustNil(t, s.Start())
	defer s.Close()
	if a := s.Addresses(); len(a) != 1 || strings.HasPrefix(a[0], "http://127.0.0.1:") || getVia(t, a[0]) != "hello" {
		t.Fatalf("with the ports: %v", a)
	}
	reloadJSON(t, s, `{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}}}}`)
	if a := s.Addresses(); len(a) != 1 || !strings.HasPrefix(a[0], "http://127.0.0.1:") {
		t.Errorf("after a reload that adds an endpoint: %v, want the endpoint alone", a)
	}
	if ev := rec.events("OverridingAddresses"); len(ev) != 1 || !strings.Contains(ev[0].msg, "'http://*:0'") {
		t.Errorf("OverridingAddresses events: %v", ev)
	}
	reloadJSON(t, s, `{"Kestrel": {}}`)
	if a := s.Addresses(); len(a) != 1 || strings.HasPrefix(a[0], "http://127.0.0.1:") || getVia(t, a[0]) != "hello" {
		t.Errorf("after a reload that removes it: %v, want the ports again", a)
	}
}

// TestPortsDuplicated: a port listed twice is a clear error from UsePorts,
// rather than "address already in use" from Start; port 0 may repeat.
func TestPortsDuplicated(t *testing.T) {
	for _, tc := range []struct {
		http, https, want string
	}{
		{"8080;8080", "", `kestrel: HTTP_PORTS "8080;8080": port 8080 is listed twice; list each port once`},
		{"8080; 08080", "", `kestrel: HTTP_PORTS "8080; 08080": port 8080 is listed twice; list each port once`},
		{"", "8443;8443", `kestrel: HTTPS_PORTS "8443;8443": port 8443 is listed twice; list each port once`},
		{"8080", "8081;8080", `kestrel: port 8080 is in both HTTP_PORTS "8080" and HTTPS_PORTS "8081;8080"; give HTTP and HTTPS a port each`},
		{"0;0", "0", ""},
		{";", "", ""},
	} {
		s := &Server{}
		err := s.UsePorts(tc.http, tc.https)
		if got := fmt.Sprint(err); tc.want == "" && err != nil || tc.want != "" && got != tc.want {
			t.Errorf("UsePorts(%q, %q) = %v, want %q", tc.http, tc.https, err, tc.want)
		}
	}
}
