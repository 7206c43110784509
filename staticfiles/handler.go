package staticfiles

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a [Handler]. The zero value serves a folder the way
// most sites want: default files, precompressed siblings, compression on
// the fly, "no-cache" for ordinary names and a year's "immutable" for
// fingerprinted ones, no listings and no fallback.
type Options struct {
	// DefaultFiles are the names tried, in order, for a request for a
	// folder ("/docs/"). Nil means ASP.NET's list: default.htm,
	// default.html, index.htm, index.html. An empty, non-nil slice turns
	// default files off.
	DefaultFiles []string

	// Fallback, when set, is the file (a path from the root, such as
	// "index.html") served with 200 for a GET or HEAD whose path names no
	// file and whose last segment has no extension: the client-side routes
	// of a single-page app ("/users/42"). Paths with an extension
	// ("/app.js", "/logo.png") still answer 404.
	Fallback string

	// Browse turns on directory listings for folders without a default
	// file. They are off by default, as in ASP.NET.
	Browse bool

	// CacheControl is the Cache-Control value for files that no rule in
	// CacheRules matches and whose names are not fingerprinted. Empty means
	// "no-cache": caches keep the file but revalidate it (a cheap 304) on
	// every use, so a new deployment is seen at once.
	CacheControl string

	// CacheRules choose Cache-Control by file path; the first match wins.
	// Names with a content hash that no rule matches (app.3f2a9c1b.js,
	// main-BwMF3m-x.js, chunk-5TN2ZQYH.js) get
	// "public, max-age=31536000, immutable".
	CacheRules []CacheRule

	// DisableCompression turns off compression on the fly.
	DisableCompression bool

	// DisablePrecompressed turns off precompressed siblings: app.js.br,
	// app.js.zst and app.js.gz are then served only when asked for by name.
	DisablePrecompressed bool

	// ContentTypes adds to or overrides the built-in table of media types,
	// by extension (".webmanifest" or "webmanifest", case-insensitive).
	ContentTypes map[string]string

	// DefaultContentType is the media type of files whose extension is in
	// no table. Empty means "application/octet-stream".
	DefaultContentType string

	// CheckInterval bounds how long a cached folder or path resolution is
	// trusted before it is checked against the disk again (see the package
	// documentation). Zero means 1 s; a negative value checks on every
	// request.
	CheckInterval time.Duration

	// MaxOpenFiles bounds the files kept open. Zero means 1024.
	MaxOpenFiles int

	// MaxCompressedBytes bounds the memory held by compressed copies of
	// files. Zero means 64 MiB; files whose copies do not fit are
	// compressed as they are sent.
	MaxCompressedBytes int64

	// Logger receives errors that answer 500. Nil means slog.Default().
	Logger *slog.Logger
}

// A CacheRule sets the Cache-Control of the files whose path matches
// Pattern.
type CacheRule struct {
	// Pattern is a path.Match pattern. With a slash it is matched against
	// the file's path from the root, with a leading slash ("/assets/*",
	// "/index.html"); without one, against the file's base name
	// ("*.woff2").
	Pattern string
	// Value is the Cache-Control value, such as "public, max-age=3600".
	Value string
}

const (
	defaultCheckInterval      = time.Second
	defaultMaxOpenFiles       = 1024
	defaultMaxCompressedBytes = 64 << 20
	defaultCacheControl       = "no-cache"
	immutableCacheControl     = "public, max-age=31536000, immutable"
)

// Handler serves the files of one folder. Create it with [New]; it is safe
// for concurrent use.
type Handler struct {
	dir    string
	opts   Options
	log    *slog.Logger
	types  map[string]string // Options.ContentTypes, normalised
	start  time.Time         // the clock of checkedAt values
	cache  cache
	root   atomic.Pointer[rootState]
	rootMu sync.Mutex // serialises re-opening the root
	enc    encoders
}

// rootState is the open folder and when it was last compared with the
// path it was opened from.
type rootState struct {
	root      *os.Root
	info      os.FileInfo
	checkedAt atomic.Int64
}

// New returns a Handler serving the folder dir.
func New(dir string, opts Options) (*Handler, error) {
	h := &Handler{dir: dir, opts: opts, log: opts.Logger, start: time.Now()}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.opts.DefaultFiles == nil {
		h.opts.DefaultFiles = []string{"default.htm", "default.html", "index.htm", "index.html"}
	}
	for _, n := range h.opts.DefaultFiles {
		if n == "" || strings.ContainsAny(n, `/\`) || n[0] == '.' {
			return nil, fmt.Errorf("staticfiles: default file %q: want a file name such as index.html", n)
		}
	}
	if h.opts.CheckInterval == 0 {
		h.opts.CheckInterval = defaultCheckInterval
	}
	if h.opts.MaxOpenFiles <= 0 {
		h.opts.MaxOpenFiles = defaultMaxOpenFiles
	}
	if h.opts.MaxCompressedBytes <= 0 {
		h.opts.MaxCompressedBytes = defaultMaxCompressedBytes
	}
	if h.opts.CacheControl == "" {
		h.opts.CacheControl = defaultCacheControl
	}
	if h.opts.DefaultContentType == "" {
		h.opts.DefaultContentType = "application/octet-stream"
	}
	for _, r := range h.opts.CacheRules {
		if _, err := path.Match(r.Pattern, ""); err != nil || r.Pattern == "" {
			return nil, fmt.Errorf("staticfiles: cache rule pattern %q: want a path.Match pattern such as /assets/* or *.woff2", r.Pattern)
		}
		if r.Value == "" {
			return nil, fmt.Errorf("staticfiles: cache rule %q has no Cache-Control value", r.Pattern)
		}
	}
	h.types = make(map[string]string, len(opts.ContentTypes))
	for ext, t := range opts.ContentTypes {
		if _, _, err := mime.ParseMediaType(t); err != nil {
			return nil, fmt.Errorf("staticfiles: content type for %q: %q is not a media type", ext, t)
		}
		h.types[strings.ToLower(strings.TrimPrefix(ext, "."))] = t
	}
	if f := h.opts.Fallback; f != "" {
		name, _, status := cleanName(f)
		if status != 0 || name == "" {
			return nil, fmt.Errorf("staticfiles: fallback %q: want a visible file's path from the root, such as index.html", f)
		}
		h.opts.Fallback = name
	}

	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("staticfiles: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("staticfiles: %s is not a directory", dir)
	}
	rs, err := openRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("staticfiles: %w", err)
	}
	h.root.Store(rs)
	h.cache.init(h.opts.MaxOpenFiles)
	if f := h.opts.Fallback; f != "" {
		e, err := h.lookup(f)
		if errors.Is(err, errNotFound) {
			rs.root.Close()
			return nil, fmt.Errorf("staticfiles: fallback %q: no such file in %s", f, dir)
		}
		if err != nil {
			rs.root.Close()
			return nil, fmt.Errorf("staticfiles: fallback %q: %w", f, err)
		}
		if e.dir {
			rs.root.Close()
			return nil, fmt.Errorf("staticfiles: fallback %q is a directory; name a file such as index.html", f)
		}
		e.release()
	}
	return h, nil
}

func openRoot(dir string) (*rootState, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	fi, err := r.Stat(".")
	if err != nil {
		r.Close()
		return nil, err
	}
	return &rootState{root: r, info: fi}, nil
}

// Close closes the folder and every cached file. Requests being served
// finish first with the files they hold.
func (h *Handler) Close() error {
	h.cache.clear()
	return h.root.Load().root.Close()
}

// now is the handler's clock for check intervals: nanoseconds since New.
func (h *Handler) now() int64 { return int64(time.Since(h.start)) }

// due reports whether something last checked at checkedAt should be
// checked again, and claims the check when it should, so that one request
// does it while the others go on with what is cached.
func (h *Handler) due(checkedAt *atomic.Int64) bool {
	if h.opts.CheckInterval < 0 {
		return true
	}
	now := h.now()
	last := checkedAt.Load()
	if now-last < int64(h.opts.CheckInterval) {
		return false
	}
	return checkedAt.CompareAndSwap(last, now)
}

// currentRoot returns the open folder, re-opening it when the path it came
// from now leads to another folder (a deployment that switches a symbolic
// link); the cache is then emptied.
func (h *Handler) currentRoot() *os.Root {
	rs := h.root.Load()
	if !h.due(&rs.checkedAt) {
		return rs.root
	}
	fi, err := os.Stat(h.dir)
	if err != nil || os.SameFile(fi, rs.info) {
		return rs.root
	}
	h.rootMu.Lock()
	defer h.rootMu.Unlock()
	if cur := h.root.Load(); cur != rs {
		return cur.root
	}
	next, err := openRoot(h.dir)
	if err != nil {
		h.log.Error("staticfiles: re-opening the root", "dir", h.dir, "err", err)
		return rs.root
	}
	next.checkedAt.Store(h.now())
	h.root.Store(next)
	h.cache.clear()
	// The old root is left to its finalizer: requests may still be
	// opening files through it.
	return next.root
}

// ServeHTTP serves the file the request's URL path names.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		plainError(w, http.StatusMethodNotAllowed)
		return
	}
	name, slash, status := cleanName(r.URL.Path)
	if status == 0 && r.URL.RawPath != "" && hasEncodedSlash(r.URL.RawPath) {
		status = http.StatusBadRequest
	}
	if status != 0 {
		plainError(w, status) // a hidden name gets 404 without the fallback
		return
	}
	e, err := h.lookup(name)
	if err != nil {
		h.failed(w, r, err)
		return
	}
	defer e.release()
	if !e.dir {
		if slash {
			h.notFound(w, r, false) // "/app.js/"
			return
		}
		h.serveFile(w, r, e)
		return
	}
	index := e.indexName
	if index == "" && !h.opts.Browse {
		h.notFound(w, r, true)
		return
	}
	if !slash && name != "" {
		// As ASP.NET and net/http do; relative, so that it works under
		// http.StripPrefix.
		target := url.URL{Path: path.Base(r.URL.Path) + "/", RawQuery: r.URL.RawQuery}
		w.Header().Set("Location", target.String())
		w.Header()["Content-Length"] = hdrZero // stated, so that a HEAD gets it too
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	if index != "" {
		f, err := h.lookup(path.Join(name, index))
		switch {
		case err == nil && !f.dir:
			defer f.release()
			h.serveFile(w, r, f)
			return
		case err == nil:
			f.release()
		case !errors.Is(err, errNotFound):
			h.failed(w, r, err)
			return
		}
		e.expire() // the default file went away: look again next time
		if !h.opts.Browse {
			h.notFound(w, r, true)
			return
		}
	}
	h.serveListing(w, r, name)
}

// notFound serves the fallback, when there is one and the path has no
// extension, or 404.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, isDir bool) {
	if h.opts.Fallback != "" && (isDir || !hasExtension(r.URL.Path)) {
		e, err := h.lookup(h.opts.Fallback)
		if err == nil && !e.dir {
			defer e.release()
			h.serveFile(w, r, e)
			return
		}
		if err == nil {
			e.release()
		}
	}
	plainError(w, http.StatusNotFound)
}

// failed answers a lookup that found no file: 404 when there is none to
// find (missing, hidden, outside the root, not a regular file), 403 when
// the server may not read it, 500 otherwise.
func (h *Handler) failed(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errNotFound):
		h.notFound(w, r, false)
	case errors.Is(err, os.ErrPermission):
		plainError(w, http.StatusForbidden)
	default:
		h.log.Error("staticfiles: serving a file", "path", r.URL.Path, "err", err)
		plainError(w, http.StatusInternalServerError)
	}
}

// plainError answers with a status and its text, as http.Error does.
func plainError(w http.ResponseWriter, status int) {
	hdr := w.Header()
	hdr.Del("Content-Encoding")
	hdr.Del("Content-Length")
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	msg := strconv.Itoa(status) + " " + strings.ToLower(http.StatusText(status)) + "\n"
	hdr.Set("Content-Length", strconv.Itoa(len(msg)))
	w.WriteHeader(status)
	io.WriteString(w, msg)
}
