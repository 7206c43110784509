package certs

import (
	"crypto/tls"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// replacePair writes c over certPath/keyPath and stamps both files with
// mtime, as a deployment tool would.
func replacePair(t *testing.T, certPath, keyPath string, c *issued, mtime time.Time) {
	t.Helper()
	writeFile(t, certPath, certPEM(c.cert))
	writeFile(t, keyPath, pkcs8PEM(t, c.key))
	touch(t, mtime, certPath, keyPath)
}

func touch(t *testing.T, mtime time.Time, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

func isCert(cert *tls.Certificate, want *issued) bool {
	return cert != nil && cert.Leaf != nil && cert.Leaf.Equal(want.cert)
}

func TestReloaderReloadsOnChange(t *testing.T) {
	dir := t.TempDir()
	c1, c2 := leafCert(t, "one.test", ecKey), leafCert(t, "two.test", ecKey)
	certPath, keyPath := writePair(t, dir, "site", c1)
	base := time.Now().Add(-time.Hour)
	touch(t, base, certPath, keyPath)

	logger, logs := newTestLogger()
	r, err := NewReloader(Spec{Path: certPath, KeyPath: keyPath}, logger)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := r.GetCertificate(nil); !isCert(got, c1) {
		t.Fatal("initial certificate is not c1")
	}
	if reloaded, err := r.Check(); reloaded || err != nil {
		t.Fatalf("Check on unchanged files = %v, %v", reloaded, err)
	}

	replacePair(t, certPath, keyPath, c2, base.Add(time.Minute))
	reloaded, err := r.Check()
	if !reloaded || err != nil {
		t.Fatalf("Check after change = %v, %v", reloaded, err)
	}
	if got, _ := r.GetCertificate(nil); !isCert(got, c2) {
		t.Fatal("GetCertificate does not return the new certificate")
	}
	if !isCert(r.Certificate(), c2) {
		t.Fatal("Certificate does not return the new certificate")
	}
	if !strings.Contains(logs.String(), "certificate reloaded") || !strings.Contains(logs.String(), "two.test") {
		t.Errorf("no reload logged:\n%s", logs)
	}
	if reloaded, err := r.Check(); reloaded || err != nil {
		t.Fatalf("second Check = %v, %v", reloaded, err)
	}

	// Only the key file's identity changes (replaced by rename, same
	// content and mtime): still a change, and the same certificate.
	tmp := filepath.Join(dir, "new.key")
	data, _ := os.ReadFile(keyPath)
	writeFile(t, tmp, data)
	touch(t, base.Add(time.Minute), tmp)
	if err := os.Rename(tmp, keyPath); err != nil {
		t.Fatal(err)
	}
	if reloaded, err := r.Check(); reloaded || err != nil {
		t.Fatalf("Check after a same-content replacement = %v, %v (want a quiet reload)", reloaded, err)
	}
	if r.Spec().Path != certPath {
		t.Error("Spec")
	}
}

func TestReloaderPFX(t *testing.T) {
	dir := t.TempDir()
	c1, c2 := leafCert(t, "one.test", ecKey), leafCert(t, "two.test", ecKey)
	pfx := makePFX(t, dir, "site", c1, "pw", nil)
	touch(t, time.Now().Add(-time.Hour), pfx)
	r, err := NewReloader(Spec{Path: pfx, Password: "pw"}, nil) // nil logger: slog.Default
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(makePFX(t, dir, "next", c2, "pw", nil))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, pfx, data)
	touch(t, time.Now().Add(-30*time.Minute), pfx)
	if reloaded, err := r.Check(); !reloaded || err != nil {
		t.Fatalf("Check = %v, %v", reloaded, err)
	}
	if !isCert(r.Certificate(), c2) {
		t.Fatal("not reloaded")
	}

	// A new file under another password: the reload fails, c2 stays.
	data, _ = os.ReadFile(makePFX(t, dir, "other-pw", c1, "other", nil))
	writeFile(t, pfx, data)
	touch(t, time.Now().Add(-20*time.Minute), pfx)
	if _, err := r.Check(); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("Check with a wrong password = %v", err)
	}
	if !isCert(r.Certificate(), c2) {
		t.Fatal("failed reload replaced the certificate")
	}
}

func TestReloaderKeepsOldCertificateOnFailure(t *testing.T) {
	dir := t.TempDir()
	c1, c2 := leafCert(t, "one.test", ecKey), leafCert(t, "two.test", ecKey)
	certPath, keyPath := writePair(t, dir, "site", c1)
	mtime := time.Now().Add(-time.Hour)
	touch(t, mtime, certPath, keyPath)
	logger, logs := newTestLogger()
	r, err := NewReloader(Spec{Path: certPath, KeyPath: keyPath}, logger)
	if err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name    string
		change  func()
		wantErr string
	}{
		{"garbage certificate", func() { writeFile(t, certPath, []byte("garbage")) }, "no PEM block"},
		{"new certificate, old key", func() { writeFile(t, certPath, certPEM(c2.cert)) }, "does not match"},
		{"key deleted", func() { os.Remove(keyPath) }, "no such file"},
	}
	for _, s := range steps {
		s.change()
		mtime = mtime.Add(time.Minute)
		for _, p := range []string{certPath, keyPath} {
			os.Chtimes(p, mtime, mtime) // the deleted key has no mtime
		}
		reloaded, err := r.Check()
		if reloaded || err == nil || !strings.Contains(err.Error(), s.wantErr) {
			t.Errorf("%s: Check = %v, %v; want an error with %q", s.name, reloaded, err, s.wantErr)
		}
		if got, _ := r.GetCertificate(nil); !isCert(got, c1) {
			t.Fatalf("%s: the old certificate was not kept", s.name)
		}
		// The same broken state is reported once, not at every check.
		if reloaded, err := r.Check(); reloaded || err != nil {
			t.Errorf("%s: repeated Check = %v, %v", s.name, reloaded, err)
		}
	}
	if n := strings.Count(logs.String(), "reloading the certificate failed"); n != len(steps) {
		t.Errorf("%d failures logged, want %d:\n%s", n, len(steps), logs)
	}
	if !strings.Contains(logs.String(), certPath) {
		t.Errorf("log does not name the file:\n%s", logs)
	}

	// Repaired: the new pair loads.
	replacePair(t, certPath, keyPath, c2, mtime.Add(time.Minute))
	if reloaded, err := r.Check(); !reloaded || err != nil {
		t.Fatalf("Check after repair = %v, %v", reloaded, err)
	}
	if !isCert(r.Certificate(), c2) {
		t.Fatal("not reloaded after repair")
	}
}

// A change that keeps mtime and size (two writes within the file system's
// timestamp granularity) is still picked up, because a freshly modified
// file is looked at again at the next check.
func TestReloaderFreshFilesAreRechecked(t *testing.T) {
	dir := t.TempDir()
	c1 := leafCert(t, "one.test", ecKey)
	certPath, keyPath := writePair(t, dir, "site", c1)
	r, err := NewReloader(Spec{Path: certPath, KeyPath: keyPath}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Find a second certificate of exactly the same PEM size.
	var c2 *issued
	for range 200 {
		c := leafCert(t, "one.test", ecKey)
		if len(certPEM(c.cert)) == len(certPEM(c1.cert)) {
			c2 = c
			break
		}
	}
	if c2 == nil {
		t.Skip("no same-size certificate found")
	}
	info, err := os.Stat(certPath)
	if err != nil {
		t.Fatal(err)
	}
	keyInfo, _ := os.Stat(keyPath)
	writeFile(t, certPath, certPEM(c2.cert))
	writeFile(t, keyPath, pkcs8PEM(t, c2.key))
	touch(t, info.ModTime(), certPath)
	touch(t, keyInfo.ModTime(), keyPath)
	if reloaded, err := r.Check(); !reloaded || err != nil {
		t.Fatalf("Check = %v, %v", reloaded, err)
	}
	if !isCert(r.Certificate(), c2) {
		t.Fatal("same-stamp change was missed")
	}
}

func TestReloaderGetCertificateChecksAtMostOncePerInterval(t *testing.T) {
	dir := t.TempDir()
	c1, c2 := leafCert(t, "one.test", ecKey), leafCert(t, "two.test", ecKey)
	certPath, keyPath := writePair(t, dir, "site", c1)
	touch(t, time.Now().Add(-time.Hour), certPath, keyPath)
	r, err := NewReloader(Spec{Path: certPath, KeyPath: keyPath}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.interval != time.Second {
		t.Errorf("default interval %v", r.interval)
	}
	r.interval = time.Hour
	r.nextCheck.Store(time.Now().Add(time.Hour).UnixNano())
	replacePair(t, certPath, keyPath, c2, time.Now().Add(-30*time.Minute))
	if got, _ := r.GetCertificate(nil); !isCert(got, c1) {
		t.Fatal("GetCertificate checked the files before the interval was over")
	}
	r.nextCheck.Store(time.Now().Add(-time.Nanosecond).UnixNano()) // the interval is over
	if got, _ := r.GetCertificate(nil); !isCert(got, c2) {
		t.Fatal("GetCertificate did not check the files after the interval")
	}
	if next := time.Unix(0, r.nextCheck.Load()); time.Until(next) < 59*time.Minute {
		t.Errorf("next check at %v, want an interval from now", next)
	}
}

func TestReloaderConcurrentUse(t *testing.T) {
	dir := t.TempDir()
	certs := []*issued{leafCert(t, "one.test", ecKey), leafCert(t, "two.test", ecKey)}
	certPath, keyPath := writePair(t, dir, "site", certs[0])
	r, err := NewReloader(Spec{Path: certPath, KeyPath: keyPath}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.interval = 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				cert, err := r.GetCertificate(&tls.ClientHelloInfo{})
				if err != nil || cert == nil || cert.PrivateKey == nil {
					t.Error("GetCertificate returned no certificate")
					return
				}
			}
		}()
	}
	mtime := time.Now().Add(-time.Hour)
	for i := range 20 {
		mtime = mtime.Add(time.Second)
		replacePair(t, certPath, keyPath, certs[i%2], mtime)
		r.Check()
	}
	close(stop)
	wg.Wait()
}

func TestReloaderHandshakeKeepsEstablishedConnections(t *testing.T) {
	dir := t.TempDir()
	c1, c2 := leafCert(t, "one.test", ecKey), leafCert(t, "two.test", ecKey)
	certPath, keyPath := writePair(t, dir, "site", c1)
	touch(t, time.Now().Add(-time.Hour), certPath, keyPath)
	r, err := NewReloader(Spec{Path: certPath, KeyPath: keyPath}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := NewSelector("https", nil, map[string]SNIOptions{"*": {Certificate: r}})
	if err != nil {
		t.Fatal(err)
	}
	if rs := sel.Reloaders(); len(rs) != 1 || rs[0] != r {
		t.Errorf("Reloaders() = %v", rs)
	}
	srv := startServer(t, sel.TLSConfig())
	cfg := &tls.Config{ServerName: "site.test", InsecureSkipVerify: true}
	conn1, err := dial(t, srv, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if presented(conn1) != "one.test" {
		t.Fatalf("first connection got %q", presented(conn1))
	}

	replacePair(t, certPath, keyPath, c2, time.Now().Add(-30*time.Minute))
	if _, err := r.Check(); err != nil {
		t.Fatal(err)
	}
	conn2, err := dial(t, srv, &tls.Config{ServerName: "site.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if presented(conn2) != "two.test" {
		t.Errorf("new connection got %q, want two.test", presented(conn2))
	}
	if err := echo(conn1, "still here"); err != nil {
		t.Errorf("established connection broke after the reload: %v", err)
	}
	if presented(conn1) != "one.test" {
		t.Error("established connection changed certificate")
	}
}

func TestNewReloaderErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewReloader(Spec{Path: filepath.Join(dir, "none.pem")}, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("NewReloader(missing file) = %v", err)
	}
	old := newCert(t, certOpts{cn: "old.test", notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-time.Hour)})
	certPath, keyPath := writePair(t, dir, "old", old)
	logger, logs := newTestLogger()
	r, err := NewReloader(Spec{Path: certPath, KeyPath: keyPath}, logger)
	if err != nil {
		t.Fatalf("expired certificate must load: %v", err)
	}
	if !Expired(r.Certificate()) || !strings.Contains(logs.String(), "expired") {
		t.Errorf("expired certificate not reported:\n%s", logs)
	}
}

// TestReloaderWarnsNotYetValid: a certificate whose validity starts in
// the future (issued ahead, or a clock behind) is loaded, as an expired
// one is, with a warning that clients will reject it until then; a valid
// one gets no warning.
func TestReloaderWarnsNotYetValid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		notBefore time.Time
		want      string
	}{
		{"future", time.Now().Add(48 * time.Hour), "the certificate is not valid yet; clients will reject it until its notBefore time"},
		{"valid", time.Now().Add(-time.Hour), ""},
	} {
		dir := t.TempDir()
		c := newCert(t, certOpts{cn: tc.name + ".test", notBefore: tc.notBefore, notAfter: time.Now().Add(90 * 24 * time.Hour)})
		certPath, keyPath := writePair(t, dir, tc.name, c)
		logger, logs := newTestLogger()
		if _, err := NewReloader(Spec{Path: certPath, KeyPath: keyPath}, logger); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := logs.String()
		switch {
		case tc.want != "" && (!strings.Contains(got, tc.want) || !strings.Contains(got, certPath)):
			t.Errorf("%s: log lacks %q and the path:\n%s", tc.name, tc.want, got)
		case tc.want == "" && strings.Contains(got, "WARN"):
			t.Errorf("%s: a warning for a valid certificate:\n%s", tc.name, got)
		}
	}
}
