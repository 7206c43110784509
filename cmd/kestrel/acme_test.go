package main

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/acmetest"
)

var (
	acmePending    = regexp.MustCompile(`Getting the certificates of [^ ]+ for https://([^\s]+) \(from storage`)
	acmeListening  = regexp.MustCompile(`Now listening on: (https://[^\s"]+)`)
	acmeTestDomain = "acme.kestrel.test"
)

// TestACMETwoInstances: two instances of the command with one storage
// folder make one order and serve the same certificate, and each says
// "Now listening on" once its certificate is ready.
func TestACMETwoInstances(t *testing.T) {
	p := acmetest.Start(t, acmetest.Options{})
	storage := t.TempDir()
	var logs [2]*syncBuffer
	for i := range logs {
		cmd := exec.Command(buildCommand(t), "--urls", "https://127.0.0.1:0", "--acme-domain", acmeTestDomain,
			"--acme-email", "ops@kestrel.test", "--acme-ca", p.Directory, "--acme-ca-roots", p.APIRootsFile,
			"--acme-agree", "--acme-storage", storage)
		logs[i] = startTool(t, "kestrel", cmd)
	}
	// Pebble validates on the first instance, which answers the
	// challenge whichever instance ordered (from the shared storage).
	p.ForwardTLS(func() string {
		if m := acmePending.FindStringSubmatch(logs[0].String()); m != nil {
			return m[1]
		}
		return ""
	})
	roots := p.Roots(t)
	var serials [2]string
	for i, log := range logs {
		var base string
		deadline := time.Now().Add(30 * time.Second)
		for base == "" && time.Now().Before(deadline) {
			if m := acmeListening.FindStringSubmatch(log.String()); m != nil {
				base = m[1]
			}
			time.Sleep(20 * time.Millisecond)
		}
		if base == "" {
			t.Fatalf("instance %d never listened; its log:\n%s\nPebble's:\n%s", i+1, log, p.Log)
		}
		if !strings.Contains(log.String(), "Getting the certificates of "+acmeTestDomain) {
			t.Errorf("instance %d did not say it was getting its certificate before listening", i+1)
		}
		u, _ := url.Parse(base)
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: acmeTestDomain}, ForceAttemptHTTP2: true}
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + u.Host + "/")
		if err != nil {
			t.Fatalf("instance %d: %v", i+1, err)
		}
		resp.Body.Close()
		tr.CloseIdleConnections()
		if resp.ProtoMajor != 2 {
			t.Errorf("instance %d answered over %s, want HTTP/2", i+1, resp.Proto)
		}
		serials[i] = resp.TLS.PeerCertificates[0].SerialNumber.String()
	}
	if serials[0] != serials[1] {
		t.Errorf("the instances serve different certificates: serials %s and %s", serials[0], serials[1])
	}
	if n := p.Orders(); n != 1 {
		t.Errorf("Pebble received %d orders from two instances sharing storage, want 1", n)
	}
}

// TestACMEFlagErrors: the automatic HTTPS flags' mistakes are refused
// with the flag or key at fault.
func TestACMEFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--acme-domain", "example.com", "--acme-staging", "--acme-ca", "https://ca.example/dir"}, "--acme-staging and --acme-ca https://ca.example/dir both choose the CA"},
		{[]string{"--urls", "https://127.0.0.1:0", "--acme-domain", "192.0.2.7", "--acme-agree"}, `ACME domain "192.0.2.7": an IP address`},
		{[]string{"--urls", "https://127.0.0.1:0", "--acme-domain", "example.com"}, "subscriber agreement must be accepted"},
	} {
		var log syncBuffer
		err := run(t.Context(), append(tc.args, "--acme-storage", t.TempDir()), nil, &log)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestACMEStorageNotWritable: a storage folder the user may not write
// fails the start with the folder and the fix (run as an unprivileged
// user: root may write anywhere).
func TestACMEStorageNotWritable(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("file permissions are a Linux test here")
	}
	bin := buildCommand(t)
	os.Chmod(filepath.Dir(bin), 0o755) // the unprivileged user runs it
	parent := t.TempDir()
	os.Chmod(parent, 0o755)
	locked := filepath.Join(parent, "locked")
	if err := os.Mkdir(locked, 0o555); err != nil {
		t.Fatal(err)
	}
	storage := filepath.Join(locked, "acme")
	var prefix []string
	if os.Getuid() == 0 {
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			t.Fatal("setpriv (util-linux) is not installed")
		}
		prefix = []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"}
	}
	args := append(prefix, bin, "--urls", "https://127.0.0.1:0", "--acme-domain", acmeTestDomain, "--acme-agree",
		"--acme-ca", "https://127.0.0.1:1/dir", "--acme-storage", storage)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "HOME="+parent)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("%v, want exit status 1\n%s", err, out)
	}
	for _, want := range []string{"the ACME storage folder " + storage + " cannot be written", "permission denied", "make it writable by the user the server runs as"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(storage); err == nil {
		t.Errorf("%s was created", storage)
	}
}
