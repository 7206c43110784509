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
// segment that starts with a dot, except ".well-known" (RFC 8615), and on
// Windows for a segment in the form of an 8.3 short name, trailing dots
// and spaces aside.
func cleanName(p string) (name string, slash bool, status int) {
	return cleanNameOn(p, runtime.GOOS == "windows")
}

// cleanNameOn is cleanName with the Windows rules when windows is set.
func cleanNameOn(p string, windows bool) (name string, slash bool, status int) {
	if strings.ContainsAny(p, "\\\x00") || windows && strings.IndexByte(p, ':') >= 0 {
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
		case windows && isShortName(strings.TrimRight(seg, ". ")):
			// A short name can name what a long one hides: ENV~1 is
			// .env, GIT~1 the .git folder, and NTFS answers to both.
			// Windows drops a name's trailing dots and spaces (os.Root
			// cleans names with GetFullPathName), so "ENV~1.." and
			// "ENV~1 " are ENV~1 too.
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

// isShortName reports whether seg has the form of an 8.3 short name that
// Windows generates for a long one: up to six characters, a tilde and a
// number, eight in all, then an extension of up to three characters
// ("ENV~1", "GITIGN~1", "AB12~1.TXT"). Any case matches, as NTFS's names
// do.
func isShortName(seg string) bool {
	base, ext, _ := strings.Cut(seg, ".")
	tilde := strings.LastIndexByte(base, '~')
	if tilde < 1 || tilde == len(base)-1 || len(base) > 8 || len(ext) > 3 || strings.IndexByte(ext, '.') >= 0 {
		return false
	}
	for i := tilde + 1; i < len(base); i++ {
		if base[i] < '0' || base[i] > '9' {
			return false
		}
	}
	return true
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
