package certs

import (
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// A session ticket key file holds 48 or 80 random bytes, as nginx's
// ssl_session_ticket_key does (`openssl rand 80 > ticket.key`).
const (
	ticketKeySizeShort = 48
	ticketKeySizeLong  = 80
)

// LoadTicketKey reads a session ticket key file and derives the key Go's
// crypto/tls takes from it: the SHA-256 of the file's bytes. Every server
// given the same file derives the same key.
func LoadTicketKey(path string) ([32]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return [32]byte{}, fmt.Errorf("session ticket key file: %w", err)
	}
	if len(b) != ticketKeySizeShort && len(b) != ticketKeySizeLong {
		return [32]byte{}, fmt.Errorf("session ticket key file %s has %d bytes; it must hold exactly 48 or 80 random bytes, "+
			"as nginx's ssl_session_ticket_key (make one with `openssl rand 80 > %s`)", path, len(b), path)
	}
	return sha256.Sum256(b), nil
}

// LoadTicketKeys loads the keys of paths, in order: the first encrypts new
// tickets, all of them decrypt.
func LoadTicketKeys(paths []string) ([][32]byte, error) {
	keys := make([][32]byte, 0, len(paths))
	for _, p := range paths {
		k, err := LoadTicketKey(p)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// TicketKeys sets the session ticket keys loaded from files on TLS configs,
// and sets them again when the files change: Check looks at the files
// (their modification time, size and identity), as a Reloader does for a
// certificate, and MaybeCheck does so at most once per DefaultCheckInterval,
// from handshakes. A reload that fails keeps the previous keys and logs a
// warning once per change of the files. It starts no goroutine.
type TicketKeys struct {
	paths    []string
	logger   *slog.Logger
	interval time.Duration

	nextCheck atomic.Int64 // UnixNano before which MaybeCheck does not check

	mu      sync.Mutex // serializes checks; guards the fields below
	stamps  []fileStamp
	keys    [][32]byte
	configs []*tls.Config
}

// NewTicketKeys loads the keys of paths (at least one). A nil logger means
// slog.Default().
func NewTicketKeys(paths []string, logger *slog.Logger) (*TicketKeys, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("no session ticket key files")
	}
	if logger == nil {
		logger = slog.Default()
	}
	t := &TicketKeys{paths: append([]string(nil), paths...), logger: logger, interval: DefaultCheckInterval}
	stamps, now := t.stat(), time.Now()
	keys, err := LoadTicketKeys(t.paths)
	if err != nil {
		return nil, err
	}
	t.keys, t.stamps = keys, settled(stamps, now)
	t.nextCheck.Store(now.Add(t.interval).UnixNano())
	return t, nil
}

// Paths returns the files, first the one whose key encrypts.
func (t *TicketKeys) Paths() []string { return append([]string(nil), t.paths...) }

// Apply sets the keys on cfgs now and at every reload.
func (t *TicketKeys) Apply(cfgs ...*tls.Config) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range cfgs {
		c.SetSessionTicketKeys(t.keys)
	}
	t.configs = append(t.configs, cfgs...)
}

// MaybeCheck checks the files if the last check is more than the check
// interval ago; one caller at a time does, the others go on at once.
func (t *TicketKeys) MaybeCheck() {
	if now := time.Now().UnixNano(); now >= t.nextCheck.Load() && t.mu.TryLock() {
		if now >= t.nextCheck.Load() {
			_, _ = t.check()
		}
		t.mu.Unlock()
	}
}

// Check looks at the files now and, if they changed, loads the keys again
// and sets them on the configs. It reports whether new keys were set; the
// error is that of a failed reload, which keeps the previous keys.
func (t *TicketKeys) Check() (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.check()
}

func (t *TicketKeys) check() (bool, error) {
	now := time.Now()
	t.nextCheck.Store(now.Add(t.interval).UnixNano())
	stamps := t.stat()
	if sameStamps(stamps, t.stamps) {
		return false, nil
	}
	t.stamps = settled(stamps, now)
	keys, err := LoadTicketKeys(t.paths)
	if err != nil {
		t.logger.Warn("reloading the session ticket keys failed; still using the previous ones", "error", err)
		return false, err
	}
	if equalKeys(keys, t.keys) {
		return false, nil
	}
	t.keys = keys
	for _, c := range t.configs {
		c.SetSessionTicketKeys(keys)
	}
	t.logger.Info("session ticket keys reloaded", "paths", t.paths)
	return true, nil
}

func (t *TicketKeys) stat() []fileStamp {
	stamps := make([]fileStamp, len(t.paths))
	for i, p := range t.paths {
		if info, err := os.Stat(p); err == nil {
			stamps[i].info = info
		}
	}
	return stamps
}

func equalKeys(a, b [][32]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
