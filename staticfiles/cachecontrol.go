package staticfiles

import (
	"path"
	"strings"
)

// cacheControl returns the Cache-Control value for the file at name (a
// path from the root): the first matching rule, "immutable" for a
// fingerprinted name, else Options.CacheControl.
func (h *Handler) cacheControl(name string) string {
	full := "/" + name
	base := path.Base(full)
	for _, r := range h.opts.CacheRules {
		subject := base
		if strings.Contains(r.Pattern, "/") {
			subject = full
		}
		if ok, _ := path.Match(r.Pattern, subject); ok {
			return r.Value
		}
	}
	if fingerprinted(base) {
		return immutableCacheControl
	}
	return h.opts.CacheControl
}

// fingerprinted reports whether a file name carries a content hash, the
// way bundlers name assets so that a new version gets a new name and the
// old one can be cached for ever:
//
//   - a dot- or dash-separated part of 8 or more hexadecimal digits, with
//     at least one digit and one letter (webpack, Parcel, Angular, Rails:
//     app.3f2a9c1b.js, main.3f2a9c1b.chunk.js, application-9f86d08...css);
//   - 8 characters of a base64url or base32 hash right before the
//     extension, after a dash or dot, with at least one digit and either
//     both letter cases or only upper-case letters (Vite and Rollup:
//     index-BwMF3m-x.js; esbuild: chunk-5TN2ZQYH.js).
//
// Names such as jquery-3.7.1.min.js, report-20240115.pdf or
// user-settings.js are not fingerprinted.
func fingerprinted(name string) bool {
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 {
		return false
	}
	stem := name[:dot]
	// Every part but the first, split at dots and dashes.
	parts := strings.FieldsFunc(stem, func(r rune) bool { return r == '.' || r == '-' })
	for i, p := range parts {
		if i > 0 && len(p) >= 8 && isHexHash(p) {
			return true
		}
	}
	if len(stem) < 9 {
		return false
	}
	if sep := stem[len(stem)-9]; sep != '-' && sep != '.' {
		return false
	}
	var digit, upper bool
	for _, c := range []byte(stem[len(stem)-8:]) {
		switch {
		case '0' <= c && c <= '9':
			digit = true
		case 'A' <= c && c <= 'Z':
			upper = true
		case 'a' <= c && c <= 'z', c == '-', c == '_':
		default:
			return false
		}
	}
	return digit && upper
}

// isHexHash reports whether s is hexadecimal digits of one case with at
// least one digit and one letter.
func isHexHash(s string) bool {
	var digit, lower, upper bool
	for _, c := range []byte(s) {
		switch {
		case '0' <= c && c <= '9':
			digit = true
		case 'a' <= c && c <= 'f':
			lower = true
		case 'A' <= c && c <= 'F':
			upper = true
		default:
			return false
		}
	}
	return digit && (lower != upper)
}
