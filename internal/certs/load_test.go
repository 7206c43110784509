package certs

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// loadCase is one loader test: setup writes the files and returns the spec
// and the certificate that must come out (nil when an error is expected).
type loadCase struct {
	name      string
	setup     func(t *testing.T, dir string) (Spec, *issued)
	chainLen  int      // expected len(Certificate); 0 means 1
	wantErr   []string // substrings of the error ("{dir}" is replaced)
	wantErrIs error
}

func TestLoadPEM(t *testing.T) {
	cases := []loadCase{
		{
			name: "PKCS#8 EC key in its own file",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				c := leafCert(t, "pkcs8.test", ecKey)
				cp, kp := writePair(t, dir, "site", c)
				return Spec{Path: cp, KeyPath: kp}, c
			},
		},
		{
			name: "PKCS#8 Ed25519 key",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				c := leafCert(t, "ed.test", edKey)
				cp, kp := writePair(t, dir, "site", c)
				return Spec{Path: cp, KeyPath: kp}, c
			},
		},
		{
			name: "PKCS#1 RSA key",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				c := leafCert(t, "pkcs1.test", rsaKey)
				cp, _ := writePair(t, dir, "site", c)
				kp := writeFile(t, filepath.Join(dir, "rsa.key"), pem.EncodeToMemory(&pem.Block{
					Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(c.key.(*rsa.PrivateKey))}))
				return Spec{Path: cp, KeyPath: kp}, c
			},
		},
		{
			name: "SEC1 EC key after EC PARAMETERS",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				c := leafCert(t, "sec1.test", ecKey)
				cp, _ := writePair(t, dir, "site", c)
				der, err := x509.MarshalECPrivateKey(c.key.(*ecdsa.PrivateKey))
				if err != nil {
					t.Fatal(err)
				}
				params, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
				kp := writeFile(t, filepath.Join(dir, "ec.key"),
					pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: params}),
					pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
				return Spec{Path: cp, KeyPath: kp}, c
			},
		},
		{
			name: "key in the certificate file, before the certificate",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				c := leafCert(t, "combined.test", ecKey)
				p := writeFile(t, filepath.Join(dir, "combined.pem"), pkcs8PEM(t, c.key), certPEM(c.cert))
				return Spec{Path: p}, c
			},
		},
		{
			name: "chain: leaf then intermediate",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				leaf, inter, _ := chain(t, "chain.test")
				cp, kp := writePair(t, dir, "site", leaf, inter.cert)
				return Spec{Path: cp, KeyPath: kp}, leaf
			},
			chainLen: 2,
		},
		{
			name: "chain out of order: intermediate first",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				leaf, inter, _ := chain(t, "order.test")
				cp := writeFile(t, filepath.Join(dir, "site.crt"), certPEM(inter.cert, leaf.cert))
				kp := writeFile(t, filepath.Join(dir, "site.key"), pkcs8PEM(t, leaf.key))
				return Spec{Path: cp, KeyPath: kp}, leaf
			},
			chainLen: 2,
		},
		{
			name: "DER certificate file with PEM key",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				c := leafCert(t, "der.test", ecKey)
				cp := writeFile(t, filepath.Join(dir, "site.cer"), c.cert.Raw)
				kp := writeFile(t, filepath.Join(dir, "site.key"), pkcs8PEM(t, c.key))
				return Spec{Path: cp, KeyPath: kp}, c
			},
		},
		{
			name: "expired certificate still loads",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				c := newCert(t, certOpts{cn: "expired.test", notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-time.Hour)})
				cp, kp := writePair(t, dir, "site", c)
				return Spec{Path: cp, KeyPath: kp}, c
			},
		},
		{
			name: "password given for a plain key is ignored",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				c := leafCert(t, "plain.test", ecKey)
				cp, kp := writePair(t, dir, "site", c)
				return Spec{Path: cp, KeyPath: kp, Password: "unused"}, c
			},
		},
		{
			name: "key does not match the certificate",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				a, b := leafCert(t, "a.test", ecKey), leafCert(t, "b.test", ecKey)
				cp, _ := writePair(t, dir, "a", a)
				_, kp := writePair(t, dir, "b", b)
				return Spec{Path: cp, KeyPath: kp}, nil
			},
			wantErr: []string{"does not match", "{dir}/b.key", "{dir}/a.crt"},
		},
		{
			name: "no PEM block in the certificate file",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				c := leafCert(t, "x.test", ecKey)
				_, kp := writePair(t, dir, "site", c)
				cp := writeFile(t, filepath.Join(dir, "garbage.crt"), []byte("this is not a certificate\n"))
				return Spec{Path: cp, KeyPath: kp}, nil
			},
			wantErr: []string{"{dir}/garbage.crt", "no PEM block"},
		},
		{
			name: "certificate file with only a key",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				c := leafCert(t, "x.test", ecKey)
				_, kp := writePair(t, dir, "site", c)
				return Spec{Path: kp, KeyPath: kp}, nil
			},
			wantErr: []string{"{dir}/site.key", "no certificate found"},
		},
		{
			name: "no key in the certificate file and no KeyPath",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				c := leafCert(t, "x.test", ecKey)
				cp, _ := writePair(t, dir, "site", c)
				return Spec{Path: cp}, nil
			},
			wantErr: []string{"{dir}/site.crt", "no private key", "KeyPath"},
		},
		{
			name: "key file holds a certificate",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				c := leafCert(t, "x.test", ecKey)
				cp, _ := writePair(t, dir, "site", c)
				return Spec{Path: cp, KeyPath: cp}, nil
			},
			wantErr: []string{"{dir}/site.crt", "holds only certificates"},
		},
		{
			name: "missing key file",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				c := leafCert(t, "x.test", ecKey)
				cp, _ := writePair(t, dir, "site", c)
				return Spec{Path: cp, KeyPath: filepath.Join(dir, "nope.key")}, nil
			},
			wantErr:   []string{"{dir}/nope.key"},
			wantErrIs: fs.ErrNotExist,
		},
		{
			name: "certificate only for client authentication",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				c := newCert(t, certOpts{cn: "client.test", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
				cp, kp := writePair(t, dir, "site", c)
				return Spec{Path: cp, KeyPath: kp}, nil
			},
			wantErr: []string{"{dir}/site.crt", "Server Authentication"},
		},
	}
	// Encrypted keys, made by openssl.
	encrypted := []struct {
		name     string
		kind     keyKind
		args     []string // openssl arguments; IN, OUT and the password are added
		password string
		wantErr  []string
		errIs    error
	}{
		{name: "PKCS#8 PBES2 AES-256-CBC", args: []string{"pkcs8", "-topk8", "-v2", "aes-256-cbc"}, password: "s3cret"},
		{name: "PKCS#8 PBES2 AES-128-CBC hmacWithSHA1", args: []string{"pkcs8", "-topk8", "-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA1"}, password: "s3cret"},
		{name: "PKCS#8 PBES2 3DES", args: []string{"pkcs8", "-topk8", "-v2", "des3"}, password: "s3cret"},
		{name: "PKCS#8 scrypt", args: []string{"pkcs8", "-topk8", "-scrypt"}, password: "s3cret"},
		{name: "openssl rsa -aes256 (PKCS#8 in OpenSSL 3)", kind: rsaKey, args: []string{"rsa", "-aes256"}, password: "s3cret"},
		{name: "legacy RSA Proc-Type", kind: rsaKey, args: []string{"rsa", "-aes256", "-traditional"}, password: "s3cret"},
		{name: "legacy EC Proc-Type", args: []string{"ec", "-aes256"}, password: "s3cret"},
		{name: "PKCS#8 wrong password", args: []string{"pkcs8", "-topk8", "-v2", "aes-256-cbc"}, password: "wrong",
			wantErr: []string{"{dir}/enc.key", "password is wrong"}, errIs: ErrWrongPassword},
		{name: "legacy RSA wrong password", kind: rsaKey, args: []string{"rsa", "-aes256", "-traditional"}, password: "wrong",
			wantErr: []string{"{dir}/enc.key", "password is wrong"}, errIs: ErrWrongPassword},
		{name: "legacy EC wrong password", args: []string{"ec", "-aes256"}, password: "wrong",
			wantErr: []string{"{dir}/enc.key", "password is wrong"}, errIs: ErrWrongPassword},
		{name: "PKCS#8 no password", args: []string{"pkcs8", "-topk8", "-v2", "aes-256-cbc"}, password: "",
			wantErr: []string{"{dir}/enc.key", "no password was given"}, errIs: ErrPasswordRequired},
		{name: "legacy no password", args: []string{"ec", "-aes256"}, password: "",
			wantErr: []string{"{dir}/enc.key", "no password was given"}, errIs: ErrPasswordRequired},
		{name: "PKCS#5 v1 PBE is refused clearly", args: []string{"pkcs8", "-topk8", "-v1", "PBE-SHA1-3DES"}, password: "s3cret",
			wantErr: []string{"{dir}/enc.key", "cannot decrypt the private key"}},
	}
	for _, e := range encrypted {
		cases = append(cases, loadCase{
			name: "encrypted " + e.name,
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				c := leafCert(t, "enc.test", e.kind)
				cp, kp := writePair(t, dir, "site", c)
				out := filepath.Join(dir, "enc.key")
				args := append(append([]string{}, e.args...), "-in", kp, "-out", out, "-passout", "pass:s3cret")
				openssl(t, args...)
				if e.wantErr == nil {
					return Spec{Path: cp, KeyPath: out, Password: e.password}, c
				}
				return Spec{Path: cp, KeyPath: out, Password: e.password}, nil
			},
			wantErr:   e.wantErr,
			wantErrIs: e.errIs,
		})
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			spec, want := tc.setup(t, dir)
			cert, err := LoadPEM(spec.Path, spec.KeyPath, spec.Password)
			checkResult(t, dir, tc, cert, err, want)
			// Load must agree for PEM specs.
			cert2, err2 := Load(spec)
			checkResult(t, dir, tc, cert2, err2, want)
		})
	}
}

// checkResult compares a loader's result with the case's expectations.
func checkResult(t *testing.T, dir string, tc loadCase, cert *tls.Certificate, err error, want *issued) {
	t.Helper()
	if tc.wantErr != nil || tc.wantErrIs != nil {
		if err == nil {
			t.Fatalf("loaded %v, want an error", cert.Leaf.Subject)
		}
		t.Logf("error: %v", err)
		for _, s := range tc.wantErr {
			s = strings.ReplaceAll(s, "{dir}", dir)
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not contain %q", err, s)
			}
		}
		if tc.wantErrIs != nil && !errors.Is(err, tc.wantErrIs) {
			t.Errorf("error %q is not %v", err, tc.wantErrIs)
		}
		return
	}
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if cert.Leaf == nil || !cert.Leaf.Equal(want.cert) {
		t.Fatalf("Leaf is not the expected certificate")
	}
	if string(cert.Certificate[0]) != string(want.cert.Raw) {
		t.Errorf("Certificate[0] is not the leaf")
	}
	wantLen := tc.chainLen
	if wantLen == 0 {
		wantLen = 1
	}
	if len(cert.Certificate) != wantLen {
		t.Errorf("chain length %d, want %d", len(cert.Certificate), wantLen)
	}
	if !sameKey(cert, want.key) {
		t.Errorf("private key is not the expected one")
	}
}

func TestLoadPFX(t *testing.T) {
	cases := []loadCase{
		{
			name: "OpenSSL 3 default (AES-256, PBES2)",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				c := leafCert(t, "pfx.test", ecKey)
				return Spec{Path: makePFX(t, dir, "site", c, "pfxpass", nil), Password: "pfxpass"}, c
			},
		},
		{
			name: "legacy (RC2/3DES) with -legacy",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				c := leafCert(t, "legacy.test", rsaKey)
				return Spec{Path: makePFX(t, dir, "site", c, "pfxpass", nil, "-legacy"), Password: "pfxpass"}, c
			},
		},
		{
			name: "with intermediate chain",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				leaf, inter, root := chain(t, "chain.test")
				return Spec{Path: makePFX(t, dir, "site", leaf, "pfxpass", []*x509.Certificate{inter.cert, root.cert}), Password: "pfxpass"}, leaf
			},
			chainLen: 3,
		},
		{
			name: "legacy with chain",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				leaf, inter, _ := chain(t, "chain.test")
				return Spec{Path: makePFX(t, dir, "site", leaf, "pfxpass", []*x509.Certificate{inter.cert}, "-legacy"), Password: "pfxpass"}, leaf
			},
			chainLen: 2,
		},
		{
			name: "empty password",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				c := leafCert(t, "nopass.test", ecKey)
				return Spec{Path: makePFX(t, dir, "site", c, "", nil)}, c
			},
		},
		{
			name: "wrong password",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				c := leafCert(t, "pfx.test", ecKey)
				return Spec{Path: makePFX(t, dir, "site", c, "right", nil), Password: "wrong"}, nil
			},
			wantErr:   []string{"{dir}/site.pfx", "password is wrong"},
			wantErrIs: ErrWrongPassword,
		},
		{
			name: "wrong password, legacy",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				c := leafCert(t, "pfx.test", ecKey)
				return Spec{Path: makePFX(t, dir, "site", c, "right", nil, "-legacy"), Password: "wrong"}, nil
			},
			wantErr:   []string{"{dir}/site.pfx", "password is wrong"},
			wantErrIs: ErrWrongPassword,
		},
		{
			name: "password missing",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				c := leafCert(t, "pfx.test", ecKey)
				return Spec{Path: makePFX(t, dir, "site", c, "right", nil)}, nil
			},
			wantErr:   []string{"{dir}/site.pfx", "none was given"},
			wantErrIs: ErrPasswordRequired,
		},
		{
			name: "not a PKCS#12 file",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				return Spec{Path: writeFile(t, filepath.Join(dir, "bad.pfx"), []byte{0x30, 0x03, 0x02, 0x01, 0x03}), Password: "x"}, nil
			},
			wantErr: []string{"{dir}/bad.pfx", "not a valid PKCS#12"},
		},
		{
			name: "missing file",
			setup: func(t *testing.T, dir string) (Spec, *issued) {
				return Spec{Path: filepath.Join(dir, "none.pfx")}, nil
			},
			wantErr:   []string{"{dir}/none.pfx"},
			wantErrIs: fs.ErrNotExist,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			spec, want := tc.setup(t, dir)
			cert, err := LoadPFX(spec.Path, spec.Password)
			checkResult(t, dir, tc, cert, err, want)
			cert2, err2 := Load(spec)
			checkResult(t, dir, tc, cert2, err2, want)
		})
	}
}

func TestLoadChoosesFormat(t *testing.T) {
	dir := t.TempDir()
	c := leafCert(t, "sniff.test", ecKey)
	pfx := makePFX(t, dir, "site", c, "pw", nil)

	// A PKCS#12 file without the usual extension is recognised by content.
	data, err := os.ReadFile(pfx)
	if err != nil {
		t.Fatal(err)
	}
	odd := writeFile(t, filepath.Join(dir, "site.bin"), data)
	got, err := Load(Spec{Path: odd, Password: "pw"})
	if err != nil {
		t.Fatalf("Load(PKCS#12 named .bin): %v", err)
	}
	if !got.Leaf.Equal(c.cert) {
		t.Error("wrong certificate")
	}
	if _, err := Load(Spec{Path: odd, Password: "nope"}); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("wrong password on sniffed PKCS#12: %v", err)
	}

	// .p12 is PKCS#12 too, and KeyPath makes no sense with it.
	p12 := writeFile(t, filepath.Join(dir, "site.P12"), data)
	if _, err := Load(Spec{Path: p12, Password: "pw"}); err != nil {
		t.Errorf("Load(.P12): %v", err)
	}
	if _, err := Load(Spec{Path: p12, KeyPath: "x.key", Password: "pw"}); err == nil || !strings.Contains(err.Error(), "KeyPath") {
		t.Errorf("Load(.p12 with KeyPath) = %v, want an error about KeyPath", err)
	}

	// A DER certificate without KeyPath: say what is missing.
	der := writeFile(t, filepath.Join(dir, "site.cer"), c.cert.Raw)
	if _, err := Load(Spec{Path: der}); err == nil || !strings.Contains(err.Error(), "KeyPath") {
		t.Errorf("Load(DER cert alone) = %v, want an error about KeyPath", err)
	}

	if _, err := Load(Spec{}); err == nil {
		t.Error("Load(empty spec) succeeded")
	}
}

func TestExpired(t *testing.T) {
	fresh := leafCert(t, "fresh.test", ecKey)
	old := newCert(t, certOpts{cn: "old.test", notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-time.Minute)})
	for _, tc := range []struct {
		name string
		cert *tls.Certificate
		want bool
	}{
		{"valid", &tls.Certificate{Certificate: [][]byte{fresh.cert.Raw}, Leaf: fresh.cert}, false},
		{"expired", &tls.Certificate{Certificate: [][]byte{old.cert.Raw}, Leaf: old.cert}, true},
		{"expired, Leaf unset", &tls.Certificate{Certificate: [][]byte{old.cert.Raw}}, true},
		{"nil", nil, false},
	} {
		if got := Expired(tc.cert); got != tc.want {
			t.Errorf("%s: Expired = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestGuardTurnsPanicsIntoErrors(t *testing.T) {
	err := guard(func() error { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("guard = %v", err)
	}
}
