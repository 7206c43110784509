package kestrel

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

// TestEndpointDefaultsApplyToURLs: Kestrel:EndpointDefaults applies to the
// endpoints of URLs (--urls, KESTREL_URLS, the default URL) as Kestrel's
// ApplyEndpointDefaults does in its AddressBinder, not only to the file's
// own Endpoints: the README's demo table enables WebSockets over HTTP/2 for
// `go run ./cmd/kestrel` with Kestrel__EndpointDefaults__EnableWebSocketsOverHTTP2=true.
func TestEndpointDefaultsApplyToURLs(t *testing.T) {
	t.Parallel()
	cfg, err := ParseConfig(nil, "", nil, []string{"Kestrel__EndpointDefaults__EnableWebSocketsOverHTTP2=true"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Logger: quietLogger, Handler: okHandler()}
	if err := cfg.Apply(s); err != nil {
		t.Fatal(err)
	}
	if err := s.UseURLs("http://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	addr := strings.TrimPrefix(s.Addresses()[0], "http://")
	if v, ok := dialRawH2(t, addr).settings[http2.SettingEnableConnectProtocol]; !ok || v != 1 {
		t.Errorf("a URL endpoint under EndpointDefaults:EnableWebSocketsOverHTTP2=true: SETTINGS_ENABLE_CONNECT_PROTOCOL = %d (sent: %v), want 1", v, ok)
	}
}

// TestEndpointDefaultsProtocolsApplyToURLs: Kestrel:EndpointDefaults:Protocols
// set to Http2 makes the URLs' endpoints HTTP/2 only, so an HTTP/1.1
// request there gets Kestrel's 400 for the wrong protocol version.
func TestEndpointDefaultsProtocolsApplyToURLs(t *testing.T) {
	t.Parallel()
	cfg, err := ParseConfig(nil, "", nil, []string{"Kestrel__EndpointDefaults__Protocols=Http2"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Logger: quietLogger, Handler: okHandler()}
	if err := cfg.Apply(s); err != nil {
		t.Fatal(err)
	}
	if err := s.UseURLs("http://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	resp, err := http.Get(s.Addresses()[0] + "/")
	if err == nil {
		resp.Body.Close()
	}
	if err == nil && resp.StatusCode == http.StatusOK {
		t.Errorf("HTTP/1.1 on a URL endpoint under EndpointDefaults:Protocols=Http2: 200, want it refused")
	}
	addr := strings.TrimPrefix(s.Addresses()[0], "http://")
	if _, ok := dialRawH2(t, addr).settings[http2.SettingMaxConcurrentStreams]; !ok {
		t.Errorf("the URL endpoint did not answer HTTP/2 with its SETTINGS")
	}
}
