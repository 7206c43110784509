package staticfiles

import (
	"path"
	"strings"
)

// contentType returns the media type of a file from its extension:
// Options.ContentTypes, then the built-in table, then
// Options.DefaultContentType. Text types get "; charset=utf-8".
func (h *Handler) contentType(name string) string {
	ext := strings.ToLower(strings.TrimPrefix(path.Ext(name), "."))
	if t, ok := h.types[ext]; ok {
		return t
	}
	if t := TypeByExtension(ext); t != "" {
		return t
	}
	return h.opts.DefaultContentType
}

// TypeByExtension returns the media type the handler sends for a file
// extension such as ".js" or "js" (case-insensitive) when no option
// overrides it, "" when the built-in table does not have it. The table is
// the same on every OS.
func TypeByExtension(ext string) string {
	t := builtinTypes[strings.ToLower(strings.TrimPrefix(ext, "."))]
	if strings.HasPrefix(t, "text/") {
		t += "; charset=utf-8"
	}
	return t
}

// compressible reports whether a media type is text or another format
// that compresses well and is not compressed already.
func compressible(ctype string) bool {
	t, _, _ := strings.Cut(ctype, ";")
	t = strings.TrimSpace(strings.ToLower(t))
	if strings.HasPrefix(t, "text/") || strings.HasSuffix(t, "+json") || strings.HasSuffix(t, "+xml") {
		return true
	}
	switch t {
	case "application/javascript", "application/json", "application/xml", "application/wasm",
		"application/yaml", "application/toml", "application/x-sh", "application/x-javascript",
		"application/rtf", "application/x-subrip", "application/vnd.apple.mpegurl",
		"application/vnd.ms-fontobject", "font/ttf", "font/otf", "font/collection",
		"image/bmp", "image/x-icon", "image/vnd.microsoft.icon", "image/svg+xml":
		return true
	}
	return false
}
