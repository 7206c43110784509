package kestrel

import (
	"reflect"
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
		"MinResponseDataRate": null}}}`)
	env := []string{"Kestrel__Limits__MaxRequestHeaderCount=60", "KESTREL__LIMITS__KEEPALIVETIMEOUT=2m"}
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
	}
	if !reflect.DeepEqual(s.Limits, want) {
		t.Errorf("limits\n got %+v\nwant %+v", s.Limits, want)
	}
	// Zero in the file is a real zero for a body limit, and "no limit" for
	// the connection counts.
	cfg, err = ParseConfig([]byte(`{"Kestrel": {"Limits": {"MaxRequestBodySize": 0, "MaxConcurrentConnections": 0}}}`), "f", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s = &Server{}
	cfg.Apply(s)
	if s.Limits.MaxRequestBodySize != 0 || s.Limits.MaxConcurrentConnections != Unlimited {
		t.Errorf("zeros: %+v", s.Limits)
	}
}

func TestConfigEndpointsAndCertificates(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"Kestrel": {
		"Endpoints": {
			"Http": {"Url": "http://127.0.0.1:0", "Protocols": "Http1"},
			"Https": {"Url": "https://127.0.0.1:0", "Certificate": {"Path": "site.pfx", "Password": "pw"},
			          "SslProtocols": ["Tls13"], "ClientCertificateMode": "RequireCertificate"},
			"Sni": {"Url": "https://127.0.0.1:0", "Sni": {"*.example.com": {"Certificate": {"Path": "w.crt", "KeyPath": "w.key"}}}}},
		"Certificates": {"Default": {"Path": "default.crt", "KeyPath": "default.key"}}}}`), "f", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{}
	if err := cfg.Apply(s); err != nil {
		t.Fatal(err)
	}
	if s.DefaultHTTPS == nil || s.DefaultHTTPS.CertificateFile != "default.crt" || s.DefaultHTTPS.KeyFile != "default.key" {
		t.Errorf("default certificate: %+v", s.DefaultHTTPS)
	}
	if len(s.endpoints) != 3 {
		t.Fatalf("%d endpoints, want 3", len(s.endpoints))
	}
	var https, sni *HTTPS
	for _, ep := range s.endpoints {
		if ep.opts.HTTPS != nil && ep.opts.HTTPS.CertificateFile == "site.pfx" {
			https = ep.opts.HTTPS
		}
		if ep.opts.HTTPS != nil && len(ep.opts.HTTPS.SNI) > 0 {
			sni = ep.opts.HTTPS
		}
	}
	if https == nil || https.Password != "pw" || https.MinVersion != 0x0304 || https.ClientCertificateMode != RequireCertificate {
		t.Errorf("https endpoint options: %+v", https)
	}
	if sni == nil || sni.SNI["*.example.com"].CertificateFile != "w.crt" {
		t.Errorf("sni endpoint options: %+v", sni)
	}
	for _, bad := range []struct{ json, want string }{
		{`{"Kestrel": {"Endpoints": {"E": {"Url": "https://x:1", "SslProtocols": ["Tls11"]}}}}`, "SslProtocols"},
		{`{"Kestrel": {"Endpoints": {"E": {"Url": "https://x:1", "ClientCertificateMode": "Sometimes"}}}}`, "ClientCertificateMode"},
		{`{"Kestrel": {"Endpoints": {"E": {"Url": "http://x:1", "Protocols": "Http3"}}}}`, "Protocols"},
		{`{"Kestrel": {"Endpoints": {"E": {"Url": "http://x:1/base"}}}}`, "path base"},
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
