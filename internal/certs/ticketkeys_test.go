package certs

import (
	"crypto/sha256"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadTicketKey(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{48, 80} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 7)
		}
		p := filepath.Join(dir, "k")
		os.WriteFile(p, b, 0o600)
		k, err := LoadTicketKey(p)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if k != sha256.Sum256(b) {
			t.Errorf("%d bytes: the key is not the SHA-256 of the file", n)
		}
	}
	for _, n := range []int{0, 32, 47, 49, 81} {
		p := filepath.Join(dir, "bad")
		os.WriteFile(p, make([]byte, n), 0o600)
		_, err := LoadTicketKey(p)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "48 or 80") {
			t.Errorf("%d bytes: %v, want an error naming the file and the sizes", n, err)
		}
	}
}

func TestTicketKeysCheck(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "k")
	os.WriteFile(p, make([]byte, 80), 0o600)
	tk, err := NewTicketKeys([]string{p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{}
	tk.Apply(cfg)
	b := make([]byte, 48)
	b[0] = 1
	os.WriteFile(p, b, 0o600)
	if changed, err := tk.Check(); !changed || err != nil {
		t.Fatalf("Check after a change: %v, %v", changed, err)
	}
	if tk.keys[0] != sha256.Sum256(b) {
		t.Error("Check did not load the new key")
	}
	os.WriteFile(p, []byte("short"), 0o600)
	if changed, err := tk.Check(); changed || err == nil {
		t.Fatalf("Check of a broken file: %v, %v", changed, err)
	}
	if tk.keys[0] != sha256.Sum256(b) {
		t.Error("a broken file replaced the keys")
	}
	if _, err := NewTicketKeys(nil, nil); err == nil {
		t.Error("NewTicketKeys without files succeeded")
	}
}
