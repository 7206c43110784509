package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// The development certificate, like the one `dotnet dev-certs https` makes:
//
//   - a self-signed ECDSA P-256 certificate for DNS "localhost" and the IP
//     addresses 127.0.0.1 and ::1, valid for one year, signed with SHA-256;
//   - basicConstraints CA:false (critical), keyUsage digitalSignature,
//     extendedKeyUsage serverAuth, as dotnet's. It is not a CA: Firefox
//     refuses a CA certificate used as a server's own certificate
//     (MOZILLA_PKIX_ERROR_CA_CERT_USED_AS_END_ENTITY), and a self-signed leaf
//     needs no CA bit to be trusted: OpenSSL (and so curl and the
//     ca-certificates bundle), Go, NSS (as a trusted peer, "P,,"), macOS and
//     Windows all accept it as its own trust anchor once it is added to their
//     store, which is what TrustInstructions explains;
//   - Subject "CN=localhost, O=kestrel-go development certificate". It does
//     not carry dotnet's marker extension 1.3.6.1.4.1.311.84.1.1: that OID is
//     in Microsoft's arc and dotnet's tools act on certificates that have it.
//
// The key is written as PKCS#8 PEM with mode 0600, the certificate as PEM
// with mode 0644, in a directory created with mode 0700.
const (
	// DevCertOrganization is the Subject organization of the development
	// certificate; IsDevCert looks for it.
	DevCertOrganization = "kestrel-go development certificate"
	// DevCertValidity is how long a new development certificate is valid.
	DevCertValidity = 365 * 24 * time.Hour

	devCertFile = "kestrel-go-dev-cert.pem"
	devKeyFile  = "kestrel-go-dev-key.pem"
)

// DevCertPaths returns where the development certificate and its key live:
// os.UserConfigDir()/kestrel-go/dev-certs/ (on Linux $XDG_CONFIG_HOME or
// ~/.config; on macOS ~/Library/Application Support; on Windows %AppData%).
// The files need not exist.
func DevCertPaths() (certPath, keyPath string, err error) {
	dir, err := devCertDir()
	if err != nil {
		return "", "", err
	}
	return filepath.Join(dir, devCertFile), filepath.Join(dir, devKeyFile), nil
}

func devCertDir() (string, error) {
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no place for the development certificate: %w", err)
	}
	return filepath.Join(base, "kestrel-go", "dev-certs"), nil
}

// CreateDevCert makes a new development certificate valid from now for
// DevCertValidity and writes it and its key into dir (created with mode
// 0700 if missing), replacing any previous one. It returns the files' paths.
func CreateDevCert(dir string, now time.Time) (certPath, keyPath string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generating the development key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return "", "", fmt.Errorf("generating a serial number: %w", err)
	}
	template := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   "localhost",
			Organization: []string{DevCertOrganization},
		},
		NotBefore:             now,
		NotAfter:              now.Add(DevCertValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  false,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return "", "", fmt.Errorf("creating the development certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("encoding the development key: %w", err)
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("creating the development certificate directory: %w", err)
	}
	certPath, keyPath = filepath.Join(dir, devCertFile), filepath.Join(dir, devKeyFile)
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", err
	}
	if err := writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it over path, so that a reader sees the old file or the new one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// CreateTemp makes the file 0600; a key is never readable by others,
	// even for a moment.
	if err := f.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	ok = true
	return nil
}

// LoadDevCert loads the development certificate from DevCertPaths. When
// there is none the error wraps fs.ErrNotExist; an expired one is an error
// too (Kestrel ignores an expired development certificate). Both tell how to
// make a new one.
func LoadDevCert() (*tls.Certificate, error) {
	certPath, keyPath, err := DevCertPaths()
	if err != nil {
		return nil, err
	}
	return loadDevCertAt(certPath, keyPath, time.Now())
}

func loadDevCertAt(certPath, keyPath string, now time.Time) (*tls.Certificate, error) {
	cert, err := LoadPEM(certPath, keyPath, "")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no development certificate: %w", err)
		}
		return nil, err
	}
	if expiredAt(cert, now) {
		return nil, fmt.Errorf("the development certificate %s expired on %s; create a new one",
			certPath, cert.Leaf.NotAfter.Format(time.DateOnly))
	}
	return cert, nil
}

// EnsureDevCert returns the paths of a development certificate that is
// valid at now, creating one (and replacing an expired, damaged or
// soon-to-expire one) in DevCertPaths' directory when needed. created
// reports whether a new one was made; a new one must be trusted again (see
// TrustInstructions).
func EnsureDevCert(now time.Time) (certPath, keyPath string, created bool, err error) {
	dir, err := devCertDir()
	if err != nil {
		return "", "", false, err
	}
	return ensureDevCertIn(dir, now)
}

func ensureDevCertIn(dir string, now time.Time) (certPath, keyPath string, created bool, err error) {
	certPath, keyPath = filepath.Join(dir, devCertFile), filepath.Join(dir, devKeyFile)
	// A day of margin, so a server started now does not go stale tonight.
	if cert, err := loadDevCertAt(certPath, keyPath, now.Add(24*time.Hour)); err == nil && IsDevCert(cert.Leaf) &&
		!now.Before(cert.Leaf.NotBefore) {
		return certPath, keyPath, false, nil
	}
	certPath, keyPath, err = CreateDevCert(dir, now)
	if err != nil {
		return "", "", false, err
	}
	return certPath, keyPath, true, nil
}

// IsDevCert reports whether leaf is a development certificate made by
// CreateDevCert.
func IsDevCert(leaf *x509.Certificate) bool {
	if leaf == nil {
		return false
	}
	for _, o := range leaf.Subject.Organization {
		if o == DevCertOrganization {
			return true
		}
	}
	return false
}

// TrustInstructions tells, for the operating system this runs on, how to
// make browsers and tools trust the development certificate at certPath.
// Nothing is changed on the system: trusting a certificate is the user's
// decision.
func TrustInstructions(certPath string) string {
	return trustInstructions(runtime.GOOS, certPath)
}

func trustInstructions(goos, certPath string) string {
	var b strings.Builder
	b.WriteString("The development certificate is self-signed; clients trust it once it is added to their trust store.\n")
	switch goos {
	case "windows":
		p := winQuote(certPath)
		b.WriteString("\nWindows (current user; Edge, Chrome and .NET use this store):\n")
		b.WriteString("  certutil -addstore -user Root " + p + "\n")
		b.WriteString("  or in PowerShell: Import-Certificate -FilePath " + p + " -CertStoreLocation Cert:\\CurrentUser\\Root\n")
		b.WriteString("\nFirefox: set security.enterprise_roots.enabled to true in about:config (it then uses the Windows store),\n")
		b.WriteString("  or import the file under Settings > Privacy & Security > Certificates > View Certificates > Servers.\n")
		b.WriteString("\ncurl: curl --cacert " + p + " https://localhost:PORT/\n")
	case "darwin":
		p := shQuote(certPath)
		b.WriteString("\nmacOS (login keychain; Safari, Chrome and curl use it):\n")
		b.WriteString("  security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db " + p + "\n")
		b.WriteString("  (system-wide: sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain " + p + ")\n")
		b.WriteString("\nFirefox: set security.enterprise_roots.enabled to true in about:config (it then uses the keychain),\n")
		b.WriteString("  or import the file under Settings > Privacy & Security > Certificates > View Certificates > Servers.\n")
		b.WriteString("\ncurl: curl --cacert " + p + " https://localhost:PORT/\n")
	default:
		p := shQuote(certPath)
		b.WriteString("\nDebian, Ubuntu (OpenSSL, curl, Go and most other programs; the file must end in .crt):\n")
		b.WriteString("  sudo cp " + p + " /usr/local/share/ca-certificates/kestrel-go-dev.crt\n")
		b.WriteString("  sudo update-ca-certificates\n")
		b.WriteString("\nFedora, RHEL, Arch (p11-kit):\n")
		b.WriteString("  sudo trust anchor --store " + p + "\n")
		b.WriteString("  (or: sudo cp " + p + " /etc/pki/ca-trust/source/anchors/kestrel-go-dev.pem && sudo update-ca-trust)\n")
		b.WriteString("\nChrome, Chromium and Firefox keep their own NSS database (certutil is in libnss3-tools / nss-tools);\n")
		b.WriteString("the certificate is a self-signed server certificate, so it is added as a trusted peer (\"P,,\"):\n")
		b.WriteString("  certutil -d sql:$HOME/.pki/nssdb -A -t \"P,,\" -n kestrel-go-dev -i " + p + "\n")
		b.WriteString("  for Firefox, the same with -d sql:<profile directory> (see about:profiles)\n")
		b.WriteString("\ncurl without changing the system: curl --cacert " + p + " https://localhost:PORT/\n")
	}
	b.WriteString("\nA new development certificate must be trusted again; remove the old one from the stores above.\n")
	return b.String()
}

// shQuote quotes s for a POSIX shell if it needs it.
func shQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:@%,=", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// winQuote quotes s for cmd.exe and PowerShell if it has spaces.
func winQuote(s string) string {
	if strings.ContainsAny(s, " \t&()^;,'") {
		return `"` + s + `"`
	}
	return s
}
