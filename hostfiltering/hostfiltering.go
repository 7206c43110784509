// Package hostfiltering restricts the Host header values a server answers
// to, as ASP.NET Core's HostFilteringMiddleware does: a server that binds
// every address otherwise answers for any name that points at it.
package hostfiltering

import (
	"net/http"
	"strings"

	"golang.org/x/net/idna"
)

// Options lists the allowed hosts.
type Options struct {
	// AllowedHosts are host names without ports: "example.com",
	// "*.example.com" (any subdomain, not example.com itself), IP
	// addresses, "[::1]" for IPv6, or "*" (or "[::]" or "0.0.0.0", as in
	// ASP.NET) for any host. Matching ignores case, the request's port and
	// a trailing dot; names in Unicode match their punycode form
	// ("bücher.example" allows "xn--bcher-kva.example"), as browsers send
	// them.
	AllowedHosts []string

	// RejectEmptyHost refuses requests without a Host (HTTP/1.0); they are
	// allowed by default, as in ASP.NET.
	RejectEmptyHost bool

	// IncludeFailureMessage puts the reason in the 400 response body.
	IncludeFailureMessage bool
}

// ParseAllowedHosts splits ASP.NET's semicolon-separated form:
// "example.com;*.example.com".
func ParseAllowedHosts(s string) []string {
	var out []string
	for _, h := range strings.Split(s, ";") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	return out
}

// Handler returns a handler that answers 400 Bad Request to requests whose
// Host is not allowed and passes the others to next. With no hosts, or
// "*" among them, every host is allowed (and with RejectEmptyHost, every
// request that has one).
func Handler(next http.Handler, opts Options) http.Handler {
	var exact []string
	var suffixes []string
	anyHost := false
	for _, h := range opts.AllowedHosts {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case h == "*" || h == "[::]" || h == "0.0.0.0":
			anyHost = true
		case strings.HasPrefix(h, "*."):
			suffixes = append(suffixes, "."+punycode(strings.TrimSuffix(h[2:], ".")))
		case h != "":
			exact = append(exact, punycode(strings.TrimSuffix(strings.Trim(h, "[]"), ".")))
		}
	}
	anyHost = anyHost || len(exact) == 0 && len(suffixes) == 0
	if anyHost && !opts.RejectEmptyHost {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := hostOnly(r.Host)
		// Only a request without a Host is "empty"; ":80" or "[]" is not
		// a host, and is refused.
		ok := r.Host == "" && !opts.RejectEmptyHost || r.Host != "" && anyHost
		for _, e := range exact {
			ok = ok || host == e
		}
		for _, s := range suffixes {
			ok = ok || len(host) > len(s) && strings.HasSuffix(host, s)
		}
		if !ok {
			msg := ""
			if opts.IncludeFailureMessage {
				msg = "Invalid Hostname"
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(msg))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostOnly returns the lower-case host of a Host value, without port or
// IPv6 brackets.
func hostOnly(h string) string {
	h = strings.ToLower(h)
	if strings.HasPrefix(h, "[") {
		if end := strings.IndexByte(h, ']'); end > 0 {
			return h[1:end]
		}
		return h
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.Count(h, ":") == 1 {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ".")
}

// punycode returns a host name's ASCII form, as clients send it: a name in
// Unicode converted label by label; an ASCII one, or one that does not
// convert, as it is.
func punycode(h string) string {
	if a, err := idna.Lookup.ToASCII(h); err == nil {
		return a
	}
	return h
}
