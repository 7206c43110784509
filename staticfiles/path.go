package staticfiles

import (
	"net/http"
	"path"
	"runtime"
	"strings"
)

// cleanName turns a URL path into a file name relative to the root ("" for
// the root itself) and reports whether the path ended in a slash. A status
// other than 0 refuses the path: 400 for "..", backslashes and NUL bytes
// (and ":" on Windows, where it names alternate data streams), 404 for a
// segment that starts with a dot, except ".well-known" (RFC 8615).
func cleanName(p string) (name string, slash bool, status int) {
	if strings.ContainsAny(p, "\\\x00") || runtime.GOOS == "windows" && strings.IndexByte(p, ':') >= 0 {
		return "", false, http.StatusBadRequest
	}
	hidden := false
	for rest := p; rest != ""; {
		var seg string
		seg, rest, _ = strings.Cut(rest, "/")
		switch {
		case seg == "..":
			return "", false, http.StatusBadRequest
		case seg == "." || seg == "" || seg == ".well-known":
		case seg[0] == '.':
			hidden = true
		}
	}
	if hidden {
		return "", false, http.StatusNotFound
	}
	slash = strings.HasSuffix(p, "/")
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return path.Clean(p)[1:], slash, 0 // no allocation for a clean path
}

// hasEncodedSlash reports whether an escaped path encodes a slash or a
// backslash, which would let one path segment name two.
func hasEncodedSlash(raw string) bool {
	for i := 0; i+2 < len(raw); i++ {
		if raw[i] == '%' {
			switch raw[i+1 : i+3] {
			case "2f", "2F", "5c", "5C":
				return true
			}
		}
	}
	return false
}

// hasExtension reports whether the last segment of a URL path has a dot
// that is not its first byte.
func hasExtension(p string) bool {
	base := p[strings.LastIndexByte(p, '/')+1:]
	return strings.LastIndexByte(base, '.') > 0
}
