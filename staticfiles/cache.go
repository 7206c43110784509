package staticfiles

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// errNotFound marks a name that has no file to serve: missing, outside the
// root, not a regular file or folder.
var errNotFound = errors.New("no such file")

// hashLimit is the largest file whose ETag is a hash of its content;
// larger files get one made of their modification time and size.
const hashLimit = 16 << 20

// cache holds the entries by name, and the ETags of content hashed
// before, so that a file that leaves the cache and comes back is not
// hashed again.
type cache struct {
	mu         sync.RWMutex
	m          map[string]*entry
	max        int
	compressed atomic.Int64 // bytes held by the entries' compressed copies

	etagMu sync.Mutex
	etags  map[etagKey]string // at most etagsPerFile*max
}

type etagKey struct {
	name string
	id   fileID
}

// etagsPerFile sizes the ETag memory against MaxOpenFiles.
const etagsPerFile = 8

func (c *cache) init(max int) {
	c.m = make(map[string]*entry)
	c.max = max
	c.etags = make(map[etagKey]string)
}

// etag returns the ETag hashed for this version of a file, if any.
func (c *cache) etag(k etagKey) (string, bool) {
	c.etagMu.Lock()
	defer c.etagMu.Unlock()
	t, ok := c.etags[k]
	return t, ok
}

// rememberETag keeps an ETag, forgetting one at random when full.
func (c *cache) rememberETag(k etagKey, t string) {
	c.etagMu.Lock()
	defer c.etagMu.Unlock()
	if len(c.etags) >= etagsPerFile*c.max {
		for old := range c.etags {
			delete(c.etags, old)
			break
		}
	}
	c.etags[k] = t
}

// get returns the entry for name, with a reference the caller releases.
func (c *cache) get(name string) *entry {
	c.mu.RLock()
	e := c.m[name]
	if e != nil && !e.acquire() {
		e = nil
	}
	c.mu.RUnlock()
	return e
}

// put caches e, replacing the entry of the same name; when the cache is
// full another entry, chosen at random, makes room.
func (c *cache) put(e *entry) {
	e.refs.Add(1) // the cache's own
	c.mu.Lock()
	old := c.m[e.name]
	var victim *entry
	if old == nil && len(c.m) >= c.max {
		for _, v := range c.m {
			victim = v
			break
		}
		delete(c.m, victim.name)
	}
	c.m[e.name] = e
	c.mu.Unlock()
	if old != nil {
		old.evict()
	}
	if victim != nil {
		victim.evict()
	}
}

// remove drops e if it is still the cached entry for its name.
func (c *cache) remove(e *entry) {
	c.mu.Lock()
	cur := c.m[e.name] == e
	if cur {
		delete(c.m, e.name)
	}
	c.mu.Unlock()
	if cur {
		e.evict()
	}
}

// clear drops every entry.
func (c *cache) clear() {
	c.mu.Lock()
	old := c.m
	c.m = make(map[string]*entry)
	c.mu.Unlock()
	for _, e := range old {
		e.evict()
	}
}

// An entry is a folder or an open regular file with what is served with
// it. Its fields are fixed once it is cached, except those under mu.
type entry struct {
	c         *cache
	name      string
	refs      atomic.Int64 // the cache's and each request's; the file closes at 0
	checkedAt atomic.Int64 // when the path was last checked (Handler.now)
	info      os.FileInfo  // from the path, for os.SameFile
	dir       bool

	// A folder's resolved default file, "" for none.
	indexName string

	// A file's.
	f            *os.File
	fd           uintptr
	state        fileState // from fstat when opened
	size         int64
	modTime      time.Time
	recent       bool // modTime was within recentWindow of the clock, or later, when the file was read
	etag         string
	ctype        string
	compressible bool                 // a text type worth compressing
	siblings     [numCodings]bool     // fresh precompressed siblings
	encodedETag  [numCodings][]string // the ETag of each compressed representation (a precompressed sibling's)
	flyETag      [numCodings][]string // the weak ETag of each representation compressed on the fly
	hdr          [numHeaders][]string // precomputed header values

	mu       sync.Mutex
	evicted  bool
	variants [numCodings]*variant // compressed copies made on the fly
}

// The precomputed header values of a file.
const (
	hdrContentType = iota
	hdrContentLength
	hdrETag
	hdrLastModified
	hdrCacheControl
	numHeaders
)

// acquire takes a reference unless the entry is already closed.
func (e *entry) acquire() bool {
	for {
		n := e.refs.Load()
		if n <= 0 {
			return false
		}
		if e.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference; the last one closes the file.
func (e *entry) release() {
	if e.refs.Add(-1) == 0 && e.f != nil {
		e.f.Close()
	}
}

// evict is called once the cache no longer holds e: it gives back the
// memory of its compressed copies and drops the cache's reference.
func (e *entry) evict() {
	e.mu.Lock()
	e.evicted = true
	var n int64
	for _, v := range e.variants {
		if v != nil {
			n += int64(len(v.data))
		}
	}
	e.mu.Unlock()
	e.c.compressed.Add(-n)
	e.release()
}

// expire makes the next lookup check the entry against the disk.
func (e *entry) expire() { e.checkedAt.Store(-1 << 62) }

// lookup returns the entry for name with a reference the caller releases.
func (h *Handler) lookup(name string) (*entry, error) {
	root := h.currentRoot()
	if e := h.cache.get(name); e != nil {
		if h.fresh(root, e) {
			return e, nil
		}
		h.cache.remove(e)
		e.release()
	}
	e, err := h.load(root, name)
	if err != nil {
		return nil, err
	}
	h.cache.put(e)
	return e, nil
}

// fresh reports whether a cached entry still describes the disk: an open
// file is checked with fstat on every use, its path (and a folder's) every
// CheckInterval.
func (h *Handler) fresh(root *os.Root, e *entry) bool {
	if e.f != nil {
		st, err := fstat(e.f, e.fd)
		if err != nil || !st.same(e.state) {
			return false
		}
	}
	if !h.due(&e.checkedAt) {
		return true
	}
	fi, err := root.Stat(rootName(e.name))
	if err != nil || !os.SameFile(fi, e.info) || !fi.ModTime().Equal(e.info.ModTime()) || fi.Size() != e.info.Size() {
		return false
	}
	if e.dir {
		return true // a new or removed default file changes the folder's time
	}
	return h.siblings(root, e.name, fi) == e.siblings
}

// rootName is name as os.Root takes it.
func rootName(name string) string {
	if name == "" {
		return "."
	}
	return name
}

// load opens name and builds its entry, with one reference for the caller.
func (h *Handler) load(root *os.Root, name string) (*entry, error) {
	fi, err := root.Stat(rootName(name))
	if err != nil {
		return nil, classify(err)
	}
	e := &entry{c: &h.cache, name: name, info: fi}
	e.refs.Store(1)
	e.checkedAt.Store(h.now())
	if fi.IsDir() {
		e.dir = true
		for _, n := range h.opts.DefaultFiles {
			if ifi, err := root.Stat(path.Join(name, n)); err == nil && ifi.Mode().IsRegular() {
				e.indexName = n
				break
			}
		}
		return e, nil
	}
	if !fi.Mode().IsRegular() {
		return nil, errNotFound // a device, FIFO or socket is never opened
	}
	f, err := root.OpenFile(name, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, classify(err)
	}
	e.f, e.fd = f, fileFd(f)
	if err := h.describe(e); err != nil {
		f.Close()
		return nil, err
	}
	e.siblings = h.siblings(root, name, fi)
	return e, nil
}

// describe reads the open file's state and computes its ETag and headers.
func (h *Handler) describe(e *entry) error {
	for try := 0; ; try++ {
		st, err := fstat(e.f, e.fd)
		if err != nil {
			return fmt.Errorf("fstat %s: %w", e.name, err)
		}
		if !st.regular() {
			return errNotFound
		}
		e.state, e.size, e.modTime = st, st.size(), st.modTime()
		e.recent = e.modTime.After(time.Now().Add(-recentWindow))
		if e.size > hashLimit || try == 3 {
			e.etag = `"` + strconv.FormatInt(e.modTime.UnixNano(), 36) + "-" + strconv.FormatInt(e.size, 36) + `"`
			break
		}
		key := etagKey{e.name, st.id()}
		if t, ok := e.c.etag(key); ok {
			e.etag = t
			break
		}
		sum := sha256.New()
		buf := getBuffer()
		n, err := io.CopyBuffer(sum, io.NewSectionReader(e.f, 0, e.size), *buf)
		putBuffer(buf)
		if err != nil {
			return fmt.Errorf("read %s: %w", e.name, err)
		}
		// A file written while it was hashed is hashed again.
		if after, err := fstat(e.f, e.fd); err == nil && after.same(st) && n == e.size {
			e.etag = `"` + base64.RawURLEncoding.EncodeToString(sum.Sum(nil)[:15]) + `"`
			e.c.rememberETag(key, e.etag)
			break
		}
	}
	for c := range numCodings {
		t := e.etag[:len(e.etag)-1] + "-" + codings[c].name + `"`
		// Compressed on the fly, the bytes depend on the level (a copy kept
		// in memory or a stream) and the compressor's version: the ETag is
		// weak, as nginx's is, since a strong one promises the same bytes.
		e.encodedETag[c], e.flyETag[c] = []string{t}, []string{"W/" + t}
	}
	e.ctype = h.contentType(e.name)
	e.compressible = !h.opts.DisableCompression && e.size >= minCompressSize && compressible(e.ctype)
	e.hdr[hdrContentType] = []string{e.ctype}
	e.hdr[hdrContentLength] = []string{strconv.FormatInt(e.size, 10)}
	e.hdr[hdrETag] = []string{e.etag}
	if validTime(e.modTime) {
		e.hdr[hdrLastModified] = []string{e.modTime.UTC().Format(http1123)}
	}
	e.hdr[hdrCacheControl] = []string{h.cacheControl(e.name)}
	return nil
}

// recentWindow is how long after a file's modification its responses
// carry a Date set by the handler: longer than a server's Date may lag the
// clock.
const recentWindow = 5 * time.Second

// http1123 is http.TimeFormat, the format of Last-Modified.
const http1123 = "Mon, 02 Jan 2006 15:04:05 GMT"

// validTime reports whether t is worth sending as Last-Modified: files
// stamped with the Unix epoch or earlier (some archives, reproducible
// builds) are not dated at all, as net/http does.
func validTime(t time.Time) bool { return t.Unix() > 0 }

// siblings reports which precompressed siblings of name exist as regular
// files no older than the file itself, so that a stale app.js.gz never
// hides a newer app.js.
func (h *Handler) siblings(root *os.Root, name string, fi os.FileInfo) (s [numCodings]bool) {
	if h.opts.DisablePrecompressed || codingOfSibling(name) >= 0 {
		return s
	}
	for c := range numCodings {
		sfi, err := root.Stat(name + codings[c].ext)
		s[c] = err == nil && sfi.Mode().IsRegular() && !sfi.ModTime().Before(fi.ModTime())
	}
	return s
}

// classify maps an error from os.Root to errNotFound when it says there is
// nothing to serve at that name: missing, a path through a file, a
// symbolic link loop or one leading out of the root, a name too long. The
// server's own troubles (descriptors, memory, I/O) and permissions keep
// their error.
func classify(err error) error {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return err
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE), errors.Is(err, syscall.ENOMEM),
		errors.Is(err, syscall.EIO), errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, syscall.EINTR):
		return err
	}
	return fmt.Errorf("%w: %w", errNotFound, err)
}

// getBuffer and putBuffer pool the buffers of copies that the
// ResponseWriter does not take over with io.ReaderFrom.
func getBuffer() *[]byte { return bufPool.Get().(*[]byte) }

func putBuffer(b *[]byte) { bufPool.Put(b) }

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
