// Package hostfiltering restricts the Host header values a server answers
// to, as ASP.NET Core's HostFilteringMiddleware does: a server that binds
// every address otherwise answers for any name that points at it.
package hostfiltering

import (
	"net/http"
	"strings"
)

// Options lists the allowed hosts.
type Options struct {
	// AllowedHosts are host names without ports: "example.com",
	// "*.example.com" (any subdomain, not example.com itself), IP
	// addresses, "[::1]" for IPv6, or "*" for any host. Matching ignores
	// case and the request's port.
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
// "*" among them, every host is allowed.
func Handler(next http.Handler, opts Options) http.Handler {
	var exact []string
	var suffixes []string
	for _, h := range opts.AllowedHosts {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case h == "*":
			return next
		case strings.HasPrefix(h, "*."):
			suffixes = append(suffixes, h[1:])
		case h != "":
			exact = append(exact, strings.TrimSuffix(strings.Trim(h, "[]"), "."))
		}
	}
	if len(exact) == 0 && len(suffixes) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := hostOnly(r.Host)
		ok := host == "" && !opts.RejectEmptyHost
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
