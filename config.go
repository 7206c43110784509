package kestrel

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kestrel-go/kestrel/forwardedheaders"
	"github.com/kestrel-go/kestrel/hostfiltering"
	"github.com/kestrel-go/kestrel/internal/certs"
	"github.com/kestrel-go/kestrel/internal/settings"
)

// Config is the "Kestrel" section of a configuration file, in the layout
// ASP.NET users know from appsettings.json:
//
//	{ "Kestrel": {
//	    "Endpoints": {
//	      "Http":   { "Url": "http://localhost:5000" },
//	      "Https":  { "Url": "https://*:5001",
//	                  "Certificate": { "Path": "site.pfx", "Password": "..." } },
//	      "Socket": { "Url": "unix:/run/app.sock", "SocketMode": "0660" } },
//	    "Certificates": { "Default": { "Path": "site.crt", "KeyPath": "site.key" } },
//	    "Limits": { "MaxConcurrentConnections": 100, "MaxRequestBodySize": 10485760,
//	                "KeepAliveTimeout": "00:02:10", "MaxConnectionAge": "01:00:00",
//	                "MinRequestBodyDataRate": { "BytesPerSecond": 240, "GracePeriod": "00:00:05" } },
//	    "ForwardedHeaders": { "KnownNetworks": ["10.0.0.0/8"] } },
//	  "AllowedHosts": "example.com;*.example.com" }
//
// Keys are case-insensitive. Unknown keys and values of the wrong type are
// errors naming the key. Durations are "hh:mm:ss" (ASP.NET) or "5s" (Go);
// a data rate set to null turns that check off. Endpoints bind, and are
// logged, in the order the file gives them. Relative certificate paths
// are resolved against the folder of the configuration file (ASP.NET's
// content root), or the working directory when there is no file.
//
// Apply configures a Server; Handler puts the middleware the
// configuration asks for (AllowedHosts, ForwardedHeaders) in front of a
// handler.
type Config struct {
	Endpoints        map[string]EndpointConfig
	EndpointDefaults EndpointDefaultsConfig
	Certificates     map[string]CertificateConfig
	Limits           LimitsConfig

	// AddServerHeader sends "Server: Kestrel" (default true).
	AddServerHeader *bool

	// ShutdownTimeout is how long in-flight requests may finish when the
	// server stops (Server.ShutdownTimeout; ASP.NET's
	// HostOptions.ShutdownTimeout, 30 s by default).
	ShutdownTimeout *settings.Duration

	// DrainDelay is how long the server goes on serving, with readiness
	// reporting 503, once it is told to stop, before its graceful
	// shutdown (Server.DrainDelay; Caddy's shutdown_delay). Zero, the
	// default, stops at once.
	DrainDelay *settings.Duration

	// AllowedHosts is the semicolon-separated host filter ("*": any) that
	// Handler applies. ParseConfig reads it from the top-level
	// "AllowedHosts" key, where ASP.NET's appsettings.json has it, or from
	// Kestrel:AllowedHosts when there is no top-level key; the top-level
	// key wins when both are set.
	AllowedHosts string

	// ForwardedHeaders configures the forwarded-headers middleware that
	// Handler applies.
	ForwardedHeaders ForwardedHeadersConfig

	// Acme gets certificates from an ACME CA such as Let's Encrypt
	// (HTTPS.ACME): it is the certificate of the https:// endpoints that
	// have none of their own (instead of Certificates:Default), and the
	// settings an endpoint's Certificate:Acme section starts from.
	Acme *AcmeConfig

	// Status is the status page (Server.StatusHandler) a program serves
	// ahead of its application, as the kestrel command does: see
	// StatusPage.
	Status StatusConfig

	store       *settings.Store
	dir         string   // the content root: relative paths resolve against it
	warnings    []string // logged by Apply
	defaultACME *ACME    // Kestrel:Acme's, made once: the endpoints that use it share its certificates
}

// StatusConfig is Kestrel:Status, the status page.
type StatusConfig struct {
	// Path is where the page is served, such as "/status"; empty, the
	// default, serves none.
	Path string
	// AllowedNetworks are the client networks, besides loopback, that
	// may see it: CIDR ranges such as "10.8.0.0/16", or addresses.
	AllowedNetworks []string
}

// EndpointConfig is one entry of Kestrel:Endpoints.
type EndpointConfig struct {
	Url                   string
	Protocols             string
	Certificate           *CertificateConfig
	Sni                   map[string]SniConfig
	ClientCertificateMode string
	SslProtocols          []string
	SocketMode            string // octal permissions of a Unix socket file
	// SessionTicketKeyFiles: HTTPS.SessionTicketKeyFiles, the first
	// encrypts; relative paths resolve like certificate paths.
	SessionTicketKeyFiles []string
	ReusePort             bool
	LogConnections        bool
	ProxyProtocol         *ProxyProtocolConfig
	// DisableAltSvcHeader: Endpoint.DisableAltSvcHeader; unset takes
	// Kestrel:EndpointDefaults:DisableAltSvcHeader.
	DisableAltSvcHeader *bool
	// EnableWebSocketsOverHTTP2: Endpoint.EnableWebSocketsOverHTTP2;
	// unset takes Kestrel:EndpointDefaults:EnableWebSocketsOverHTTP2.
	EnableWebSocketsOverHTTP2 *bool
}

// ProxyProtocolConfig is the ProxyProtocol section of an endpoint or of
// Kestrel:EndpointDefaults: its presence turns the PROXY protocol on (see
// ProxyProtocol). An endpoint's keys override the defaults' one by one.
type ProxyProtocolConfig struct {
	TrustedProxies []string // addresses and CIDR ranges; empty means loopback only
	Required       *bool
	HeaderTimeout  *settings.Duration // "00:00:05" or "5s"
}

// EndpointDefaultsConfig is Kestrel:EndpointDefaults.
type EndpointDefaultsConfig struct {
	Protocols             string
	ClientCertificateMode string
	SslProtocols          []string
	SocketMode            string // for Unix sockets, those from URLs included (Server.UnixSocketMode)
	ProxyProtocol         *ProxyProtocolConfig
	// SessionTicketKeyFiles is for https:// endpoints without their own.
	SessionTicketKeyFiles []string
	// DisableAltSvcHeader is for endpoints that do not set their own.
	DisableAltSvcHeader *bool
	// EnableWebSocketsOverHTTP2 is for endpoints that do not set their own.
	EnableWebSocketsOverHTTP2 *bool
}

// CertificateConfig names a certificate file: a .pfx with its password, or
// PEM files (the key may be encrypted with Password); or, with Acme, says
// that the certificate comes from an ACME CA.
type CertificateConfig struct {
	Path, KeyPath, Password string

	// DisableOcspStapling: HTTPS.DisableOCSPStapling (or, in an Sni
	// entry, SNI.DisableOCSPStapling) for the file's certificate.
	DisableOcspStapling bool

	// Acme gets the endpoint's certificate from an ACME CA, with the
	// keys of Kestrel:Acme for those it does not set.
	Acme *AcmeConfig
}

// AcmeConfig is Kestrel:Acme, or an endpoint's Certificate:Acme: the
// fields of ACME.
type AcmeConfig struct {
	Domains            []string
	Email              string
	CA                 string // the directory URL; default Let's Encrypt
	Staging            *bool  // Let's Encrypt's staging CA, when CA is not set
	AgreeToTerms       *bool
	Storage            string // relative paths resolve like certificate paths
	KeyType            string
	Challenges         []string
	OnDemandHosts      []string
	CARootsFile        string
	RenewalWindowRatio *float64
}

// merge returns a's keys over base's.
func (a *AcmeConfig) merge(base *AcmeConfig) AcmeConfig {
	var out AcmeConfig
	if base != nil {
		out = *base
	}
	if a == nil {
		return out
	}
	if len(a.Domains) > 0 {
		out.Domains = a.Domains
	}
	if a.Email != "" {
		out.Email = a.Email
	}
	if a.CA != "" {
		out.CA = a.CA
	}
	if a.Staging != nil {
		out.Staging = a.Staging
	}
	if a.AgreeToTerms != nil {
		out.AgreeToTerms = a.AgreeToTerms
	}
	if a.Storage != "" {
		out.Storage = a.Storage
	}
	if a.KeyType != "" {
		out.KeyType = a.KeyType
	}
	if len(a.Challenges) > 0 {
		out.Challenges = a.Challenges
	}
	if len(a.OnDemandHosts) > 0 {
		out.OnDemandHosts = a.OnDemandHosts
	}
	if a.CARootsFile != "" {
		out.CARootsFile = a.CARootsFile
	}
	if a.RenewalWindowRatio != nil {
		out.RenewalWindowRatio = a.RenewalWindowRatio
	}
	return out
}

// acme turns the section at key into ACME options, checked.
func (c *Config) acme(key string, a AcmeConfig) (*ACME, error) {
	out := &ACME{Domains: a.Domains, Email: a.Email, CA: a.CA, Storage: c.path(a.Storage), KeyType: a.KeyType,
		Challenges: a.Challenges, OnDemandHosts: a.OnDemandHosts, CARootsFile: c.path(a.CARootsFile)}
	if a.Staging != nil {
		out.Staging = *a.Staging
	}
	if a.AgreeToTerms != nil {
		out.AgreeToTerms = *a.AgreeToTerms
	}
	if a.RenewalWindowRatio != nil {
		out.RenewalWindowRatio = *a.RenewalWindowRatio
	}
	if a.CA != "" {
		if u, err := url.Parse(a.CA); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, c.keyErr(key+":CA", fmt.Errorf("%q is not the URL of an ACME directory, such as %s", a.CA, LetsEncryptCA))
		}
	}
	if err := out.check(key); err != nil {
		return nil, c.keyErr(key, errors.New(strings.TrimPrefix(err.Error(), "kestrel: "+key+": ")))
	}
	return out, nil
}

// SniConfig is one entry of an endpoint's Sni section.
type SniConfig struct {
	Certificate           *CertificateConfig
	ClientCertificateMode string
	SslProtocols          []string
	Protocols             string
}

// LimitsConfig is Kestrel:Limits; absent keys keep the defaults.
type LimitsConfig struct {
	MaxConcurrentConnections         *int64
	MaxConcurrentUpgradedConnections *int64
	MaxRequestBodySize               *int64
	MaxRequestBufferSize             *int64
	MaxResponseBufferSize            *int64
	MaxRequestLineSize               *int
	MaxRequestHeadersTotalSize       *int
	MaxRequestHeaderCount            *int
	KeepAliveTimeout                 *settings.Duration
	RequestHeadersTimeout            *settings.Duration
	MaxConnectionAge                 *settings.Duration
	MaxConnectionAgeGrace            *settings.Duration
	MinRequestBodyDataRate           *DataRateConfig
	MinResponseDataRate              *DataRateConfig
	Http2                            Http2LimitsConfig
	Http3                            Http3LimitsConfig
}

// Http2LimitsConfig is Kestrel:Limits:Http2; absent keys keep the
// defaults.
type Http2LimitsConfig struct {
	MaxStreamsPerConnection     *uint32
	HeaderTableSize             *uint32
	MaxFrameSize                *uint32
	MaxRequestHeaderFieldSize   *int
	InitialConnectionWindowSize *uint32
	InitialStreamWindowSize     *uint32
	KeepAlivePingDelay          *settings.Duration
	KeepAlivePingTimeout        *settings.Duration
}

// Http3LimitsConfig is Kestrel:Limits:Http3; absent keys keep the
// defaults.
type Http3LimitsConfig struct {
	MaxRequestHeaderFieldSize *int
}

// DataRateConfig is a minimum data rate in the configuration file.
type DataRateConfig struct {
	BytesPerSecond *float64
	GracePeriod    *settings.Duration
}

// ForwardedHeadersConfig is Kestrel:ForwardedHeaders.
type ForwardedHeadersConfig struct {
	// Enabled turns the middleware on or off; nil means on.
	Enabled *bool
	// ForwardedHeaders names the headers applied, as ASP.NET's option:
	// "XForwardedFor, XForwardedProto" (the default), XForwardedHost,
	// Forwarded (RFC 7239), All (the three X-Forwarded ones), None.
	ForwardedHeaders string
	// ForwardLimit is the most hops applied (default 1); null means no
	// limit, 0 none.
	ForwardLimit  *int
	KnownProxies  []string
	KnownNetworks []string
}

// LoadConfig reads the "Kestrel" section (and the top-level AllowedHosts)
// of the JSON configuration file at path, then applies environment
// variables named like Kestrel__Limits__MaxRequestBodySize, which override
// the file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kestrel: configuration file: %w", err)
	}
	return ParseConfig(data, path, nil, os.Environ())
}

// ParseConfig reads a configuration from JSON data (nil data means no
// file), then the values in overrides (keyed like
// "Kestrel:Limits:MaxRequestBodySize", such as from command-line flags),
// then the Kestrel__* variables of environ (and AllowedHosts; also with
// ASP.NET's DOTNET_ and ASPNETCORE_ prefixes, which the unprefixed
// override), each overriding the ones before. source is the file's path: it names the file
// in messages, and relative certificate paths resolve against its folder.
func ParseConfig(data []byte, source string, overrides map[string]string, environ []string) (*Config, error) {
	var st settings.Store
	c := &Config{store: &st}
	if data != nil {
		if err := st.LoadJSON(data, source); err != nil {
			return nil, fmt.Errorf("kestrel: %w", err)
		}
		c.dir = filepath.Dir(source)
		if abs, err := filepath.Abs(c.dir); err == nil {
			c.dir = abs
		}
		if !st.Has("Kestrel") {
			c.warnings = append(c.warnings, noKestrelSection(source, st.Children("")))
		}
	}
	for k, v := range overrides {
		st.Set(k, v, "setting "+k)
	}
	// As ASP.NET's host, the DOTNET_ and ASPNETCORE_ variables, under the
	// unprefixed ones, which win.
	st.LoadPrefixedEnv(environ, "DOTNET_", "Kestrel")
	st.LoadPrefixedEnv(environ, "ASPNETCORE_", "Kestrel")
	st.LoadEnv(environ, "Kestrel")
	for _, kv := range environ {
		// As in ASP.NET, whose configuration has every environment variable.
		if name, v, ok := strings.Cut(kv, "="); ok && strings.EqualFold(name, "AllowedHosts") {
			st.Set("AllowedHosts", v, "environment variable "+name)
		}
	}
	if err := st.Bind("Kestrel", c, certificateStoreHint); err != nil {
		return nil, fmt.Errorf("kestrel: configuration:\n%w", err)
	}
	if root, ok := st.Lookup("AllowedHosts"); ok {
		if c.AllowedHosts != "" && c.AllowedHosts != root {
			c.warnings = append(c.warnings, fmt.Sprintf("AllowedHosts %q and Kestrel:AllowedHosts %q are both set; using the top-level AllowedHosts, which ASP.NET reads", root, c.AllowedHosts))
		}
		c.AllowedHosts = root
	}
	return c, nil
}

// noKestrelSection is the warning for a file without a Kestrel section,
// naming its top-level keys.
func noKestrelSection(source string, keys []string) string {
	msg := fmt.Sprintf("%s has no \"Kestrel\" section: it configures no endpoints, certificates or limits", source)
	if len(keys) == 0 {
		return msg + " (the file is an empty object)"
	}
	quoted := make([]string, len(keys))
	for i, k := range keys {
		quoted[i] = strconv.Quote(k)
	}
	msg += " (its top-level keys: " + strings.Join(quoted, ", ") + ")"
	var misplaced []string
	for _, k := range keys {
		if best, ok := settings.Closest(k, []string{"Kestrel"}); ok {
			return msg + fmt.Sprintf("; did you mean %q instead of %q?", best, k)
		}
		if f, ok := reflect.TypeFor[Config]().FieldByNameFunc(func(n string) bool { return strings.EqualFold(n, k) }); ok && f.Name != "AllowedHosts" {
			misplaced = append(misplaced, k)
		}
	}
	if len(misplaced) > 0 {
		msg += fmt.Sprintf("; %s belong inside {\"Kestrel\": {...}}", strings.Join(misplaced, ", "))
	}
	return msg
}

// limits returns the configured limits over base.
func (c *Config) limits(base Limits) (Limits, error) {
	l := c.Limits
	// The file's values are Kestrel's: null is no limit where Kestrel's
	// property is nullable, and 0 a real zero, refused where Kestrel
	// refuses it (a Limits field's zero means its default).
	null := func(key string) bool { return c.store.IsNull("Kestrel:Limits:" + key) }
	zero := func(key, fix string) error {
		return c.limitsErr(fmt.Errorf("kestrel: Limits.%s is 0; %s", key, fix))
	}
	// Kestrel refuses a negative count or size; in the file, -1 and -2
	// are not Go's Unlimited, NoRequestBody and NoUpgrades.
	for _, n := range []struct {
		key string
		v   *int64
		fix string
	}{
		{"MaxConcurrentConnections", l.MaxConcurrentConnections, "use a positive number, or null for no limit"},
		{"MaxConcurrentUpgradedConnections", l.MaxConcurrentUpgradedConnections, "use a positive number, 0 for none, or null for no limit"},
		{"MaxRequestBodySize", l.MaxRequestBodySize, "use a positive number of bytes, 0 for no body, or null for no limit"},
		{"MaxRequestBufferSize", l.MaxRequestBufferSize, "use a positive number of bytes, or null for no limit"},
		{"MaxResponseBufferSize", l.MaxResponseBufferSize, "use a positive number of bytes, 0 for no buffer, or null for no limit"},
	} {
		if n.v != nil && *n.v < 0 && !null(n.key) {
			return base, c.limitsErr(fmt.Errorf("kestrel: Limits.%s is %d; %s", n.key, *n.v, n.fix))
		}
	}
	setBuffer := func(dst *int64, src *int64, key string) error {
		switch {
		case null(key):
			*dst = Unlimited
		case src != nil && *src == 0:
			return zero(key, "use a positive number of bytes, or null for no limit")
		case src != nil:
			*dst = *src
		}
		return nil
	}
	if n := l.MaxConcurrentConnections; n != nil {
		base.MaxConcurrentConnections = *n
		if *n == 0 {
			base.MaxConcurrentConnections = Unlimited // a server that took no connection would serve nothing
		}
	}
	switch {
	case null("MaxConcurrentUpgradedConnections"):
		base.MaxConcurrentUpgradedConnections = Unlimited
	case l.MaxConcurrentUpgradedConnections != nil && *l.MaxConcurrentUpgradedConnections == 0:
		base.MaxConcurrentUpgradedConnections = NoUpgrades // Kestrel's 0: none
	case l.MaxConcurrentUpgradedConnections != nil:
		base.MaxConcurrentUpgradedConnections = *l.MaxConcurrentUpgradedConnections
	}
	switch {
	case null("MaxRequestBodySize"):
		base.MaxRequestBodySize = Unlimited
	case l.MaxRequestBodySize != nil && *l.MaxRequestBodySize == 0:
		base.MaxRequestBodySize = NoRequestBody
	case l.MaxRequestBodySize != nil:
		base.MaxRequestBodySize = *l.MaxRequestBodySize
	}
	if err := setBuffer(&base.MaxRequestBufferSize, l.MaxRequestBufferSize, "MaxRequestBufferSize"); err != nil {
		return base, err
	}
	// Kestrel takes a response buffer of 0 (writes wait until what they
	// queued is written), which a Limits field's zero cannot say: one
	// byte, the least the engines hold, does the same.
	if l.MaxResponseBufferSize != nil && *l.MaxResponseBufferSize == 0 && !null("MaxResponseBufferSize") {
		base.MaxResponseBufferSize = 1
	} else if err := setBuffer(&base.MaxResponseBufferSize, l.MaxResponseBufferSize, "MaxResponseBufferSize"); err != nil {
		return base, err
	}
	// Timeout.InfiniteTimeSpan is no timeout, as TimeSpan.MaxValue is;
	// another negative time is an error.
	if err := errors.Join(
		c.infinite(&l.KeepAliveTimeout, "KeepAliveTimeout"),
		c.infinite(&l.RequestHeadersTimeout, "RequestHeadersTimeout"),
		c.infinite(&l.Http2.KeepAlivePingDelay, "Http2.KeepAlivePingDelay"),
		c.infinite(&l.Http2.KeepAlivePingTimeout, "Http2.KeepAlivePingTimeout"),
	); err != nil {
		return base, err
	}
	// Kestrel requires these positive: 0 is an error, not the default.
	err := errors.Join(
		positive(c, &base.MaxRequestLineSize, l.MaxRequestLineSize, "MaxRequestLineSize"),
		positive(c, &base.MaxRequestHeadersTotalSize, l.MaxRequestHeadersTotalSize, "MaxRequestHeadersTotalSize"),
		positive(c, &base.MaxRequestHeaderCount, l.MaxRequestHeaderCount, "MaxRequestHeaderCount"),
		positive(c, &base.KeepAliveTimeout, (*time.Duration)(l.KeepAliveTimeout), "KeepAliveTimeout"),
		positive(c, &base.RequestHeadersTimeout, (*time.Duration)(l.RequestHeadersTimeout), "RequestHeadersTimeout"),
		positive(c, &base.Http2.MaxStreamsPerConnection, l.Http2.MaxStreamsPerConnection, "Http2.MaxStreamsPerConnection"),
		positive(c, &base.Http2.MaxFrameSize, l.Http2.MaxFrameSize, "Http2.MaxFrameSize"),
		positive(c, &base.Http2.MaxRequestHeaderFieldSize, l.Http2.MaxRequestHeaderFieldSize, "Http2.MaxRequestHeaderFieldSize"),
		positive(c, &base.Http2.InitialConnectionWindowSize, l.Http2.InitialConnectionWindowSize, "Http2.InitialConnectionWindowSize"),
		positive(c, &base.Http2.InitialStreamWindowSize, l.Http2.InitialStreamWindowSize, "Http2.InitialStreamWindowSize"),
		positive(c, &base.Http2.KeepAlivePingTimeout, (*time.Duration)(l.Http2.KeepAlivePingTimeout), "Http2.KeepAlivePingTimeout"),
		positive(c, &base.Http3.MaxRequestHeaderFieldSize, l.Http3.MaxRequestHeaderFieldSize, "Http3.MaxRequestHeaderFieldSize"),
	)
	if err != nil {
		return base, err
	}
	// The connection age and its grace are this server's (grpc-go's and
	// nginx's), not Kestrel's: 0, null, TimeSpan.MaxValue and
	// Timeout.InfiniteTimeSpan are none; another negative time is an error.
	age := func(dst *time.Duration, src *settings.Duration, key string) error {
		switch {
		case null(key):
			*dst = 0
		case src == nil:
		case *src == infiniteTimeSpan || *src == maxTimeSpan:
			*dst = 0
		case *src < 0:
			return c.limitsErr(fmt.Errorf("kestrel: Limits.%s is %v; use a positive time, or 0 for none", key, time.Duration(*src)))
		default:
			*dst = time.Duration(*src)
		}
		return nil
	}
	if err := errors.Join(
		age(&base.MaxConnectionAge, l.MaxConnectionAge, "MaxConnectionAge"),
		age(&base.MaxConnectionAgeGrace, l.MaxConnectionAgeGrace, "MaxConnectionAgeGrace"),
	); err != nil {
		return base, err
	}
	rate := func(key string, cfg *DataRateConfig, dst **DataRate) error {
		if c.store.IsNull("Kestrel:Limits:" + key) {
			*dst = NoMinDataRate
			return nil
		}
		if cfg == nil {
			return nil
		}
		r := DataRate{BytesPerSecond: DefaultMinDataRate, GracePeriod: DefaultMinDataRateGracePeriod}
		if cfg.BytesPerSecond != nil {
			r.BytesPerSecond = *cfg.BytesPerSecond
		}
		if cfg.GracePeriod != nil {
			r.GracePeriod = time.Duration(*cfg.GracePeriod)
		}
		if err := r.check("Limits." + key); err != nil {
			return err
		}
		*dst = &r
		return nil
	}
	if err := rate("MinRequestBodyDataRate", l.MinRequestBodyDataRate, &base.MinRequestBodyDataRate); err != nil {
		return base, err
	}
	if err := rate("MinResponseDataRate", l.MinResponseDataRate, &base.MinResponseDataRate); err != nil {
		return base, err
	}
	h2, b2 := l.Http2, &base.Http2
	if h2.HeaderTableSize != nil {
		b2.HeaderTableSize = *h2.HeaderTableSize
		switch *h2.HeaderTableSize {
		case 0:
			b2.HeaderTableSize = NoHeaderTable // 0 in the file is a real zero
		case NoHeaderTable:
			return base, c.limitsErr(fmt.Errorf("kestrel: Limits.Http2.HeaderTableSize is %d; use at most %d bytes, or 0 for no table", *h2.HeaderTableSize, NoHeaderTable-1))
		}
	}
	if h2.KeepAlivePingDelay != nil {
		b2.KeepAlivePingDelay = time.Duration(*h2.KeepAlivePingDelay)
		if d := b2.KeepAlivePingDelay; d == time.Duration(maxTimeSpan) || d > 24*365*time.Hour {
			b2.KeepAlivePingDelay = 0 // TimeSpan.MaxValue: Kestrel's "off"
		}
	}
	return base, nil
}

// positive sets *dst to the file c's value of a limit Kestrel requires
// positive, if the file gives one: a 0 is an error naming the key.
func positive[T int | uint32 | time.Duration](c *Config, dst *T, src *T, key string) error {
	if src == nil {
		return nil
	}
	if *src == 0 {
		fix := "use a positive number, or leave it out for the default"
		if _, ok := any(src).(*time.Duration); ok {
			fix = "use a positive time, or leave it out for the default"
		}
		return c.limitsErr(fmt.Errorf("kestrel: Limits.%s is 0; %s", key, fix))
	}
	*dst = *src
	return nil
}

// maxTimeSpan is .NET's TimeSpan.MaxValue in Go's units, which appsettings
// files use to turn a timeout off.
const maxTimeSpan = 1<<63 - 1

// infiniteTimeSpan is .NET's Timeout.InfiniteTimeSpan (-1 ms), which
// Kestrel's timeouts also take for "none" (they store it as
// TimeSpan.MaxValue).
const infiniteTimeSpan = settings.Duration(-time.Millisecond)

// infinite makes a timeout of the file's limits that is
// Timeout.InfiniteTimeSpan TimeSpan.MaxValue, as Kestrel's setters do; any
// other negative time is an error naming the key. *d is replaced, not
// changed: it is the file's.
func (c *Config) infinite(d **settings.Duration, key string) error {
	switch v := *d; {
	case v == nil || *v >= 0:
		return nil
	case *v == infiniteTimeSpan:
		never := settings.Duration(maxTimeSpan)
		*d = &never
		return nil
	default:
		return c.limitsErr(fmt.Errorf("kestrel: Limits.%s is %v; use a positive time, or %q (Timeout.InfiniteTimeSpan) for none", key, time.Duration(*v), "-00:00:00.001"))
	}
}

// Apply configures s: limits, the server header, the shutdown timeout,
// the default certificate and the endpoints, in the file's order (they
// take precedence over URLs given to UseURLs). It logs the configuration's
// warnings to s.Logger. The middleware settings (AllowedHosts,
// ForwardedHeaders) are for the handler: see Handler. To change the
// configuration of a running server, use Server.Reload.
func (c *Config) Apply(s *Server) error {
	for _, w := range c.warnings {
		s.logger().Warn(w)
	}
	code := s.configFields()
	f, eps, err := c.resolve(code)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrServerClosed
	}
	if s.preConfig == nil {
		s.preConfig = &code // what Reload configures over
	}
	f.apply(s)
	s.endpoints = append(s.endpoints, eps...)
	s.urlConfig = c
	return nil
}

// urlEndpoints returns the endpoints of URLs (UseURLs, the ports
// settings, the default URL) with c's EndpointDefaults, as Kestrel's
// ApplyEndpointDefaults gives them to the addresses it binds: their
// protocols, TLS options, PROXY protocol, Alt-Svc and WebSockets over
// HTTP/2 and HTTP/3. A nil c (no configuration) returns a copy of eps.
func (c *Config) urlEndpoints(eps []endpoint) ([]endpoint, error) {
	if c == nil {
		return slices.Clone(eps), nil
	}
	var out []endpoint
	for i := 0; i < len(eps); {
		// The sockets of one URL share their Endpoint.
		j := i + 1
		for j < len(eps) && eps[j].from == eps[i].from {
			j++
		}
		from := eps[i].from
		if from == nil || from.URL == "" {
			out = append(out, eps[i:j]...)
			i = j
			continue
		}
		ep, err := c.endpoint("", EndpointConfig{Url: from.URL})
		if err != nil {
			return nil, err
		}
		resolved, err := ep.resolve()
		if err != nil {
			return nil, fmt.Errorf("kestrel: URL %q: %w", from.URL, err)
		}
		for k := range resolved {
			resolved[k].fromURLs = true
		}
		out = append(out, resolved...)
		i = j
	}
	return out, nil
}

// configFields are the Server fields a configuration sets.
type configFields struct {
	limits              Limits
	disableServerHeader bool
	defaultHTTPS        *HTTPS
	socketMode          fs.FileMode
	shutdownTimeout     time.Duration
	drainDelay          time.Duration
}

func (s *Server) configFields() configFields {
	return configFields{s.Limits, s.DisableServerHeader, s.DefaultHTTPS, s.UnixSocketMode, s.ShutdownTimeout, s.DrainDelay}
}

func (f configFields) apply(s *Server) {
	s.Limits, s.DisableServerHeader, s.DefaultHTTPS, s.UnixSocketMode, s.ShutdownTimeout, s.DrainDelay = f.limits, f.disableServerHeader, f.defaultHTTPS, f.socketMode, f.shutdownTimeout, f.drainDelay
}

// settings returns the settings of a server with these fields.
func (f configFields) settings() (activeSettings, error) {
	limits, err := f.limits.withDefaults()
	if err != nil {
		return activeSettings{}, err
	}
	timeout := f.shutdownTimeout
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	return activeSettings{limits: limits, serverHeader: !f.disableServerHeader, defaultHTTPS: f.defaultHTTPS,
		socketMode: f.socketMode, shutdownTimeout: timeout, drainDelay: max(f.drainDelay, 0)}, nil
}

// resolve returns the fields as the configuration sets them over base,
// and the sockets of its endpoints, in its order. The error names every
// key at fault.
func (c *Config) resolve(base configFields) (configFields, []endpoint, error) {
	f := base
	limits, err := c.limits(base.limits)
	if err != nil {
		return f, nil, c.limitsErr(err)
	}
	if _, err := limits.withDefaults(); err != nil {
		return f, nil, c.limitsErr(err)
	}
	f.limits = limits
	if c.AddServerHeader != nil {
		f.disableServerHeader = !*c.AddServerHeader
	}
	var errs []error
	if c.ShutdownTimeout != nil {
		if d := time.Duration(*c.ShutdownTimeout); d > 0 {
			f.shutdownTimeout = d
		} else {
			errs = append(errs, c.keyErr("Kestrel:ShutdownTimeout", fmt.Errorf("%v: use a positive duration, such as \"00:00:30\" or \"30s\"", d)))
		}
	}
	if c.DrainDelay != nil {
		if d := time.Duration(*c.DrainDelay); d >= 0 {
			f.drainDelay = d
		} else {
			errs = append(errs, c.keyErr("Kestrel:DrainDelay", fmt.Errorf("%v: use a duration of zero or more, such as \"00:00:05\" or \"5s\"", d)))
		}
	}
	if _, _, err := c.StatusPage(); err != nil {
		errs = append(errs, err)
	}
	if c.EndpointDefaults.SocketMode != "" {
		if m, err := parseSocketMode(c.EndpointDefaults.SocketMode); err != nil {
			errs = append(errs, c.keyErr("Kestrel:EndpointDefaults:SocketMode", err))
		} else {
			f.socketMode = m
		}
	}
	if def, ok := lookupFold(c.Certificates, "Default"); ok {
		h, err := c.https("Kestrel:Certificates:Default", &def, EndpointConfig{})
		if err != nil {
			errs = append(errs, err)
		} else {
			h.origin = c.source("Kestrel:Certificates:Default") + "Kestrel:Certificates:Default"
			f.defaultHTTPS = h
		}
		if c.Acme != nil && def.Acme == nil {
			errs = append(errs, c.keyErr("Kestrel:Acme", errors.New("Kestrel:Acme and Kestrel:Certificates:Default both give the default certificate; keep one")))
		}
	} else if c.Acme != nil {
		if c.defaultACME == nil {
			a, err := c.acme("Kestrel:Acme", c.Acme.merge(nil))
			if err != nil {
				errs = append(errs, err)
			}
			c.defaultACME = a
		}
		if c.defaultACME != nil {
			f.defaultHTTPS = &HTTPS{ACME: c.defaultACME}
		}
	}
	var eps []endpoint
	for _, name := range c.endpointNames() {
		ep, err := c.endpoint(name, c.Endpoints[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		key := "Kestrel:Endpoints:" + name
		resolved, err := ep.resolve()
		if err != nil {
			errs = append(errs, c.keyErr(key+":Url", err))
			continue
		}
		origin := c.source(key) + key
		for i := range resolved {
			resolved[i].fromConfig, resolved[i].origin = true, origin
		}
		eps = append(eps, resolved...)
	}
	return f, eps, errors.Join(errs...)
}

// endpointNames returns the names of the endpoints in the order the
// configuration gives them; those it does not know the order of (added to
// Endpoints in code) follow, sorted.
func (c *Config) endpointNames() []string {
	var names []string
	ordered := make(map[string]bool)
	if c.store != nil {
		for _, n := range c.store.Children("Kestrel:Endpoints") {
			if _, ok := c.Endpoints[n]; ok {
				names = append(names, n)
				ordered[n] = true
			}
		}
	}
	var rest []string
	for n := range c.Endpoints {
		if !ordered[n] {
			rest = append(rest, n)
		}
	}
	slices.Sort(rest)
	return append(names, rest...)
}

func (c *Config) endpoint(name string, e EndpointConfig) (Endpoint, error) {
	key := "Kestrel:Endpoints:" + name
	if e.Url == "" {
		return Endpoint{}, c.missing(key+":Url", "every endpoint needs a Url, such as \"http://localhost:5000\"")
	}
	ep := Endpoint{URL: e.Url, ReusePort: e.ReusePort, LogConnections: e.LogConnections}
	ep.ProxyProtocol = proxyProtocolConfig(e.ProxyProtocol, c.EndpointDefaults.ProxyProtocol)
	if d := e.DisableAltSvcHeader; d != nil {
		ep.DisableAltSvcHeader = *d
	} else if d := c.EndpointDefaults.DisableAltSvcHeader; d != nil {
		ep.DisableAltSvcHeader = *d
	}
	if d := e.EnableWebSocketsOverHTTP2; d != nil {
		ep.EnableWebSocketsOverHTTP2 = *d
	} else if d := c.EndpointDefaults.EnableWebSocketsOverHTTP2; d != nil {
		ep.EnableWebSocketsOverHTTP2 = *d
	}
	protocols := e.Protocols
	if protocols == "" {
		protocols = c.EndpointDefaults.Protocols
	}
	if protocols != "" {
		p, err := ParseProtocols(protocols)
		if err != nil {
			pkey := key + ":Protocols"
			if e.Protocols == "" {
				pkey = "Kestrel:EndpointDefaults:Protocols"
			}
			return ep, c.keyErr(pkey, err)
		}
		ep.Protocols = p
	}
	if e.SocketMode != "" {
		m, err := parseSocketMode(e.SocketMode)
		if err != nil {
			return ep, c.keyErr(key+":SocketMode", err)
		}
		if u := strings.ToLower(e.Url); !strings.HasPrefix(u, "unix:") && !strings.Contains(u, "://unix:") {
			return ep, c.keyErr(key+":SocketMode", fmt.Errorf("applies to Unix socket endpoints only (Url is %q); remove it", e.Url))
		}
		ep.UnixSocketMode = m
	}
	isHTTPS := strings.HasPrefix(strings.ToLower(e.Url), "https:")
	hasTLSKeys := e.Certificate != nil || len(e.Sni) > 0 || e.ClientCertificateMode != "" || len(e.SslProtocols) > 0 || len(e.SessionTicketKeyFiles) > 0
	if !isHTTPS {
		if hasTLSKeys {
			return ep, c.keyErr(key, fmt.Errorf("the keys Certificate, Sni, ClientCertificateMode, SslProtocols and SessionTicketKeyFiles apply to https:// endpoints only (Url is %q)", e.Url))
		}
		return ep, nil
	}
	if !hasTLSKeys && c.EndpointDefaults.ClientCertificateMode == "" && len(c.EndpointDefaults.SslProtocols) == 0 && len(c.EndpointDefaults.SessionTicketKeyFiles) == 0 {
		return ep, nil // the default certificate
	}
	h, err := c.https(key, e.Certificate, e)
	if err != nil {
		return ep, err
	}
	ep.HTTPS = h
	return ep, nil
}

// proxyProtocolConfig merges an endpoint's ProxyProtocol section over
// EndpointDefaults' one; nil when neither is present.
func proxyProtocolConfig(own, def *ProxyProtocolConfig) *ProxyProtocol {
	if own == nil && def == nil {
		return nil
	}
	var pp ProxyProtocol
	for _, c := range []*ProxyProtocolConfig{def, own} {
		if c == nil {
			continue
		}
		if len(c.TrustedProxies) > 0 {
			pp.TrustedProxies = c.TrustedProxies
		}
		if c.Required != nil {
			pp.Required = *c.Required
		}
		if c.HeaderTimeout != nil {
			pp.HeaderTimeout = time.Duration(*c.HeaderTimeout)
		}
	}
	return &pp
}

// https builds HTTPS options from certificate and endpoint keys, with
// EndpointDefaults for what the endpoint does not set.
func (c *Config) https(key string, cert *CertificateConfig, e EndpointConfig) (*HTTPS, error) {
	h := &HTTPS{}
	if cert != nil && cert.Acme != nil {
		ckey := key + ":Certificate"
		if strings.HasPrefix(key, "Kestrel:Certificates:") {
			ckey = key
		}
		if cert.Path != "" || cert.KeyPath != "" {
			return nil, c.keyErr(ckey, errors.New("Path and Acme both give the certificate; keep one"))
		}
		if len(e.Sni) > 0 {
			return nil, c.keyErr(key+":Sni", errors.New("an endpoint whose certificate comes from ACME (Certificate:Acme) takes no Sni entries: ACME serves the names of its Domains; list the names there, or serve the Sni entries on another endpoint"))
		}
		if cert.DisableOcspStapling {
			return nil, c.keyErr(ckey+":DisableOcspStapling", errors.New("applies to certificate files (Path); the OCSP responses of ACME certificates are stapled by the ACME manager; remove the key"))
		}
		a, err := c.acme(ckey+":Acme", cert.Acme.merge(c.Acme))
		if err != nil {
			return nil, err
		}
		h.ACME = a
	} else if cert != nil {
		if cert.Path == "" {
			ckey := key + ":Certificate"
			if strings.HasPrefix(key, "Kestrel:Certificates:") {
				ckey = key
			}
			return nil, c.missing(ckey+":Path", "name the certificate file (a .pfx, or a PEM certificate with KeyPath for its key)")
		}
		h.CertificateFile, h.KeyFile, h.Password = c.path(cert.Path), c.path(cert.KeyPath), cert.Password
		h.DisableOCSPStapling = cert.DisableOcspStapling
	}
	mode := e.ClientCertificateMode
	if mode == "" {
		mode = c.EndpointDefaults.ClientCertificateMode
	}
	protocols := e.SslProtocols
	if len(protocols) == 0 {
		protocols = c.EndpointDefaults.SslProtocols
	}
	tickets := e.SessionTicketKeyFiles
	if len(tickets) == 0 {
		tickets = c.EndpointDefaults.SessionTicketKeyFiles
	}
	for i, p := range tickets {
		if p == "" {
			tkey := key + ":SessionTicketKeyFiles:" + strconv.Itoa(i)
			if len(e.SessionTicketKeyFiles) == 0 {
				tkey = "Kestrel:EndpointDefaults:SessionTicketKeyFiles:" + strconv.Itoa(i)
			}
			return nil, c.missing(tkey, "name a session ticket key file (48 or 80 random bytes: `openssl rand 80 > ticket.key`)")
		}
		h.SessionTicketKeyFiles = append(h.SessionTicketKeyFiles, c.path(p))
	}
	var err error
	if h.ClientCertificateMode, h.MinVersion, h.MaxVersion, err = c.tlsOptions(key, e.ClientCertificateMode, mode, len(e.SslProtocols) > 0, protocols); err != nil {
		return nil, err
	}
	if len(e.Sni) > 0 {
		h.SNI = map[string]SNI{}
		for host, sc := range e.Sni {
			skey := key + ":Sni:" + host
			var sni SNI
			switch {
			case sc.Certificate != nil && sc.Certificate.Path != "":
				sni = SNI{CertificateFile: c.path(sc.Certificate.Path), KeyFile: c.path(sc.Certificate.KeyPath), Password: sc.Certificate.Password,
					DisableOCSPStapling: sc.Certificate.DisableOcspStapling}
			case sc.Certificate != nil:
				return nil, c.missing(skey+":Certificate:Path", "name the entry's certificate file, or leave Certificate out for the endpoint's")
			case cert == nil:
				// The endpoint's certificate, which is the default one
				// (Certificates:Default, then the development
				// certificate), as Kestrel's endpoint without a
				// Certificate takes it.
				h.defaultCertificate = true
			}
			if sni.ClientCertificateMode, sni.MinVersion, sni.MaxVersion, err = c.tlsOptions(skey, sc.ClientCertificateMode, sc.ClientCertificateMode, true, sc.SslProtocols); err != nil {
				return nil, err
			}
			if sc.Protocols != "" {
				if sni.Protocols, err = ParseProtocols(sc.Protocols); err != nil {
					return nil, c.keyErr(skey+":Protocols", err)
				}
			}
			h.SNI[host] = sni
		}
	} else if cert == nil {
		// Options without a certificate of the endpoint's own: the default
		// certificate, with these options.
		h.defaultCertificate = true
	}
	return h, nil
}

// parseSocketMode parses the octal permissions of a Unix socket file.
func parseSocketMode(text string) (fs.FileMode, error) {
	m, err := strconv.ParseUint(text, 8, 32)
	if err != nil || m == 0 || m > 0o777 {
		return 0, fmt.Errorf("%q is not an octal file mode such as \"0660\"", text)
	}
	return fs.FileMode(m), nil
}

// path resolves a relative file path against the content root.
func (c *Config) path(p string) string {
	if p == "" || c.dir == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// tlsOptions parses the ClientCertificateMode and SslProtocols keys under
// key, or EndpointDefaults' when the endpoint does not set them (own
// says whether the protocols are the endpoint's); empty values leave the
// defaults.
func (c *Config) tlsOptions(key, ownMode, mode string, own bool, protocols []string) (m ClientCertificateMode, lo, hi uint16, err error) {
	if mode != "" {
		if m, err = ParseClientCertificateMode(mode); err != nil {
			mkey := key + ":ClientCertificateMode"
			if ownMode == "" {
				mkey = "Kestrel:EndpointDefaults:ClientCertificateMode"
			}
			return 0, 0, 0, c.keyErr(mkey, err)
		}
	}
	if len(protocols) > 0 {
		pkey := key + ":SslProtocols"
		if !own {
			pkey = "Kestrel:EndpointDefaults:SslProtocols"
		}
		if lo, hi, err = certs.ParseSslProtocols(strings.Join(protocols, ",")); err != nil {
			return 0, 0, 0, c.keyErr(pkey, err)
		}
		if lo < tls.VersionTLS12 {
			return 0, 0, 0, c.keyErr(pkey, errors.New("TLS before 1.2 is not supported"))
		}
	}
	return m, lo, hi, nil
}

// keyErr is the error of a key: it names where its value came from (the
// file, a flag, an environment variable) and the key, and drops the
// prefixes of the packages the error comes through.
func (c *Config) keyErr(key string, err error) error {
	return &configError{prefix: c.source(key) + key + ": ", err: err}
}

// missing is the error of a key that must be set: it names the source of
// the section it is missing from.
func (c *Config) missing(key, why string) error {
	return &configError{prefix: c.source(key), err: fmt.Errorf("%s is missing: %s", key, why)}
}

// source is "SOURCE: " for the source of key or, if it is not set, of the
// nearest section above it that is; "" when there is none (a Config built
// in code).
func (c *Config) source(key string) string {
	for k := key; k != ""; {
		if src := c.store.Source(k); src != "" {
			return src + ": "
		}
		i := strings.LastIndexByte(k, ':')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return ""
}

// limitField is a field of Limits named in an error of Limits.
var limitField = regexp.MustCompile(`\bLimits(\.[A-Za-z0-9]+)+`)

// limitsErr is an error of Limits (which names fields such as
// Limits.Http2.MaxFrameSize) as an error of the configuration: the first
// field named becomes its key (Kestrel:Limits:Http2:MaxFrameSize), with
// the source of its value.
func (c *Config) limitsErr(err error) error {
	field := limitField.FindString(err.Error())
	if field == "" {
		return err
	}
	key := "Kestrel:" + strings.ReplaceAll(field, ".", ":")
	msg := strings.TrimPrefix(err.Error(), "kestrel: ")
	msg = limitField.ReplaceAllStringFunc(msg, func(f string) string { return "Kestrel:" + strings.ReplaceAll(f, ".", ":") })
	return &configError{prefix: c.source(key), err: &wrapped{msg: msg, err: err}}
}

// wrapped is err with another message.
type wrapped struct {
	msg string
	err error
}

func (e *wrapped) Error() string { return e.msg }
func (e *wrapped) Unwrap() error { return e.err }

// configError is an error of a configuration key, "kestrel: SOURCE: KEY:
// message"; it unwraps to the error it describes.
type configError struct {
	prefix string
	err    error
}

func (e *configError) Error() string {
	msg := e.err.Error()
	for _, p := range []string{"kestrel: ", "certs: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return "kestrel: " + e.prefix + msg
}

func (e *configError) Unwrap() error { return e.err }

// certificateStoreKeys are the keys of a certificate in ASP.NET's
// configuration that select it from a certificate store.
var certificateStoreKeys = []string{"Subject", "Store", "Location", "AllowInvalid"}

// certificateStoreHint explains the keys of a certificate store under a
// Certificate section (of an endpoint, an Sni entry, or
// Kestrel:Certificates), which Go has no counterpart of.
func certificateStoreHint(key string) (about, explanation string, ok bool) {
	segs := strings.Split(key, ":")
	if len(segs) < 3 || !slices.ContainsFunc(certificateStoreKeys, func(k string) bool { return strings.EqualFold(k, segs[len(segs)-1]) }) {
		return "", "", false
	}
	parent := segs[len(segs)-2]
	inCertificates := len(segs) == 4 && strings.EqualFold(segs[1], "Certificates")
	if !strings.EqualFold(parent, "Certificate") && !inCertificates {
		return "", "", false
	}
	return strings.Join(segs[:len(segs)-1], ":"),
		"Subject, Store, Location and AllowInvalid select a certificate from a certificate store, which only Windows/.NET has; " +
			"name the certificate's files instead: Path (a .pfx with Password, or a PEM certificate) and KeyPath (its PEM private key)", true
}

func lookupFold[V any](m map[string]V, key string) (V, bool) {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	var zero V
	return zero, false
}

// StatusPage returns the path of the status page Kestrel:Status asks
// for ("" for none) and its options, for Server.StatusHandler: the
// kestrel command serves it at that path ahead of the application and
// its middleware. The path must begin with "/"; the networks are CIDR
// ranges or single addresses.
func (c *Config) StatusPage() (path string, opts StatusOptions, err error) {
	st := c.Status
	if st.Path != "" && (!strings.HasPrefix(st.Path, "/") || st.Path == "/") {
		return "", opts, c.keyErr("Kestrel:Status:Path", fmt.Errorf("%q: use a path beginning with /, such as /status", st.Path))
	}
	for i, n := range st.AllowedNetworks {
		p, err := netip.ParsePrefix(strings.TrimSpace(n))
		if err != nil {
			a, aerr := netip.ParseAddr(strings.TrimSpace(n))
			if aerr != nil {
				return "", StatusOptions{}, c.keyErr("Kestrel:Status:AllowedNetworks:"+strconv.Itoa(i), fmt.Errorf("%q is not a network such as 10.8.0.0/16 or an address", n))
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		opts.AllowedNetworks = append(opts.AllowedNetworks, p.Masked())
	}
	return st.Path, opts, nil
}

// parseForwardedHeaders parses ASP.NET's ForwardedHeaders flags, separated
// by commas.
func parseForwardedHeaders(text string) (forwardedheaders.Header, error) {
	var hs forwardedheaders.Header
	for _, f := range strings.Split(text, ",") {
		switch strings.ToLower(strings.TrimSpace(f)) {
		case "none":
		case "xforwardedfor":
			hs |= forwardedheaders.XForwardedFor
		case "xforwardedproto":
			hs |= forwardedheaders.XForwardedProto
		case "xforwardedhost":
			hs |= forwardedheaders.XForwardedHost
		case "all":
			hs |= forwardedheaders.XForwardedFor | forwardedheaders.XForwardedProto | forwardedheaders.XForwardedHost
		case "forwarded":
			hs |= forwardedheaders.Forwarded
		default:
			return 0, fmt.Errorf("unknown header %q (use XForwardedFor, XForwardedProto, XForwardedHost, All, Forwarded or None, separated by commas)", strings.TrimSpace(f))
		}
	}
	return hs, nil
}

// Handler returns h behind the middleware the configuration asks for, as
// the kestrel command runs it: the forwarded headers first
// (Kestrel:ForwardedHeaders; on unless Enabled is false, trusting proxies
// on loopback and Unix sockets unless KnownProxies or KnownNetworks say
// otherwise), so the app sees the client's address, scheme and host
// behind nginx; then the host filter (AllowedHosts), which answers 400 to
// a Host that is not allowed. Apply leaves the handler alone: set
// Server.Handler to what Handler returns.
//
// Each of wrap, when given, goes between the two (innermost first): it
// sees the client's address and every request, even those the host filter
// refuses, the place for an access log.
func (c *Config) Handler(h http.Handler, wrap ...func(http.Handler) http.Handler) (http.Handler, error) {
	if c.AllowedHosts != "" {
		h = hostfiltering.Handler(h, hostfiltering.Options{AllowedHosts: hostfiltering.ParseAllowedHosts(c.AllowedHosts)})
	}
	for _, w := range wrap {
		h = w(h)
	}
	fc := c.ForwardedHeaders
	if fc.Enabled != nil && !*fc.Enabled {
		return h, nil
	}
	opts := forwardedheaders.Options{}
	switch {
	case c.store.IsNull("Kestrel:ForwardedHeaders:ForwardLimit"):
		opts.ForwardLimit = forwardedheaders.Unlimited
	case fc.ForwardLimit != nil && *fc.ForwardLimit < 0:
		return nil, c.keyErr("Kestrel:ForwardedHeaders:ForwardLimit", fmt.Errorf("%d is negative; use the most hops to apply, or null for no limit", *fc.ForwardLimit))
	case fc.ForwardLimit != nil && *fc.ForwardLimit == 0:
		return h, nil // no hop to apply, as ASP.NET's limit of 0
	case fc.ForwardLimit != nil:
		opts.ForwardLimit = *fc.ForwardLimit
	}
	if fc.ForwardedHeaders != "" {
		hs, err := parseForwardedHeaders(fc.ForwardedHeaders)
		if err != nil {
			return nil, c.keyErr("Kestrel:ForwardedHeaders:ForwardedHeaders", err)
		}
		if hs == 0 {
			return h, nil // None
		}
		opts.Headers = hs
	}
	for i, p := range fc.KnownProxies {
		a, err := netip.ParseAddr(p)
		if err != nil {
			return nil, fmt.Errorf("kestrel: Kestrel:ForwardedHeaders:KnownProxies:%d: %q is not an IP address", i, p)
		}
		opts.KnownProxies = append(opts.KnownProxies, a)
	}
	if fc.KnownNetworks != nil {
		opts.KnownNetworks = []netip.Prefix{}
		for i, n := range fc.KnownNetworks {
			p, err := netip.ParsePrefix(n)
			if err != nil {
				return nil, fmt.Errorf("kestrel: Kestrel:ForwardedHeaders:KnownNetworks:%d: %q is not a network such as 10.0.0.0/8", i, n)
			}
			opts.KnownNetworks = append(opts.KnownNetworks, p)
		}
	}
	return forwardedheaders.Handler(h, opts), nil
}
