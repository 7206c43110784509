package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cServers are the C servers the plaintext tests compare kestrel with, over
// HTTP/1.1 (keep-alive, pipelined, TLS) and HTTP/2 (h2c and h2): h2o
// (Debian's h2o, one thread, the 13-byte body from a static file) and
// nginx (one worker, "return 200" with the 13-byte body). Each is one
// process doing the work, whose CPU time (with any children's) is
// measured as the Go servers' is.
var cServers = []string{"h2o", "nginx"}

// plaintextBody is what every server answers on /plaintext.
const plaintextBody = "Hello, World!"

// findH2O looks for Debian's h2o.
func (e *staticEnv) findH2O() error {
	p, err := exec.LookPath("h2o")
	if err != nil {
		return errors.New("h2o is not installed (Debian: apt-get install h2o), or leave the h2o rows out with -only")
	}
	e.h2o = p
	return nil
}

// freeAddr picks a loopback address for a server that cannot listen on
// port 0 and tell its port.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startH2O runs h2o with one thread, serving the 13-byte body as a static
// file on /plaintext, over TLS when t.TLS (ALPN h2 and http/1.1); a
// plaintext listener takes HTTP/1.1 and h2c with prior knowledge. Its
// configuration is written to the suite's temporary folder.
func (e *staticEnv) startH2O(t test) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	prefix := filepath.Join(e.dir, "h2o")
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return nil, err
	}
	file := filepath.Join(prefix, "plaintext.txt") // served as text/plain
	if err := os.WriteFile(file, []byte(plaintextBody), 0o644); err != nil {
		return nil, err
	}
	listen := fmt.Sprintf("listen:\n  host: %s\n  port: %s\n", host, port)
	if t.TLS {
		listen += fmt.Sprintf("  ssl:\n    certificate-file: %s\n    key-file: %s\n", e.certFile, e.keyFile)
	}
	// Run as root, h2o switches to "nobody" unless told otherwise, and
	// could then read nothing in the suite's private folder.
	me := "nobody"
	if u, err := user.Current(); err == nil {
		me = u.Username
	}
	conf := fmt.Sprintf(`user: %s
num-threads: 1
error-log: /dev/stderr
%shosts:
  default:
    paths:
      /plaintext:
        file.file: %s
`, me, listen, file)
	confFile := filepath.Join(prefix, "h2o.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return startCServer("h2o", exec.Command(e.h2o, "-c", confFile), addr)
}

// startNginxApp runs nginx answering /plaintext with "return 200" and the
// 13-byte body: one process doing the work (master_process off), no
// access log, no limit on a connection's requests. A plaintext listener
// speaks either HTTP/1.1 or h2c (prior knowledge), as nginx 1.22's
// "listen ... http2" allows one or the other; over TLS, ALPN picks.
func (e *staticEnv) startNginxApp(t test) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	listen := addr
	if t.TLS {
		listen += " ssl"
	}
	if t.TLS || t.Streams > 0 {
		listen += " http2"
	}
	if t.TLS {
		listen += ";\n\t\tssl_certificate " + e.certFile + ";\n\t\tssl_certificate_key " + e.keyFile +
			";\n\t\tssl_protocols TLSv1.2 TLSv1.3;\n\t\tssl_session_cache shared:SSL:1m"
	}
	prefix := filepath.Join(e.dir, "nginx-app")
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr error;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_requests 100000000;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen %[2]s;
		location = /plaintext {
			default_type text/plain;
			return 200 "%[3]s";
		}
	}
}
`, prefix, listen, plaintextBody)
	confFile := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return startCServer("nginx", exec.Command(e.nginx, "-p", prefix, "-c", confFile), addr)
}

// startCServer starts a C server's command and waits until it accepts
// connections on addr.
func startCServer(name string, cmd *exec.Cmd, addr string) (*server, error) {
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s, err := waitAccepting(&server{cmd: cmd, addr: addr})
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", name, err, stderr.String())
	}
	return s, nil
}

// treeCPUTime is the user and system CPU time of the process pid and of
// its descendants alive now: all of a server's workers, whatever its
// process model.
func treeCPUTime(pid int) time.Duration {
	var total time.Duration
	parents := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, ok := parentOf(p); ok {
			parents[p] = pp
		}
	}
	for p := range parents {
		for q := p; q > 1; q = parents[q] {
			if q == pid {
				total += cpuTime(p)
				break
			}
		}
	}
	return total
}

// parentOf is the parent of process pid, from /proc.
func parentOf(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0, false
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(f[1])
	return pp, err == nil
}
