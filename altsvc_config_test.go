package kestrel

import (
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestConfigDisableAltSvcHeader: Kestrel:Endpoints:NAME:DisableAltSvcHeader
// and Kestrel:EndpointDefaults:DisableAltSvcHeader decide which HTTP/3
// endpoints advertise themselves with Alt-Svc; an endpoint's own key wins
// over the defaults, and the file's value reaches the HTTP/1.1 responses.
func TestConfigDisableAltSvcHeader(t *testing.T) {
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, json string
		want       map[string]bool // endpoint name: advertises HTTP/3
	}{
		{"endpoint keys", `{"Kestrel": {"Endpoints": {
			"Plain":    {"Url": "https://127.0.0.1:0", "Protocols": "Http1AndHttp2AndHttp3"},
			"Disabled": {"Url": "https://127.0.0.1:0", "Protocols": "Http1AndHttp2AndHttp3", "DisableAltSvcHeader": true}}}}`,
			map[string]bool{"Plain": true, "Disabled": false}},
		{"defaults and an override", `{"Kestrel": {
			"EndpointDefaults": {"DisableAltSvcHeader": true},
			"Endpoints": {
			"Default": {"Url": "https://127.0.0.1:0", "Protocols": "Http1AndHttp2AndHttp3"},
			"Enabled": {"Url": "https://127.0.0.1:0", "Protocols": "Http1AndHttp2AndHttp3", "disablealtsvcheader": false}}}}`,
			map[string]bool{"Default": false, "Enabled": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tc.json), "appsettings.json", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			s := &Server{Handler: http.NotFoundHandler(), Logger: discardLogger(), DefaultHTTPS: &HTTPS{Certificate: cert}}
			if err := cfg.Apply(s); err != nil {
				t.Fatal(err)
			}
			// Which endpoint each socket came from: the configuration keeps
			// the file's order, as Addresses does.
			var names []string
			for _, ep := range s.endpoints {
				names = append(names, ep.origin[strings.LastIndex(ep.origin, ":")+1:])
			}
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			addrs := s.Addresses()
			if len(addrs) != len(names) {
				t.Fatalf("addresses %v for endpoints %v", addrs, names)
			}
			tr := &http.Transport{TLSClientConfig: testClientTLS(t)}
			defer tr.CloseIdleConnections()
			for i, addr := range addrs {
				resp, err := (&http.Client{Transport: tr}).Get(addr + "/")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				_, port, _ := net.SplitHostPort(strings.TrimPrefix(addr, "https://"))
				want := ""
				if tc.want[names[i]] {
					want = `h3=":` + port + `"; ma=86400`
				}
				if got := resp.Header.Get("Alt-Svc"); got != want {
					t.Errorf("endpoint %s (%s): Alt-Svc %q, want %q", names[i], addr, got, want)
				}
			}
		})
	}
	// The environment sets it too.
	cfg, err := ParseConfig([]byte(`{"Kestrel": {"Endpoints": {"E": {"Url": "https://127.0.0.1:0", "Protocols": "Http1AndHttp2AndHttp3"}}}}`), "f", nil,
		[]string{"Kestrel__EndpointDefaults__DisableAltSvcHeader=true"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{}
	if err := cfg.Apply(s); err != nil || len(s.endpoints) != 1 || !s.endpoints[0].opts.DisableAltSvcHeader {
		t.Errorf("Kestrel__EndpointDefaults__DisableAltSvcHeader=true: %v, endpoints %+v", err, s.endpoints)
	}
	// A value of the wrong type names the key.
	_, err = ParseConfig([]byte(`{"Kestrel": {"Endpoints": {"E": {"Url": "https://127.0.0.1:0", "DisableAltSvcHeader": "sometimes"}}}}`), "f", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "Kestrel:Endpoints:E:DisableAltSvcHeader") {
		t.Errorf("DisableAltSvcHeader \"sometimes\": %v, want an error naming the key", err)
	}
}
