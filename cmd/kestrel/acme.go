package main

import (
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// acmeFlags are the automatic HTTPS flags: each sets a key of Kestrel:Acme
// over the configuration file's (the certificate of the https://
// endpoints without one of their own).
type acmeFlags struct {
	domains  listFlag
	email    string
	ca       string
	staging  bool
	agree    bool
	storage  string
	caRoots  string
	declared *flag.FlagSet
}

// listFlag is a flag that may be repeated, each value a comma-separated
// list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// addACMEFlags declares the flags on fs.
func addACMEFlags(fs *flag.FlagSet) *acmeFlags {
	a := &acmeFlags{declared: fs}
	fs.Var(&a.domains, "acme-domain", "get the certificate of the https:// endpoints without one from an ACME CA (Let's Encrypt by default) for this `domain`; repeat, or separate with commas, for more (Kestrel:Acme:Domains). The CA validates on port 443 (TLS-ALPN-01) or on an http:// endpoint on port 80 (HTTP-01)")
	fs.StringVar(&a.email, "acme-email", "", "the contact e-mail `address` of the ACME account (Kestrel:Acme:Email)")
	fs.StringVar(&a.ca, "acme-ca", "", "the `URL` of the ACME CA's directory (Kestrel:Acme:CA; default Let's Encrypt's production CA)")
	fs.BoolVar(&a.staging, "acme-staging", false, "use Let's Encrypt's staging CA, whose certificates browsers do not trust, to try a set-up (Kestrel:Acme:Staging)")
	fs.BoolVar(&a.agree, "acme-agree", false, "agree to the ACME CA's subscriber agreement, which it requires (Kestrel:Acme:AgreeToTerms; Let's Encrypt's: https://letsencrypt.org/repository/)")
	fs.StringVar(&a.storage, "acme-storage", "", "the `folder` of the ACME certificates, keys and account, which instances may share (Kestrel:Acme:Storage; default ~/.local/share/kestrel/acme)")
	fs.StringVar(&a.caRoots, "acme-ca-roots", "", "a PEM `file` of the roots that sign the ACME CA's own HTTPS certificate, for a private CA (Kestrel:Acme:CARootsFile)")
	return a
}

// overrides adds the keys the flags set.
func (a *acmeFlags) overrides(o map[string]string) error {
	for i, d := range a.domains {
		o["Kestrel:Acme:Domains:"+strconv.Itoa(i)] = d
	}
	set := func(flagName, key, v string) {
		if flagSet(a.declared, flagName) {
			o[key] = v
		}
	}
	set("acme-email", "Kestrel:Acme:Email", a.email)
	set("acme-ca", "Kestrel:Acme:CA", a.ca)
	set("acme-staging", "Kestrel:Acme:Staging", strconv.FormatBool(a.staging))
	set("acme-agree", "Kestrel:Acme:AgreeToTerms", strconv.FormatBool(a.agree))
	for _, p := range []struct{ flag, key, v string }{{"acme-storage", "Kestrel:Acme:Storage", a.storage}, {"acme-ca-roots", "Kestrel:Acme:CARootsFile", a.caRoots}} {
		if !flagSet(a.declared, p.flag) {
			continue
		}
		abs, err := filepath.Abs(p.v) // relative to the working folder, not the configuration file's
		if err != nil || p.v == "" {
			return fmt.Errorf("--%s %q: name a folder or file", p.flag, p.v)
		}
		o[p.key] = abs
	}
	if a.staging && a.ca != "" {
		return fmt.Errorf("--acme-staging and --acme-ca %s both choose the CA; keep one", a.ca)
	}
	return nil
}
