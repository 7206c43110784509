// Package acmetest runs Let's Encrypt's test CA, Pebble, with
// pebble-challtestsrv as its DNS server (every name is 127.0.0.1), for
// the tests of automatic HTTPS. It is for tests only.
//
// The two programs are built by scripts/install-test-deps.sh (go install
// github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3 and
// .../cmd/pebble-challtestsrv@v2.10.3); a test that needs them fails when
// they are missing.
package acmetest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"go/build"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/proctest"
)

// Version is the Pebble release the tests run.
const Version = "v2.10.3"

// Pebble is a running Pebble CA.
type Pebble struct {
	// Directory is the URL of its ACME directory.
	Directory string
	// APIRootsFile is the PEM file of the root that signs the ACME API's
	// own HTTPS certificate (ACME.CARootsFile), and APIRoots the same
	// as a pool (ACME.CARoots).
	APIRootsFile string
	APIRoots     *x509.CertPool

	// Log is what Pebble writes.
	Log *proctest.Log

	mgmt string    // management API address
	proc *exec.Cmd // pebble

	tlsTarget, httpTarget atomic.Pointer[func() string] // where validations are forwarded
}

// Options adjust the CA.
type Options struct {
	// ValidityPeriod of the certificates; zero means Pebble's default
	// (90 days).
	ValidityPeriod time.Duration
	// Blocklist are domains the CA refuses.
	Blocklist []string
}

// tool finds a program installed with go install.
func tool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	p := filepath.Join(build.Default.GOPATH, "bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not installed (on PATH or in %s): run scripts/install-test-deps.sh, or go install github.com/letsencrypt/pebble/v2/cmd/%s@%s", name, filepath.Dir(p), name, Version)
	}
	return p
}

// moduleDir is Pebble's module in the module cache, where go install put
// it (its test certificates are there).
func moduleDir(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOMODCACHE: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "github.com", "letsencrypt", "pebble", "v2@"+Version)
	if _, err := os.Stat(filepath.Join(dir, "test", "certs", "pebble.minica.pem")); err != nil {
		t.Fatalf("Pebble's module is not in the module cache (%v): go install github.com/letsencrypt/pebble/v2/cmd/pebble@%s", err, Version)
	}
	return dir
}

// freePort returns a port nothing listens on at the moment, for the
// programs that cannot report the port they bound.
func freePort(t testing.TB, network string) int {
	t.Helper()
	for {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if network != "udp" {
			l.Close()
			return port
		}
		// DNS: free on both TCP and UDP.
		c, err := net.ListenPacket("udp4", l.Addr().String())
		l.Close()
		if err == nil {
			c.Close()
			return port
		}
	}
}

// waitListening waits until something accepts TCP connections at addr.
func waitListening(addr string) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// Start runs pebble-challtestsrv and Pebble until the test ends. Pebble
// validates challenges on ports of its own that forward to the addresses
// given to Forward, so that the servers under test listen on port 0.
func Start(t testing.TB, opts Options) *Pebble {
	t.Helper()
	pebbleBin, challBin := tool(t, "pebble"), tool(t, "pebble-challtestsrv")
	mod := moduleDir(t)
	p := &Pebble{APIRootsFile: filepath.Join(mod, "test", "certs", "pebble.minica.pem")}
	pem, err := os.ReadFile(p.APIRootsFile)
	if err != nil {
		t.Fatal(err)
	}
	p.APIRoots = x509.NewCertPool()
	p.APIRoots.AppendCertsFromPEM(pem)

	tlsPort := p.forwarder(t, &p.tlsTarget)
	httpPort := p.forwarder(t, &p.httpTarget)

	var lastErr string
	for attempt := 0; attempt < 3; attempt++ { // a port picked may be taken before the program binds it
		dnsPort := freePort(t, "udp")
		chall := exec.Command(challBin, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
			"-dnsserver", "127.0.0.1:"+strconv.Itoa(dnsPort), "-management", "127.0.0.1:"+strconv.Itoa(freePort(t, "tcp")),
			"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")
		challLog, _ := start(t, chall)
		if !waitListening("127.0.0.1:" + strconv.Itoa(dnsPort)) {
			lastErr = "pebble-challtestsrv did not listen on its DNS port; its log:\n" + challLog.String()
			chall.Process.Kill()
			continue
		}

		apiPort, mgmtPort := freePort(t, "tcp"), freePort(t, "tcp")
		profiles := map[string]any{"default": map[string]any{"description": "test", "validityPeriod": 7776000}}
		if opts.ValidityPeriod > 0 {
			profiles["default"] = map[string]any{"description": "test", "validityPeriod": int(opts.ValidityPeriod / time.Second)}
		}
		cfg := map[string]any{"pebble": map[string]any{
			"listenAddress":                  "127.0.0.1:" + strconv.Itoa(apiPort),
			"managementListenAddress":        "127.0.0.1:" + strconv.Itoa(mgmtPort),
			"certificate":                    filepath.Join(mod, "test", "certs", "localhost", "cert.pem"),
			"privateKey":                     filepath.Join(mod, "test", "certs", "localhost", "key.pem"),
			"httpPort":                       httpPort,
			"tlsPort":                        tlsPort,
			"ocspResponderURL":               "",
			"externalAccountBindingRequired": false,
			"domainBlocklist":                append([]string{"blocked-domain.example"}, opts.Blocklist...),
			"retryAfter":                     map[string]int{"authz": 1, "order": 1},
			"keyAlgorithm":                   "ecdsa",
			"profiles":                       profiles,
		}}
		data, _ := json.Marshal(cfg)
		cfgFile := filepath.Join(t.TempDir(), "pebble.json")
		if err := os.WriteFile(cfgFile, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(pebbleBin, "-config", cfgFile, "-dnsserver", "127.0.0.1:"+strconv.Itoa(dnsPort))
		// No sleep before validations; nonces are still rejected 5% of
		// the time (PEBBLE_WFE_NONCEREJECT's default), which clients
		// must survive.
		cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1")
		var exited <-chan struct{}
		p.Log, exited = start(t, cmd)
		p.Directory = "https://127.0.0.1:" + strconv.Itoa(apiPort) + "/dir"
		p.mgmt = "127.0.0.1:" + strconv.Itoa(mgmtPort)
		if err := p.waitReady(exited, challLog); err == nil {
			p.proc = cmd
			return p
		} else {
			lastErr = err.Error()
		}
		chall.Process.Kill()
		cmd.Process.Kill()
	}
	t.Fatalf("Pebble did not start: %s", lastErr)
	return nil
}

// start runs cmd with its output in a log, killed when the test ends;
// exited is closed when it has.
func start(t testing.TB, cmd *exec.Cmd) (log *proctest.Log, exited <-chan struct{}) {
	t.Helper()
	log = &proctest.Log{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", cmd.Path, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	return log, done
}

// waitReady waits until the ACME directory answers.
func (p *Pebble) waitReady(exited <-chan struct{}, challLog *proctest.Log) error {
	c := p.apiClient()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("it exited; Pebble's log:\n%s", p.Log)
		default:
		}
		resp, err := c.Get(p.Directory)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("its directory %s did not answer; Pebble's log:\n%s\npebble-challtestsrv's log:\n%s", p.Directory, p.Log, challLog)
}

// apiClient trusts the ACME API's certificate.
func (p *Pebble) apiClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.APIRoots}}}
}

// forwarder listens on a port Pebble validates on and forwards each
// connection to *target.
func (p *Pebble) forwarder(t testing.TB, target *atomic.Pointer[func() string]) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				// The target may not be known yet: a server of a fleet
				// can order before the one validated on listens.
				var addr string
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
					if to := target.Load(); to != nil {
						if addr = (*to)(); addr != "" {
							break
						}
					}
				}
				if addr == "" {
					return
				}
				s, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					return
				}
				defer s.Close()
				done := make(chan struct{})
				go func() {
					io.Copy(s, c)
					s.(*net.TCPConn).CloseWrite()
					close(done)
				}()
				io.Copy(c, s)
				c.(*net.TCPConn).CloseWrite()
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				<-done
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// ForwardTLS sends the TLS-ALPN-01 validations to the address ("host:port")
// addr returns when the validation connects.
func (p *Pebble) ForwardTLS(addr func() string) { p.tlsTarget.Store(&addr) }

// ForwardHTTP sends the HTTP-01 validations to the address addr returns.
func (p *Pebble) ForwardHTTP(addr func() string) { p.httpTarget.Store(&addr) }

// Roots returns the roots of the certificates Pebble issues (made anew
// each time Pebble starts), from its management API.
func (p *Pebble) Roots(t testing.TB) *x509.CertPool {
	t.Helper()
	resp, err := p.apiClient().Get("https://" + p.mgmt + "/roots/0")
	if err != nil {
		t.Fatalf("Pebble's root: %v", err)
	}
	defer resp.Body.Close()
	pem, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("Pebble's root: %d %v", resp.StatusCode, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("Pebble's root is not PEM: %q", pem)
	}
	return pool
}

var ordersRE = regexp.MustCompile(`There are now (\d+) orders in the db`)

// Orders is how many orders Pebble has received, from its log.
func (p *Pebble) Orders() int {
	m := ordersRE.FindAllStringSubmatch(p.Log.String(), -1)
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}

var issuedRE = regexp.MustCompile(`Issued certificate serial`)

// Issued is how many certificates Pebble has issued, from its log.
func (p *Pebble) Issued() int {
	return len(issuedRE.FindAllStringIndex(p.Log.String(), -1))
}

// Stop kills Pebble: the CA becomes unreachable.
func (p *Pebble) Stop() {
	p.proc.Process.Kill()
}
