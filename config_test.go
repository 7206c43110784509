package kestrel

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestConfigSetsEveryLimit sets every Kestrel:Limits key from a file and
// from the environment, and checks each reaches Server.Limits.
func TestConfigSetsEveryLimit(t *testing.T) {
	file := []byte(`{"Kestrel": {"Limits": {
		"MaxConcurrentConnections": 100,
		"MaxConcurrentUpgradedConnections": 10,
		"MaxRequestBodySize": 1048576,
		"MaxRequestBufferSize": 2097152,
		"MaxResponseBufferSize": 131072,
		"MaxRequestLineSize": 4096,
		"MaxRequestHeadersTotalSize": 16384,
		"MaxRequestHeaderCount": 50,
		"KeepAliveTimeout": "00:01:00",
		"RequestHeadersTimeout": "10s",
		"MinRequestBodyDataRate": {"BytesPerSecond": 100, "GracePeriod": "00:00:10"},
		"MinResponseDataRate": null,
		"Http2": {"MaxStreamsPerConnection": 50, "HeaderTableSize": 0, "MaxFrameSize": 32768,
		          "MaxRequestHeaderFieldSize": 8192, "InitialConnectionWindowSize": 2097152,
		          "InitialStreamWindowSize": 1048576, "KeepAlivePingDelay": "00:00:30", "KeepAlivePingTimeout": "00:00:10"},
		"Http3": {"MaxRequestHeaderFieldSize": 16384}}}}`)
	env := []string{"Kestrel__Limits__MaxRequestHeaderCount=60", "KESTREL__LIMITS__KEEPALIVETIMEOUT=2m", "Kestrel__Limits__Http2__MaxStreamsPerConnection=60"}
	cfg, err := ParseConfig(file, "kestrel.json", map[string]string{"Kestrel:Limits:MaxRequestHeaderCount": "55"}, env)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{}
	if err := cfg.Apply(s); err != nil {
		t.Fatal(err)
	}
	want := Limits{
		MaxConcurrentConnections:         100,
		MaxConcurrentUpgradedConnections: 10,
		MaxRequestBodySize:               1048576,
		MaxRequestBufferSize:             2097152,
		MaxResponseBufferSize:            131072,
		MaxRequestLineSize:               4096,
		MaxRequestHeadersTotalSize:       16384,
		MaxRequestHeaderCount:            60, // the environment wins over the override and the file
		KeepAliveTimeout:                 2 * time.Minute,
		RequestHeadersTimeout:            10 * time.Second,
		MinRequestBodyDataRate:           &DataRate{BytesPerSecond: 100, GracePeriod: 10 * time.Second},
		MinResponseDataRate:              NoMinDataRate,
		Http2: Http2Limits{
			MaxStreamsPerConnection:     60, // the environment's
			HeaderTableSize:             NoHeaderTable,
			MaxFrameSize:                32768,
			MaxRequestHeaderFieldSize:   8192,
			InitialConnectionWindowSize: 2097152,
			InitialStreamWindowSize:     1048576,
			KeepAlivePingDelay:          30 * time.Second,
			KeepAlivePingTimeout:        10 * time.Second,
		},
		Http3: Http3Limits{MaxRequestHeaderFieldSize: 16384},
	}
	if !reflect.DeepEqual(s.Limits, want) {
		t.Errorf("limits\n got %+v\nwant %+v", s.Limits, want)
	}
}

// TestConfigZeroAndNullLimits: the file's values are Kestrel's. A body
// limit of 0 allows no body (NoRequestBody, 413 for a request with one),
// null is no limit where Kestrel's property is nullable, and a 0 that
// Kestrel refuses is an error naming the key and the fix, never the
// default in disguise.
func TestConfigZeroAndNullLimits(t *testing.T) {
	for _, tc := range []struct {
		limits string
		check  func(Limits) bool
		err    string
	}{
		{`"MaxRequestBodySize": 0`, func(l Limits) bool { return l.MaxRequestBodySize == NoRequestBody }, ""},
		{`"MaxRequestBodySize": null`, func(l Limits) bool { return l.MaxRequestBodySize == Unlimited }, ""},
		{`"MaxRequestBufferSize": null, "MaxResponseBufferSize": null`, func(l Limits) bool {
			return l.MaxRequestBufferSize == Unlimited && l.MaxResponseBufferSize == Unlimited
		}, ""},
		{`"MaxConcurrentConnections": 0`, func(l Limits) bool { return l.MaxConcurrentConnections == Unlimited }, ""},
		{`"MaxConcurrentUpgradedConnections": 0`, func(l Limits) bool { return l.MaxConcurrentUpgradedConnections == NoUpgrades }, ""}, // Kestrel's 0: no upgrades
		{`"MaxConcurrentUpgradedConnections": null`, func(l Limits) bool { return l.MaxConcurrentUpgradedConnections == Unlimited }, ""},
		{`"Http2": {"HeaderTableSize": 0}`, func(l Limits) bool { return l.Http2.HeaderTableSize == NoHeaderTable }, ""},
		{`"Http2": {"KeepAlivePingDelay": "10675199.02:48:05.4775807"}`, func(l Limits) bool { return l.Http2.KeepAlivePingDelay == 0 }, ""}, // TimeSpan.MaxValue: no pings
		{`"KeepAliveTimeout": "10675199.02:48:05.4775807"`, func(l Limits) bool { return l.KeepAliveTimeout == math.MaxInt64 }, ""},
		// Timeout.InfiniteTimeSpan, which Kestrel's timeouts take for "none".
		{`"KeepAliveTimeout": "-00:00:00.001"`, func(l Limits) bool { return l.KeepAliveTimeout == math.MaxInt64 }, ""},
		{`"RequestHeadersTimeout": "-00:00:00.0010000"`, func(l Limits) bool { return l.RequestHeadersTimeout == math.MaxInt64 }, ""},
		{`"Http2": {"KeepAlivePingDelay": "-00:00:00.001"}`, func(l Limits) bool { return l.Http2.KeepAlivePingDelay == 0 }, ""},
		{`"Http2": {"KeepAlivePingTimeout": "-00:00:00.001"}`, func(l Limits) bool { return l.Http2.KeepAlivePingTimeout == math.MaxInt64 }, ""},
		{`"KeepAliveTimeout": "-00:00:01"`, nil, `Kestrel:Limits:KeepAliveTimeout is -1s; use a positive time, or "-00:00:00.001" (Timeout.InfiniteTimeSpan) for none`},
		{`"RequestHeadersTimeout": "-1ns"`, nil, `Kestrel:Limits:RequestHeadersTimeout is -1ns; use a positive time, or "-00:00:00.001" (Timeout.InfiniteTimeSpan) for none`},
		{`"Http2": {"KeepAlivePingTimeout": "-00:00:02"}`, nil, `Kestrel:Limits:Http2:KeepAlivePingTimeout is -2s; use a positive time`},
		{`"MaxRequestBufferSize": 0`, nil, "Kestrel:Limits:MaxRequestBufferSize is 0; use a positive number of bytes, or null for no limit"},
		// Kestrel's 0, which it takes (writes wait until what they queued
		// has been written): the least buffer the engines can hold.
		{`"MaxResponseBufferSize": 0`, func(l Limits) bool { return l.MaxResponseBufferSize == 1 }, ""},
		{`"MaxRequestLineSize": 0`, nil, "Kestrel:Limits:MaxRequestLineSize is 0; use a positive number, or leave it out for the default"},
		{`"MaxRequestHeadersTotalSize": 0`, nil, "Kestrel:Limits:MaxRequestHeadersTotalSize is 0"},
		{`"MaxRequestHeaderCount": 0`, nil, "Kestrel:Limits:MaxRequestHeaderCount is 0"},
		{`"KeepAliveTimeout": "00:00:00"`, nil, "Kestrel:Limits:KeepAliveTimeout is 0; use a positive time, or leave it out for the default"},
		{`"RequestHeadersTimeout": "0s"`, nil, "Kestrel:Limits:RequestHeadersTimeout is 0"},
		{`"Http2": {"MaxStreamsPerConnection": 0}`, nil, "Kestrel:Limits:Http2:MaxStreamsPerConnection is 0"},
		{`"Http2": {"MaxFrameSize": 0}`, nil, "Kestrel:Limits:Http2:MaxFrameSize is 0"},
		{`"Http2": {"MaxRequestHeaderFieldSize": 0}`, nil, "Kestrel:Limits:Http2:MaxRequestHeaderFieldSize is 0"},
		{`"Http2": {"InitialConnectionWindowSize": 0}`, nil, "Kestrel:Limits:Http2:InitialConnectionWindowSize is 0"},
		{`"Http2": {"InitialStreamWindowSize": 0}`, nil, "Kestrel:Limits:Http2:InitialStreamWindowSize is 0"},
		{`"Http2": {"KeepAlivePingTimeout": "00:00:00"}`, nil, "Kestrel:Limits:Http2:KeepAlivePingTimeout is 0"},
		{`"Http2": {"HeaderTableSize": 4294967295}`, nil, "Kestrel:Limits:Http2:HeaderTableSize is 4294967295; use at most 4294967294 bytes, or 0 for no table"},
		{`"Http3": {"MaxRequestHeaderFieldSize": 0}`, nil, "Kestrel:Limits:Http3:MaxRequestHeaderFieldSize is 0"},
		// The connection age is grpc-go's and nginx's: 0 and the .NET
		// "never" values are none, as a Limits field's zero.
		{`"MaxConnectionAge": "01:00:00", "MaxConnectionAgeGrace": "00:00:30"`, func(l Limits) bool {
			return l.MaxConnectionAge == time.Hour && l.MaxConnectionAgeGrace == 30*time.Second
		}, ""},
		{`"MaxConnectionAge": "00:00:00", "MaxConnectionAgeGrace": null`, func(l Limits) bool { return l.MaxConnectionAge == 0 && l.MaxConnectionAgeGrace == 0 }, ""},
		{`"MaxConnectionAge": null`, func(l Limits) bool { return l.MaxConnectionAge == 0 }, ""},
		{`"MaxConnectionAge": "-00:00:00.001"`, func(l Limits) bool { return l.MaxConnectionAge == 0 }, ""},
		{`"MaxConnectionAge": "10675199.02:48:05.4775807"`, func(l Limits) bool { return l.MaxConnectionAge == 0 }, ""},
		{`"MaxConnectionAge": "-00:00:01"`, nil, "Kestrel:Limits:MaxConnectionAge is -1s; use a positive time, or 0 for none"},
		{`"MaxConnectionAgeGrace": "-5s"`, nil, "Kestrel:Limits:MaxConnectionAgeGrace is -5s"},
		// Negative counts and sizes are errors, as in Kestrel, not Go's
		// Unlimited (-1) or NoRequestBody and NoUpgrades (-2) in disguise;
		// the fix is said in the file's terms (0 and null).
		{`"MaxRequestBodySize": -1`, nil, "Kestrel:Limits:MaxRequestBodySize is -1; use a positive number of bytes, 0 for no body, or null for no limit"},
		{`"MaxRequestBodySize": -2`, nil, "Kestrel:Limits:MaxRequestBodySize is -2; use a positive number of bytes, 0 for no body, or null for no limit"},
		{`"MaxRequestBodySize": -5`, nil, "Kestrel:Limits:MaxRequestBodySize is -5; use a positive number of bytes, 0 for no body, or null for no limit"},
		{`"MaxConcurrentConnections": -1`, nil, "Kestrel:Limits:MaxConcurrentConnections is -1; use a positive number, or null for no limit"},
		{`"MaxConcurrentUpgradedConnections": -1`, nil, "Kestrel:Limits:MaxConcurrentUpgradedConnections is -1; use a positive number, 0 for none, or null for no limit"},
		{`"MaxConcurrentUpgradedConnections": -2`, nil, "Kestrel:Limits:MaxConcurrentUpgradedConnections is -2; use a positive number, 0 for none, or null for no limit"},
		{`"MaxRequestBufferSize": -1`, nil, "Kestrel:Limits:MaxRequestBufferSize is -1; use a positive number of bytes, or null for no limit"},
		{`"MaxResponseBufferSize": -1`, nil, "Kestrel:Limits:MaxResponseBufferSize is -1; use a positive number of bytes, 0 for no buffer, or null for no limit"},
	} {
		t.Run(tc.limits, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(`{"Kestrel": {"Limits": {`+tc.limits+`}}}`), "f.json", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			s := &Server{}
			err = cfg.Apply(s)
			switch {
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			case tc.err != "" && !strings.Contains(err.Error(), "f.json"):
				t.Errorf("error %q does not name the file", err)
			case tc.err == "" && err != nil:
				t.Fatal(err)
			case tc.err == "" && !tc.check(s.Limits):
				t.Errorf("limits %+v", s.Limits)
			}
		})
	}

	// A body limit of 0 answers a request with a body 413, and serves one
	// without.
	cfg, err := ParseConfig([]byte(`{"Kestrel": {"Limits": {"MaxRequestBodySize": 0}}}`), "f.json", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err == nil {
			io.WriteString(w, "ok")
		}
	})}
	if err := cfg.Apply(s); err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, s)
	for body, want := range map[string]int{"": 200, "x": 413} {
		resp, err := http.Post("http://"+addr+"/", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("a body of %d bytes under a limit of 0: %d, want %d", len(body), resp.StatusCode, want)
		}
	}
}

func TestConfigEndpointsAndCertificates(t *testing.T) {
	// Relative certificate paths resolve against the file's folder (the
	// content root), absolute ones stay.
	dir := t.TempDir()
	in := func(name string) string { return filepath.Join(dir, name) }
	cfg, err := ParseConfig([]byte(`{"Kestrel": {
		"Endpoints": {
			"Http": {"Url": "http://127.0.0.1:0", "Protocols": "Http1"},
			"Https": {"Url": "https://127.0.0.1:0", "Certificate": {"Path": "site.pfx", "Password": "pw"},
			          "SslProtocols": ["Tls13"], "ClientCertificateMode": "RequireCertificate"},
			"Sni": {"Url": "https://127.0.0.1:0", "Sni": {"*.example.com": {"Certificate": {"Path": "w.crt", "KeyPath": "/etc/ssl/w.key"}}}}},
		"Certificates": {"Default": {"Path": "certs/default.crt", "KeyPath": "default.key"}}}}`), in("kestrel.json"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{}
	if err := cfg.Apply(s); err != nil {
		t.Fatal(err)
	}
	cfg, err = ParseConfig([]byte(`{"Kestrel": {"EndpointDefaults": {"SocketMode": "0660"}}}`), "f", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Apply(s); err != nil || s.UnixSocketMode != 0o660 {
		t.Errorf("EndpointDefaults:SocketMode 0660: %v, Server.UnixSocketMode %v", err, s.UnixSocketMode)
	}
	if s.DefaultHTTPS == nil || s.DefaultHTTPS.CertificateFile != in("certs/default.crt") || s.DefaultHTTPS.KeyFile != in("default.key") {
		t.Errorf("default certificate: %+v", s.DefaultHTTPS)
	}
	if len(s.endpoints) != 3 {
		t.Fatalf("%d endpoints, want 3", len(s.endpoints))
	}
	var https, sni *HTTPS
	for _, ep := range s.endpoints {
		if ep.opts.HTTPS != nil && ep.opts.HTTPS.CertificateFile == in("site.pfx") {
			https = ep.opts.HTTPS
		}
		if ep.opts.HTTPS != nil && len(ep.opts.HTTPS.SNI) > 0 {
			sni = ep.opts.HTTPS
		}
	}
	if https == nil || https.Password != "pw" || https.MinVersion != 0x0304 || https.ClientCertificateMode != RequireCertificate {
		t.Errorf("https endpoint options: %+v", https)
	}
	if sni == nil || sni.SNI["*.example.com"].CertificateFile != in("w.crt") || sni.SNI["*.example.com"].KeyFile != "/etc/ssl/w.key" {
		t.Errorf("sni endpoint options: %+v", sni)
	}
	for _, bad := range []struct{ json, want string }{
		{`{"Kestrel": {"Endpoints": {"E": {"Url": "https://x:1", "SslProtocols": ["Tls11"]}}}}`, "SslProtocols"},
		{`{"Kestrel": {"Endpoints": {"E": {"Url": "https://x:1", "ClientCertificateMode": "Sometimes"}}}}`, "ClientCertificateMode"},
		{`{"Kestrel": {"Endpoints": {"E": {"Url": "http://x:1", "Protocols": "Http3"}}}}`, "Protocols"},
		{`{"Kestrel": {"Endpoints": {"E": {"Url": "http://x:1/base"}}}}`, "path base"},
		{`{"Kestrel": {"EndpointDefaults": {"SocketMode": "rw-rw----"}}}`, `Kestrel:EndpointDefaults:SocketMode: "rw-rw----" is not an octal file mode`},
		{`{"Kestrel": {"Endpoints": {"E": {"Url": "unix:/run/a.sock", "SocketMode": "0"}}}}`, `Kestrel:Endpoints:E:SocketMode`},
	} {
		cfg, err := ParseConfig([]byte(bad.json), "f", nil, nil)
		if err == nil {
			err = cfg.Apply(&Server{})
		}
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want an error about %s", bad.json, err, bad.want)
		}
	}
}

// TestConfigSeveralHTTPSEndpoints: three HTTPS endpoints of one file, all
// on https://127.0.0.1:0 — a .pfx, a PEM pair limited to TLS 1.2, and an
// Sni map — each present their own certificate and options, to openssl
// s_client and to Go's tls.Dial; they bind and are logged in the file's
// order, which is not the names' sorted order.
func TestConfigSeveralHTTPSEndpoints(t *testing.T) {
	openssl := needTool(t, "openssl")
	pki := newTestPKI(t)
	pfxCert, pfxKey := pki.issue(t, "pfx-site", false, "pfx.test", "127.0.0.1")
	pfx := filepath.Join(pki.dir, "site.pfx")
	if out, err := exec.Command(openssl, "pkcs12", "-export", "-out", pfx, "-inkey", pfxKey, "-in", pfxCert, "-passout", "pass:pw").CombinedOutput(); err != nil {
		t.Fatalf("openssl pkcs12: %v %s", err, out)
	}
	pemCert, pemKey := pki.issue(t, "localhost", false, "localhost", "127.0.0.1")
	aCert, aKey := pki.issue(t, "a.test", false, "a.test")
	wCert, wKey := pki.issue(t, "wildcard.test", false, "*.test")
	file := filepath.Join(pki.dir, "kestrel.json")
	q := strconv.Quote
	os.WriteFile(file, []byte(`{"Kestrel": {"Endpoints": {
		"Pfx": {"Url": "https://127.0.0.1:0", "Certificate": {"Path": `+q(pfx)+`, "Password": "pw"}},
		"Pem": {"Url": "https://127.0.0.1:0", "Certificate": {"Path": `+q(pemCert)+`, "KeyPath": `+q(pemKey)+`}, "SslProtocols": ["Tls12"]},
		"Sni": {"Url": "https://127.0.0.1:0", "Sni": {
			"a.test": {"Certificate": {"Path": `+q(aCert)+`, "KeyPath": `+q(aKey)+`}},
			"*.test": {"Certificate": {"Path": `+q(wCert)+`, "KeyPath": `+q(wKey)+`}}}}}}}`), 0o644)
	cfg, err := LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	var log lockedBuffer
	s := &Server{Logger: slog.New(slog.NewTextHandler(&log, nil))}
	if err := cfg.Apply(s); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	var logged []string
	for deadline := time.Now().Add(10 * time.Second); len(logged) < 3 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		logged = regexp.MustCompile(`Now listening on: (\S+?)"`).FindAllString(log.String(), -1)
	}
	addrs := s.Addresses()
	if len(addrs) != 3 || len(logged) != 3 {
		t.Fatalf("addresses %v, logged %v; want 3 of each\n%s", addrs, logged, log.String())
	}
	for i, a := range addrs {
		if !strings.Contains(logged[i], a+`"`) {
			t.Errorf("log line %d is %s, want %s (the log follows the bind order)", i, logged[i], a)
		}
	}

	// addrs[i] is the i-th endpoint of the file: Pfx, Pem, Sni.
	subject := regexp.MustCompile(`subject=\s*CN\s*=\s*([^\s,/]+)`)
	for _, tc := range []struct {
		servername string
		want       [3]string // presented by Pfx, Pem, Sni
	}{
		{"a.test", [3]string{"pfx-site", "localhost", "a.test"}},
		{"b.test", [3]string{"pfx-site", "localhost", "wildcard.test"}},
		{"localhost", [3]string{"pfx-site", "localhost", ""}}, // no Sni entry: the handshake fails
	} {
		for i, a := range addrs {
			addr := strings.TrimPrefix(a, "https://")
			cmd := exec.Command(openssl, "s_client", "-connect", addr, "-servername", tc.servername)
			cmd.Stdin = strings.NewReader("")
			out, _ := cmd.CombinedOutput()
			got := ""
			if m := subject.FindSubmatch(out); m != nil {
				got = string(m[1])
			}
			if got != tc.want[i] {
				t.Errorf("openssl s_client -servername %s to endpoint %d (%s): certificate %q, want %q\n%s", tc.servername, i, a, got, tc.want[i], lastLines(string(out), 5))
			}

			// Only which certificate is presented matters, not whether it
			// is valid for the name.
			c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: tc.servername, InsecureSkipVerify: true})
			got = ""
			if err == nil {
				got = c.ConnectionState().PeerCertificates[0].Subject.CommonName
				wantVersion := uint16(tls.VersionTLS13)
				if i == 1 {
					wantVersion = tls.VersionTLS12 // Pem's SslProtocols, not the others'
				}
				if v := c.ConnectionState().Version; v != wantVersion {
					t.Errorf("tls.Dial %s to endpoint %d: TLS version %x, want %x", tc.servername, i, v, wantVersion)
				}
				c.Close()
			}
			if got != tc.want[i] {
				t.Errorf("tls.Dial %s to endpoint %d (%s): certificate %q (%v), want %q", tc.servername, i, a, got, err, tc.want[i])
			}
		}
	}
}

// TestConfigEndpointWithoutURL: every way of writing an endpoint without a
// Url is an error naming the key, never a silently served default.
func TestConfigEndpointWithoutURL(t *testing.T) {
	for _, tc := range []struct {
		json string
		env  []string
	}{
		{`{"Kestrel": {"Endpoints": {"Web": {}}}}`, nil},
		{`{"Kestrel": {"Endpoints": {"Web": null}}}`, nil},
		{`{"Kestrel": {"Endpoints": {"Web": {"Url": null}}}}`, nil},
		{`{"Kestrel": {"Endpoints": {"Web": {"Url": ""}}}}`, nil},
		{`{"Kestrel": {"Endpoints": {"Web": {"Protocols": "Http1"}}}}`, nil},
		{`{"Kestrel": {"Endpoints": {"Web": {"Certificate": {}}}}}`, nil},
		{`{"Kestrel": {}}`, []string{"Kestrel__Endpoints__Web__Protocols=Http1"}},
	} {
		cfg, err := ParseConfig([]byte(tc.json), "kestrel.json", nil, tc.env)
		if err == nil {
			err = cfg.Apply(&Server{Logger: discardLogger()})
		}
		if err == nil || !strings.Contains(err.Error(), "Kestrel:Endpoints:Web:Url is missing") {
			t.Errorf("%s %v: %v, want an error naming Kestrel:Endpoints:Web:Url", tc.json, tc.env, err)
		}
	}
	// An empty object elsewhere is an object without keys, not null: the
	// data rate keeps its default instead of turning off.
	cfg, err := ParseConfig([]byte(`{"Kestrel": {"Limits": {"MinRequestBodyDataRate": {}}}}`), "kestrel.json", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{}
	if err := cfg.Apply(s); err != nil {
		t.Fatal(err)
	}
	if r := s.Limits.MinRequestBodyDataRate; r == nil || r.BytesPerSecond != DefaultMinDataRate {
		t.Errorf("MinRequestBodyDataRate {} = %+v, want the default", r)
	}
}

// TestConfigAllowedHosts: the top-level AllowedHosts of appsettings.json
// is honoured, wins over Kestrel:AllowedHosts (with a warning when they
// differ), and the AllowedHosts environment variable overrides the file;
// Config.Handler applies it.
func TestConfigAllowedHosts(t *testing.T) {
	for _, tc := range []struct {
		json, env, want, warning string
	}{
		{`{"AllowedHosts": "example.com", "Kestrel": {}}`, "", "example.com", ""},
		{`{"Logging": {"LogLevel": {"Default": "Information"}}, "AllowedHosts": "example.com;*.example.com"}`, "", "example.com;*.example.com", ""},
		{`{"Kestrel": {"AllowedHosts": "example.com"}}`, "", "example.com", ""},
		{`{"AllowedHosts": "example.com", "Kestrel": {"AllowedHosts": "other.com"}}`, "", "example.com",
			`AllowedHosts \"example.com\" and Kestrel:AllowedHosts \"other.com\" are both set; using the top-level AllowedHosts`},
		{`{"AllowedHosts": "other.com", "Kestrel": {}}`, "AllowedHosts=example.com", "example.com", ""},
	} {
		var env []string
		if tc.env != "" {
			env = []string{tc.env}
		}
		cfg, err := ParseConfig([]byte(tc.json), "appsettings.json", nil, env)
		if err != nil {
			t.Fatalf("%s: %v", tc.json, err)
		}
		if cfg.AllowedHosts != tc.want {
			t.Errorf("%s %s: AllowedHosts %q, want %q", tc.json, tc.env, cfg.AllowedHosts, tc.want)
		}
		var log lockedBuffer
		if err := cfg.Apply(&Server{Logger: slog.New(slog.NewTextHandler(&log, nil))}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(log.String(), tc.warning) {
			t.Errorf("%s: log %q lacks %q", tc.json, log.String(), tc.warning)
		}
		h, err := cfg.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		if err != nil {
			t.Fatal(err)
		}
		for host, code := range map[string]int{"example.com": 200, "evil.com": 400} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "http://"+host+"/", nil))
			if rec.Code != code {
				t.Errorf("%s: Host %s got %d, want %d", tc.json, host, rec.Code, code)
			}
		}
	}
}

// TestConfigHandlerForwardedHeaders: Handler applies Kestrel:ForwardedHeaders
// (on by default, trusting loopback, X-Forwarded-For and -Proto as
// ASP.NET's default; off with Enabled false; the host only when
// ForwardedHeaders names it; ForwardLimit null for no limit, 0 for none).
func TestConfigHandlerForwardedHeaders(t *testing.T) {
	for _, tc := range []struct{ json, from, want string }{
		{`{"Kestrel": {}}`, "127.0.0.1:1234", "203.0.113.7 internal"},
		{`{"Kestrel": {}}`, "192.0.2.1:1234", "192.0.2.1 internal"},
		{`{"Kestrel": {"ForwardedHeaders": {"KnownNetworks": ["192.0.2.0/24"]}}}`, "192.0.2.1:1234", "203.0.113.7 internal"},
		{`{"Kestrel": {"ForwardedHeaders": {"Enabled": false}}}`, "127.0.0.1:1234", "127.0.0.1 internal"},
		{`{"Kestrel": {"ForwardedHeaders": {"ForwardedHeaders": "XForwardedFor, XForwardedHost"}}}`, "127.0.0.1:1234", "203.0.113.7 example.com"},
		{`{"Kestrel": {"ForwardedHeaders": {"ForwardedHeaders": "All"}}}`, "127.0.0.1:1234", "203.0.113.7 example.com"},
		{`{"Kestrel": {"ForwardedHeaders": {"ForwardedHeaders": "None"}}}`, "127.0.0.1:1234", "127.0.0.1 internal"},
		{`{"Kestrel": {"ForwardedHeaders": {"ForwardLimit": 0}}}`, "127.0.0.1:1234", "127.0.0.1 internal"},
		{`{"Kestrel": {"ForwardedHeaders": {"ForwardLimit": null, "KnownNetworks": ["127.0.0.0/8", "10.0.0.0/8"]}}}`, "127.0.0.1:1234", "192.0.2.9 internal"},
	} {
		cfg, err := ParseConfig([]byte(tc.json), "kestrel.json", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		h, err := cfg.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, _ := strings.Cut(r.RemoteAddr, ":")
			w.Write([]byte(host + " " + r.Host))
		}))
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.Host = "internal"
		req.RemoteAddr = tc.from
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		if strings.Contains(tc.json, "null") {
			req.Header.Set("X-Forwarded-For", "192.0.2.9, 10.0.0.3, 10.0.0.2")
		}
		req.Header.Set("X-Forwarded-Host", "example.com")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Body.String() != tc.want {
			t.Errorf("%s from %s: the app saw %s, want %s", tc.json, tc.from, rec.Body.String(), tc.want)
		}
	}
	cfg, _ := ParseConfig([]byte(`{"Kestrel": {"ForwardedHeaders": {"KnownProxies": ["10.0.0.300"]}}}`), "kestrel.json", nil, nil)
	if _, err := cfg.Handler(http.NotFoundHandler()); err == nil || !strings.Contains(err.Error(), "Kestrel:ForwardedHeaders:KnownProxies:0") {
		t.Errorf("bad KnownProxies: %v", err)
	}
	cfg, _ = ParseConfig([]byte(`{"Kestrel": {"ForwardedHeaders": {"ForwardedHeaders": "XForwardedFour"}}}`), "kestrel.json", nil, nil)
	if _, err := cfg.Handler(http.NotFoundHandler()); err == nil || !strings.Contains(err.Error(), `Kestrel:ForwardedHeaders:ForwardedHeaders: unknown header "XForwardedFour"`) {
		t.Errorf("bad ForwardedHeaders: %v", err)
	}
}

// TestConfigWithoutKestrelSection: a file without a Kestrel section is
// accepted with a warning naming its keys and the likely fix.
func TestConfigWithoutKestrelSection(t *testing.T) {
	for _, tc := range []struct{ json, want, notWant string }{
		{`{"Kestrl": {"Endpoints": {}}, "Logging": {}}`, `appsettings.json has no \"Kestrel\" section: it configures no endpoints, certificates or limits (its top-level keys: \"Kestrl\", \"Logging\"); did you mean \"Kestrel\" instead of \"Kestrl\"?`, ""},
		{`{"Endpoints": {"Web": {"Url": "http://127.0.0.1:0"}}, "limits": {}}`, `Endpoints, limits belong inside {\"Kestrel\": {...}}`, ""},
		{`{"Logging": {}, "AllowedHosts": "*"}`, `(its top-level keys: \"Logging\", \"AllowedHosts\")`, "did you mean"},
		{`{}`, `(the file is an empty object)`, ""},
		{`{"kestrel": {}, "Logging": {}}`, "", "Kestrel"},
	} {
		cfg, err := ParseConfig([]byte(tc.json), "appsettings.json", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var log lockedBuffer
		if err := cfg.Apply(&Server{Logger: slog.New(slog.NewTextHandler(&log, nil))}); err != nil {
			t.Fatal(err)
		}
		got := log.String()
		if tc.want != "" && (!strings.Contains(got, tc.want) || !strings.Contains(got, "level=WARN")) {
			t.Errorf("%s: log %s\nwant a warning containing %s", tc.json, got, tc.want)
		}
		if tc.want == "" && got != "" {
			t.Errorf("%s: logged %s, want nothing", tc.json, got)
		}
		if tc.notWant != "" && strings.Contains(got, tc.notWant) {
			t.Errorf("%s: log %s contains %s", tc.json, got, tc.notWant)
		}
	}
}

// TestConfigShutdownTimeout: Kestrel:ShutdownTimeout in the file (as a
// TimeSpan or a Go duration) or the environment sets the timeout Run
// gives in-flight requests; without it, ASP.NET's 30 s default holds; the
// Server field set in code is the base the file overrides.
func TestConfigShutdownTimeout(t *testing.T) {
	for _, c := range []struct {
		file  string
		env   []string
		field time.Duration
		want  time.Duration
	}{
		{`{"Kestrel": {}}`, nil, 0, 30 * time.Second},
		{`{"Kestrel": {"ShutdownTimeout": "00:00:05"}}`, nil, 0, 5 * time.Second},
		{`{"Kestrel": {"ShutdownTimeout": "1m30s"}}`, nil, 0, 90 * time.Second},
		{`{"Kestrel": {"ShutdownTimeout": "00:00:05"}}`, []string{"Kestrel__ShutdownTimeout=00:00:07"}, 0, 7 * time.Second},
		{`{"Kestrel": {}}`, nil, 2 * time.Second, 2 * time.Second},
		{`{"Kestrel": {"ShutdownTimeout": "00:00:05"}}`, nil, 2 * time.Second, 5 * time.Second},
	} {
		cfg, err := ParseConfig([]byte(c.file), "f", nil, c.env)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		s := &Server{Logger: quietLogger, ShutdownTimeout: c.field}
		if err := cfg.Apply(s); err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if got := s.shutdownTimeout(); got != c.want {
			t.Errorf("%s %v, field %v: shutdown timeout %v, want %v", c.file, c.env, c.field, got, c.want)
		}
	}
}

// TestConfigMessages: every error of a configuration names where the
// value came from (the file, or the environment variable) and the key,
// says what to do, and carries no prefix of an inner package; the library
// gives them as the command shows them.
func TestConfigMessages(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "appsettings.json")
	for _, tc := range []struct {
		json string
		env  []string
		want string // the whole message; FILE and DIR stand for the paths
	}{
		{`{"Kestrel": {"Endpoint": {"Web": {"Url": "http://127.0.0.1:0"}, "Api": {"Url": "http://127.0.0.1:0"}}}}`, nil,
			"kestrel: configuration:\nFILE: unknown section \"Kestrel:Endpoint\" (did you mean \"Kestrel:Endpoints\"?)"},
		{`{"Kestrel": {"Endpoints": {"Web": {"Url": "https://127.0.0.1:0", "Certficate": {"Path": "a.pfx"}}}}}`, nil,
			"kestrel: configuration:\nFILE: unknown section \"Kestrel:Endpoints:Web:Certficate\" (did you mean \"Kestrel:Endpoints:Web:Certificate\"?)"},
		{`{"Kestrel": {"Certficates": {"Default": {"Path": "a.pfx"}}}}`, nil,
			"kestrel: configuration:\nFILE: unknown section \"Kestrel:Certficates\" (did you mean \"Kestrel:Certificates\"?)"},
		{`{"Kestrel": {"Limits": {"KeepAliveTimeot": "00:01:00"}}}`, nil,
			"kestrel: configuration:\nFILE: unknown key \"Kestrel:Limits:KeepAliveTimeot\" (did you mean \"Kestrel:Limits:KeepAliveTimeout\"?)"},
		{`{"Kestrel": {"Endpoints": {"Web": {"Url": "https://127.0.0.1:0", "Certificate": {"Subject": "localhost", "Store": "My", "Location": "CurrentUser", "AllowInvalid": true}}}}}`, nil,
			"kestrel: configuration:\nFILE: Kestrel:Endpoints:Web:Certificate: Subject, Store, Location and AllowInvalid select a certificate from a certificate store, which only Windows/.NET has; name the certificate's files instead: Path (a .pfx with Password, or a PEM certificate) and KeyPath (its PEM private key)"},
		{`{"Kestrel": {"Certificates": {"Default": {"subject": "CN=app"}}}}`, nil,
			"kestrel: configuration:\nFILE: Kestrel:Certificates:Default: Subject, Store, Location and AllowInvalid select a certificate from a certificate store, which only Windows/.NET has; name the certificate's files instead: Path (a .pfx with Password, or a PEM certificate) and KeyPath (its PEM private key)"},
		{`{"Kestrel": {"Endpoints": {"Web": {"Url": "http://127.0.0.1:0", "Protocols": "Http4"}}}}`, nil,
			`kestrel: FILE: Kestrel:Endpoints:Web:Protocols: unknown protocols "Http4" (use Http1, Http2, Http3, Http1AndHttp2 or Http1AndHttp2AndHttp3)`},
		{`{"Kestrel": {"EndpointDefaults": {"Protocols": "Http4"}, "Endpoints": {"Web": {"Url": "http://127.0.0.1:0"}}}}`, nil,
			`kestrel: FILE: Kestrel:EndpointDefaults:Protocols: unknown protocols "Http4" (use Http1, Http2, Http3, Http1AndHttp2 or Http1AndHttp2AndHttp3)`},
		{`{"Kestrel": {"Endpoints": {"Web": {"Url": "ftp://127.0.0.1:0"}}}}`, nil,
			`kestrel: FILE: Kestrel:Endpoints:Web:Url: URL "ftp://127.0.0.1:0": unsupported scheme "ftp" (use http:// or https://)`},
		{`{"Kestrel": {"Endpoints": {"Web": {"Url": "https://127.0.0.1:0", "SslProtocols": ["Tls11"]}}}}`, nil,
			`kestrel: FILE: Kestrel:Endpoints:Web:SslProtocols: "Tls11": TLS 1.1 is insecure and not supported; use Tls12 and/or Tls13`},
		{`{"Kestrel": {"Endpoints": {"Web": {"Url": "https://127.0.0.1:0", "ClientCertificateMode": "Sometimes"}}}}`, nil,
			`kestrel: FILE: Kestrel:Endpoints:Web:ClientCertificateMode: unknown client certificate mode "Sometimes"; valid values are NoCertificate, AllowCertificate and RequireCertificate`},
		{`{"Kestrel": {"Endpoints": {"Web": {"Url": "https://127.0.0.1:0", "Certificate": {"KeyPath": "a.key"}}}}}`, nil,
			`kestrel: FILE: Kestrel:Endpoints:Web:Certificate:Path is missing: name the certificate file (a .pfx, or a PEM certificate with KeyPath for its key)`},
		{`{"Kestrel": {"Limits": {"Http2": {"MaxFrameSize": 5}}}}`, nil,
			`kestrel: FILE: Kestrel:Limits:Http2:MaxFrameSize is 5; use a value from 16384 to 16777215 (default 16384)`},
		{`{"Kestrel": {}}`, []string{"Kestrel__Endpoints__Web__Url=http://127.0.0.1:0", "Kestrel__Endpoints__Web__Protocols=Http9"},
			`kestrel: environment variable Kestrel__Endpoints__Web__Protocols: Kestrel:Endpoints:Web:Protocols: unknown protocols "Http9" (use Http1, Http2, Http3, Http1AndHttp2 or Http1AndHttp2AndHttp3)`},
		{`{"Kestrel": {"Endpoints": {"Web": {"Url": "unix:/proc/no/such.sock"}}}}`, nil,
			`kestrel: failed to bind to unix:/proc/no/such.sock (FILE: Kestrel:Endpoints:Web): listen unix /proc/no/such.sock: bind: no such file or directory: the folder /proc/no does not exist; create it first (systemd's RuntimeDirectory= creates one, such as /run/app/), or choose a path in an existing folder`},
		{`{"Kestrel": {"Endpoints": {"Web": {"Url": "https://127.0.0.1:0", "Certificate": {"Path": "none.pfx"}}}}}`, nil,
			`kestrel: FILE: Kestrel:Endpoints:Web (https://127.0.0.1:0): reading the certificate: open DIR/none.pfx: no such file or directory`},
	} {
		err := func() error {
			cfg, err := ParseConfig([]byte(tc.json), file, nil, tc.env)
			if err != nil {
				return err
			}
			s := &Server{Logger: discardLogger()}
			if err := cfg.Apply(s); err != nil {
				return err
			}
			if err := s.Start(); err != nil {
				return err
			}
			s.Close()
			return nil
		}()
		want := strings.NewReplacer("FILE", file, "DIR", dir).Replace(tc.want)
		if err == nil || err.Error() != want {
			t.Errorf("%s:\n got %v\nwant %s", tc.json, err, want)
		}
	}
}

// TestConfigCertificateErrorsNameTheirKey: a certificate that fails names
// the key to fix and its file: Certificates:Default's wrong password names
// that key (and the endpoint using it), not only the endpoint; an https
// endpoint with no certificate at all names its own key and file.
func TestConfigCertificateErrorsNameTheirKey(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // no development certificate
	t.Setenv("HOME", t.TempDir())
	openssl := needTool(t, "openssl")
	pki := newTestPKI(t)
	c, k := pki.issue(t, "site", false, "localhost", "127.0.0.1")
	if out, err := exec.Command(openssl, "pkcs12", "-export", "-out", filepath.Join(pki.dir, "site.pfx"), "-inkey", k, "-in", c, "-passout", "pass:pw").CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v %s", err, out)
	}
	for _, tc := range []struct {
		json string
		want []string
	}{
		{`{"Kestrel": {"Certificates": {"Default": {"Path": "site.pfx", "Password": "wrong"}}, "Endpoints": {"Web": {"Url": "https://127.0.0.1:0"}}}}`,
			[]string{"appsettings.json: Kestrel:Certificates:Default (for", "Kestrel:Endpoints:Web", "site.pfx", "password"}},
		{`{"Kestrel": {"Endpoints": {"A": {"Url": "http://127.0.0.1:0"}, "B": {"Url": "https://127.0.0.1:0"}}}}`,
			[]string{"appsettings.json: Kestrel:Endpoints:B (https://127.0.0.1:0)", "no certificate"}},
	} {
		file := filepath.Join(pki.dir, "appsettings.json")
		if err := os.WriteFile(file, []byte(tc.json), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadConfig(file)
		if err != nil {
			t.Fatal(err)
		}
		s := &Server{Logger: discardLogger()}
		if err := cfg.Apply(s); err != nil {
			t.Fatal(err)
		}
		err = s.Start()
		s.Close()
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s:\n%v\nwant it to contain %q", tc.json, err, w)
			}
		}
	}
}

// TestConfigSniEntryTakesEndpointCertificate: an Sni entry without a
// Certificate (Kestrel's documented "*": {"Protocols": "Http1"}) presents
// the endpoint's certificate with its own options; with no endpoint
// certificate either, it is an error naming the entry.
func TestConfigSniEntryTakesEndpointCertificate(t *testing.T) {
	pki := newTestPKI(t)
	epCert, epKey := pki.issue(t, "endpoint", false, "localhost", "127.0.0.1")
	aCert, aKey := pki.issue(t, "a.test", false, "a.test")
	q := strconv.Quote
	cfg, err := ParseConfig([]byte(`{"Kestrel": {"Endpoints": {"Web": {"Url": "https://127.0.0.1:0",
		"Certificate": {"Path": `+q(epCert)+`, "KeyPath": `+q(epKey)+`},
		"Sni": {"a.test": {"Certificate": {"Path": `+q(aCert)+`, "KeyPath": `+q(aKey)+`}}, "*": {"Protocols": "Http1"}}}}}}`), "f.json", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Logger: discardLogger()}
	if err := cfg.Apply(s); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := strings.TrimPrefix(s.Addresses()[0], "https://")
	for _, tc := range []struct{ name, cert, proto string }{
		{"a.test", "a.test", "h2"},
		{"b.example", "endpoint", "http/1.1"}, // the "*" entry: the endpoint's certificate, HTTP/1.1 only
	} {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: tc.name, InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		st := c.ConnectionState()
		c.Close()
		if got := st.PeerCertificates[0].Subject.CommonName; got != tc.cert || st.NegotiatedProtocol != tc.proto {
			t.Errorf("%s: certificate %q, ALPN %q; want %q, %q", tc.name, got, st.NegotiatedProtocol, tc.cert, tc.proto)
		}
	}

	// Without a certificate of the endpoint's, the entry takes the default
	// one (Certificates:Default, then the development certificate); with
	// neither, Start says so.
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // no development certificate
	t.Setenv("HOME", t.TempDir())
	cfg, err = ParseConfig([]byte(`{"Kestrel": {"Endpoints": {"Web": {"Url": "https://127.0.0.1:0", "Sni": {"*": {"Protocols": "Http1"}}}}}}`), "f.json", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s = &Server{Logger: discardLogger()}
	if err = cfg.Apply(s); err == nil {
		err = s.Start()
		s.Close()
	}
	if !errors.Is(err, ErrNoCertificate) || !strings.Contains(err.Error(), "Kestrel:Endpoints:Web") || !strings.Contains(err.Error(), "no default certificate") {
		t.Errorf("an Sni entry and an endpoint without certificates, and no default one: %v", err)
	}
}

// TestConfigSniEntryTakesDefaultCertificate: Kestrel's documented Sni
// example, an endpoint without a Certificate whose "*" entry sets only
// Protocols, takes Certificates:Default for that entry, as Kestrel's
// endpoint falls back to the default certificate and its Sni entries to
// the endpoint's; the entries' own certificates and options stay.
func TestConfigSniEntryTakesDefaultCertificate(t *testing.T) {
	pki := newTestPKI(t)
	defCert, defKey := pki.issue(t, "default", false, "localhost", "127.0.0.1")
	aCert, aKey := pki.issue(t, "a.test", false, "a.test")
	q := strconv.Quote
	cfg, err := ParseConfig([]byte(`{"Kestrel": {
		"Endpoints": {"Web": {"Url": "https://127.0.0.1:0", "ClientCertificateMode": "AllowCertificate",
			"Sni": {"a.test": {"Certificate": {"Path": `+q(aCert)+`, "KeyPath": `+q(aKey)+`}}, "*": {"Protocols": "Http1"}}}},
		"Certificates": {"Default": {"Path": `+q(defCert)+`, "KeyPath": `+q(defKey)+`}}}}`), "f.json", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Logger: discardLogger()}
	if err := cfg.Apply(s); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := strings.TrimPrefix(s.Addresses()[0], "https://")
	for _, tc := range []struct{ name, cert, proto string }{
		{"a.test", "a.test", "h2"},
		{"b.example", "default", "http/1.1"},
	} {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: tc.name, InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		st := c.ConnectionState()
		c.Close()
		if got := st.PeerCertificates[0].Subject.CommonName; got != tc.cert || st.NegotiatedProtocol != tc.proto {
			t.Errorf("%s: certificate %q, ALPN %q; want %q, %q", tc.name, got, st.NegotiatedProtocol, tc.cert, tc.proto)
		}
	}
}

// TestConfigPrefixedEnvironment: Kestrel__ variables with ASP.NET's host
// prefixes (ASPNETCORE_, DOTNET_) apply too, as in ASP.NET; the unprefixed
// ones win over them, and the error of a bad one names the variable.
func TestConfigPrefixedEnvironment(t *testing.T) {
	cfg, err := ParseConfig(nil, "", nil, []string{
		"ASPNETCORE_Kestrel__Limits__MaxRequestBodySize=5",
		"DOTNET_Kestrel__Limits__MaxRequestHeaderCount=7",
		"ASPNETCORE_Kestrel__Limits__MaxRequestLineSize=1000",
		"Kestrel__Limits__MaxRequestLineSize=2000",
		"ASPNETCORE_URLS=http://ignored:1", // not a Kestrel key
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{}
	if err := cfg.Apply(s); err != nil {
		t.Fatal(err)
	}
	if l := s.Limits; l.MaxRequestBodySize != 5 || l.MaxRequestHeaderCount != 7 || l.MaxRequestLineSize != 2000 {
		t.Errorf("limits %+v", l)
	}
	_, err = ParseConfig(nil, "", nil, []string{"ASPNETCORE_Kestrel__Limits__MaxRequestBodySize=lots"})
	if err == nil || !strings.Contains(err.Error(), "environment variable ASPNETCORE_Kestrel__Limits__MaxRequestBodySize") {
		t.Errorf("a bad prefixed variable: %v", err)
	}
}

// TestSniClientCertificateModeOverridesEndpoint: an Sni entry's own
// ClientCertificateMode wins over its endpoint's, NoCertificate included
// (Kestrel's sniConfig.ClientCertificateMode ?? the endpoint's), in the
// file and in code; an entry without one takes the endpoint's.
func TestSniClientCertificateModeOverridesEndpoint(t *testing.T) {
	pki := newTestPKI(t)
	epCert, epKey := pki.issue(t, "endpoint", false, "localhost", "127.0.0.1")
	q := strconv.Quote
	cfg, err := ParseConfig([]byte(`{"Kestrel": {"Endpoints": {"Web": {"Url": "https://127.0.0.1:0",
		"Certificate": {"Path": `+q(epCert)+`, "KeyPath": `+q(epKey)+`}, "ClientCertificateMode": "RequireCertificate",
		"Sni": {"open.test": {"ClientCertificateMode": "NoCertificate"}, "*": {}}}}}}`), "f.json", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fromFile := &Server{Handler: okHandler(), Logger: discardLogger()}
	if err := cfg.Apply(fromFile); err != nil {
		t.Fatal(err)
	}
	fromCode := &Server{Handler: okHandler(), Logger: discardLogger()}
	fromCode.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", HTTPS: &HTTPS{CertificateFile: epCert, KeyFile: epKey,
		ClientCertificateMode: RequireCertificate, ClientCAs: pki.pool,
		SNI: map[string]SNI{"open.test": {ClientCertificateMode: NoCertificate}, "*": {}}}})
	for _, s := range []*Server{fromFile, fromCode} {
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		addr := strings.TrimPrefix(s.Addresses()[0], "https://")
		for _, tc := range []struct {
			name string
			ok   bool
		}{{"open.test", true}, {"other.test", false}} {
			c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: tc.name, InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
			if err == nil {
				c.Close()
			}
			if (err == nil) != tc.ok {
				t.Errorf("%s without a client certificate: handshake error %v, want success %v", tc.name, err, tc.ok)
			}
		}
	}
}
