package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/youmark/pkcs8"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// Spec names the files of one certificate, like a certificate section of
// Kestrel's configuration: Path is a .pfx/.p12 file, or a PEM (or DER)
// certificate file; KeyPath is the PEM private key that goes with a PEM
// certificate (empty: the key is in the certificate file); Password opens the
// PKCS#12 file or the encrypted private key.
type Spec struct {
	Path     string
	KeyPath  string
	Password string
}

// ErrWrongPassword is wrapped by the errors of the loaders when a password
// does not open a PKCS#12 file or an encrypted private key.
var ErrWrongPassword = errors.New("the password is wrong")

// ErrPasswordRequired is wrapped by the errors of the loaders when a private
// key is encrypted and no password was given.
var ErrPasswordRequired = errors.New("the private key is encrypted and no password was given")

// Load loads the certificate that spec describes. A Path ending in .pfx or
// .p12 is read as PKCS#12; so is a binary (non-PEM) file when KeyPath is
// empty. Everything else is read as PEM by LoadPEM.
func Load(spec Spec) (*tls.Certificate, error) {
	if spec.Path == "" {
		return nil, errors.New("no certificate path given")
	}
	switch strings.ToLower(filepath.Ext(spec.Path)) {
	case ".pfx", ".p12":
		if spec.KeyPath != "" {
			return nil, fmt.Errorf("%s: a PKCS#12 file carries its own private key; KeyPath (%s) must be empty", spec.Path, spec.KeyPath)
		}
		return LoadPFX(spec.Path, spec.Password)
	}
	data, err := os.ReadFile(spec.Path)
	if err != nil {
		return nil, fmt.Errorf("reading the certificate: %w", err)
	}
	if spec.KeyPath == "" && !isPEM(data) {
		if _, err := x509.ParseCertificate(data); err == nil {
			return nil, fmt.Errorf("%s: the file is a DER certificate without a private key; set KeyPath to the key file", spec.Path)
		}
		return loadPFXData(spec.Path, data, spec.Password)
	}
	var keyData []byte
	if spec.KeyPath != "" {
		if keyData, err = os.ReadFile(spec.KeyPath); err != nil {
			return nil, fmt.Errorf("reading the private key: %w", err)
		}
	}
	return loadPEMData(spec.Path, data, spec.KeyPath, keyData, spec.Password)
}

// LoadPFX loads a PKCS#12 file: the private key, the certificate that matches
// it (the leaf) and the other certificates of the file as its chain. Both the
// AES-256/PBES2 files that OpenSSL 3 writes by default and the legacy
// RC2/3DES ones (openssl pkcs12 -legacy) are understood.
func LoadPFX(path, password string) (*tls.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the certificate: %w", err)
	}
	return loadPFXData(path, data, password)
}

func loadPFXData(path string, data []byte, password string) (*tls.Certificate, error) {
	var (
		key  any
		leaf *x509.Certificate
		cas  []*x509.Certificate
	)
	err := guard(func() (err error) {
		key, leaf, cas, err = pkcs12.DecodeChain(data, password)
		return err
	})
	if err != nil {
		var notImpl pkcs12.NotImplementedError
		switch {
		case errors.Is(err, pkcs12.ErrIncorrectPassword), errors.Is(err, pkcs12.ErrDecryption):
			if password == "" {
				return nil, &wrapError{fmt.Sprintf("%s: the PKCS#12 file is protected by a password and none was given", path), ErrPasswordRequired}
			}
			return nil, fmt.Errorf("%s: %w for this PKCS#12 file", path, ErrWrongPassword)
		case errors.As(err, &notImpl):
			return nil, fmt.Errorf("%s: the PKCS#12 file uses a feature that is not supported: %v", path, err)
		default:
			return nil, fmt.Errorf("%s: not a valid PKCS#12 (.pfx) file: %v", path, err)
		}
	}
	return assemble(path, path, key, append([]*x509.Certificate{leaf}, cas...))
}

// LoadPEM loads a PEM certificate file (the server certificate and any
// intermediates, in any order) and a PEM private key file. The key may be
// PKCS#8 ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY") or SEC1 ("EC PRIVATE
// KEY"); encrypted keys are opened with password, both PKCS#8 "ENCRYPTED
// PRIVATE KEY" (PBES2, as openssl pkcs8 -topk8 -v2 writes) and the legacy
// "Proc-Type: 4,ENCRYPTED" headers (openssl rsa -aes256 -traditional). When
// keyPath is empty the key is taken from the certificate file. The
// certificate file may also be a single DER certificate.
func LoadPEM(certPath, keyPath, password string) (*tls.Certificate, error) {
	certData, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("reading the certificate: %w", err)
	}
	var keyData []byte
	if keyPath != "" {
		if keyData, err = os.ReadFile(keyPath); err != nil {
			return nil, fmt.Errorf("reading the private key: %w", err)
		}
	}
	return loadPEMData(certPath, certData, keyPath, keyData, password)
}

func loadPEMData(certPath string, certData []byte, keyPath string, keyData []byte, password string) (*tls.Certificate, error) {
	certs, certFileKeys, err := parsePEMFile(certPath, certData)
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no certificate found (expected a CERTIFICATE PEM block)", certPath)
	}
	keys := certFileKeys
	if keyPath == "" {
		keyPath = certPath
		if len(keys) == 0 {
			return nil, fmt.Errorf("%s: no private key found in the certificate file; set KeyPath to the key file", certPath)
		}
	} else {
		var keyFileCerts []*x509.Certificate
		if keyFileCerts, keys, err = parsePEMFile(keyPath, keyData); err != nil {
			return nil, err
		}
		if len(keys) == 0 {
			what := "has no private key"
			if len(keyFileCerts) > 0 {
				what = "holds only certificates"
			}
			return nil, fmt.Errorf("%s: the key file %s; expected a PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY or ENCRYPTED PRIVATE KEY PEM block", keyPath, what)
		}
	}
	if len(keys) > 1 {
		return nil, fmt.Errorf("%s: %d private keys found; expected one", keyPath, len(keys))
	}
	key, err := parseKeyBlock(keyPath, keys[0], password)
	if err != nil {
		return nil, err
	}
	return assemble(certPath, keyPath, key, certs)
}

// isPEM reports whether data looks like PEM text rather than binary DER.
func isPEM(data []byte) bool {
	return bytes.Contains(data, []byte("-----BEGIN "))
}

// parsePEMFile splits a PEM file into its certificates and its private key
// blocks; other blocks (EC PARAMETERS, ...) are skipped. A file with no PEM
// block at all is tried as one or more DER certificates.
func parsePEMFile(path string, data []byte) (certs []*x509.Certificate, keys []*pem.Block, err error) {
	rest := data
	blocks := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		blocks++
		switch {
		case block.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: CERTIFICATE block %d is not a valid certificate: %v", path, blocks, err)
			}
			certs = append(certs, c)
		case block.Type == "PRIVATE KEY" || block.Type == "ENCRYPTED PRIVATE KEY" ||
			strings.HasSuffix(block.Type, " PRIVATE KEY"):
			keys = append(keys, block)
		}
	}
	if blocks == 0 && len(data) > 0 {
		if der, err := x509.ParseCertificates(data); err == nil && len(der) > 0 {
			return der, nil, nil
		}
		return nil, nil, fmt.Errorf("%s: no PEM block found (and not a DER certificate)", path)
	}
	if blocks == 0 {
		return nil, nil, fmt.Errorf("%s: the file is empty", path)
	}
	return certs, keys, nil
}

// parseKeyBlock turns one private key PEM block into a key, decrypting it
// with password when it is encrypted.
func parseKeyBlock(path string, block *pem.Block, password string) (any, error) {
	if block.Type == "ENCRYPTED PRIVATE KEY" {
		if password == "" {
			return nil, fmt.Errorf("%s: %w", path, ErrPasswordRequired)
		}
		var key any
		err := guard(func() (err error) {
			key, _, err = pkcs8.ParsePrivateKey(block.Bytes, []byte(password))
			return err
		})
		if err != nil {
			// youmark/pkcs8 reports a failed decryption only by this text.
			if strings.Contains(err.Error(), "incorrect password") {
				return nil, fmt.Errorf("%s: %w for the encrypted private key", path, ErrWrongPassword)
			}
			return nil, fmt.Errorf("%s: cannot decrypt the private key (supported: PKCS#8 PBES2 with PBKDF2 or scrypt and AES-CBC or 3DES, as openssl pkcs8 -topk8 -v2 aes-256-cbc writes): %v", path, err)
		}
		return key, nil
	}

	der := block.Bytes
	decrypted := false
	//lint:ignore SA1019 legacy encrypted keys are accepted on purpose, see below.
	if x509.IsEncryptedPEMBlock(block) {
		// RFC 1423 "Proc-Type: 4,ENCRYPTED" keys are insecure (MD5 key
		// derivation, no integrity check) and x509.DecryptPEMBlock is
		// deprecated for that reason, but it is the standard library's own
		// decoder, and such keys still come out of openssl -traditional and
		// older tools. Accept them; a wrong password is caught below.
		if password == "" {
			return nil, fmt.Errorf("%s: %w", path, ErrPasswordRequired)
		}
		var err error
		//lint:ignore SA1019 see above.
		der, err = x509.DecryptPEMBlock(block, []byte(password))
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, fmt.Errorf("%s: %w for the encrypted private key", path, ErrWrongPassword)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: cannot decrypt the private key: %v", path, err)
		}
		decrypted = true
	}

	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(der)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(der)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(der)
	default:
		return nil, fmt.Errorf("%s: unsupported private key type %q", path, block.Type)
	}
	if err != nil {
		if decrypted {
			// The padding check of RFC 1423 passes by chance now and then.
			return nil, fmt.Errorf("%s: %w for the encrypted private key", path, ErrWrongPassword)
		}
		return nil, fmt.Errorf("%s: malformed %s: %v", path, block.Type, err)
	}
	return key, nil
}

// assemble checks the key, finds the certificate that matches it and builds
// the tls.Certificate: leaf first, then the other certificates in file order.
func assemble(certPath, keyPath string, key any, certs []*x509.Certificate) (*tls.Certificate, error) {
	switch key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
	default:
		return nil, fmt.Errorf("%s: private key type %T cannot be used for TLS (need RSA, ECDSA or Ed25519)", keyPath, key)
	}
	pub, ok := key.(crypto.Signer).Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return nil, fmt.Errorf("%s: unsupported private key type %T", keyPath, key)
	}
	leafIndex := -1
	for i, c := range certs {
		if c != nil && pub.Equal(c.PublicKey) {
			leafIndex = i
			break
		}
	}
	if leafIndex < 0 {
		if certPath == keyPath {
			return nil, fmt.Errorf("%s: the private key does not match the certificate", certPath)
		}
		return nil, fmt.Errorf("the private key in %s does not match the certificate in %s", keyPath, certPath)
	}
	leaf := certs[leafIndex]
	if err := checkServerAuth(leaf); err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	out := &tls.Certificate{PrivateKey: key, Leaf: leaf}
	out.Certificate = append(out.Certificate, leaf.Raw)
	for i, c := range certs {
		if i != leafIndex && c != nil {
			out.Certificate = append(out.Certificate, c.Raw)
		}
	}
	return out, nil
}

// checkServerAuth refuses, as Kestrel does, a certificate whose Extended Key
// Usage extension does not allow server authentication.
func checkServerAuth(leaf *x509.Certificate) error {
	if len(leaf.ExtKeyUsage) == 0 && len(leaf.UnknownExtKeyUsage) == 0 {
		return nil
	}
	for _, u := range leaf.ExtKeyUsage {
		if u == x509.ExtKeyUsageServerAuth || u == x509.ExtKeyUsageAny {
			return nil
		}
	}
	return fmt.Errorf("certificate %q cannot be used as a TLS server certificate: its Extended Key Usage does not include Server Authentication", leaf.Subject.String())
}

// Expired reports whether cert's leaf certificate is past its NotAfter date.
// Kestrel loads expired certificates all the same; callers should log a
// warning.
func Expired(cert *tls.Certificate) bool {
	return expiredAt(cert, time.Now())
}

func expiredAt(cert *tls.Certificate, now time.Time) bool {
	leaf := leafOf(cert)
	return leaf != nil && now.After(leaf.NotAfter)
}

// leafOf returns cert's parsed leaf, parsing it when Leaf is not set.
func leafOf(cert *tls.Certificate) *x509.Certificate {
	if cert == nil {
		return nil
	}
	if cert.Leaf != nil {
		return cert.Leaf
	}
	if len(cert.Certificate) == 0 {
		return nil
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil
	}
	return leaf
}

// wrapError is an error with its own text that wraps a sentinel error.
type wrapError struct {
	msg string
	err error
}

func (e *wrapError) Error() string { return e.msg }
func (e *wrapError) Unwrap() error { return e.err }

// guard runs a third-party decoder, turning a panic on malformed input into
// an error so that a damaged file cannot bring the server down.
func guard(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed data (decoder failed: %v)", r)
		}
	}()
	return fn()
}
