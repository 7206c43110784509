package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// staticEnv is what the static-file tests share: the folder served (10k.bin
// and 1m.bin of random bytes), a certificate for nginx and h2o, and the
// paths of nginx and h2o.
type staticEnv struct {
	dir, files        string
	certFile, keyFile string
	nginx, h2o        string
}

func newStaticEnv(dir string) (*staticEnv, error) {
	e := &staticEnv{dir: dir, files: filepath.Join(dir, "files")}
	if err := os.MkdirAll(e.files, 0o755); err != nil {
		return nil, err
	}
	for name, size := range map[string]int{"10k.bin": 10 << 10, "1m.bin": 1 << 20} {
		b := make([]byte, size)
		rand.Read(b)
		if err := os.WriteFile(filepath.Join(e.files, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	e.certFile, e.keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	return e, writeSelfSigned(e.certFile, e.keyFile)
}

// findNginx looks for Debian's nginx.
func (e *staticEnv) findNginx() error {
	if p, err := exec.LookPath("nginx"); err == nil {
		e.nginx = p
		return nil
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		e.nginx = "/usr/sbin/nginx"
		return nil
	}
	return errors.New("nginx is not installed (Debian: apt-get install nginx-light), or leave the static tests out with -only")
}

// startNginx runs nginx serving the folder: one process that does the
// work (master_process off, so that its CPU time is measured), sendfile
// and tcp_nopush on as in Debian's configuration, no access log, and no
// limit on the requests of a keep-alive connection (the other servers
// have none).
func (e *staticEnv) startNginx(tls bool) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	listen := addr
	if tls {
		listen += " ssl;\n\t\tssl_certificate " + e.certFile + ";\n\t\tssl_certificate_key " + e.keyFile +
			";\n\t\tssl_protocols TLSv1.2 TLSv1.3;\n\t\tssl_session_cache shared:SSL:1m"
	}
	prefix := filepath.Join(e.dir, "nginx")
	os.MkdirAll(prefix, 0o755)
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr error;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000000;
	default_type application/octet-stream;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen %[2]s;
		root %[3]s;
	}
}
`, prefix, listen, e.files)
	confFile := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(e.nginx, "-p", prefix, "-c", confFile)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s, err := waitAccepting(&server{cmd: cmd, addr: addr})
	if err != nil {
		return nil, fmt.Errorf("nginx: %w: %s", err, stderr.String())
	}
	return s, nil
}

// writeSelfSigned writes a certificate for 127.0.0.1 and its key as PEM.
func writeSelfSigned(certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
}
