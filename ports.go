package kestrel

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kestrel-go/kestrel/internal/logevents"
)

// portsSetting is what UsePorts was given.
type portsSetting struct {
	http, https string     // as given, for the log
	eps         []endpoint // the sockets of the URLs they stand for
	raw         []string   // those URLs
}

// UsePorts sets the ports of .NET 8's HTTP_PORTS and HTTPS_PORTS
// settings (ASPNETCORE_HTTP_PORTS=8080 in Microsoft's container images):
// semicolon-separated port numbers, each of which binds every address,
// "8080;8081" as http://*:8080 and http://*:8081, and the HTTPS ones as
// https://*:PORT with the default certificate (DefaultHTTPS,
// Kestrel:Certificates:Default, or the development certificate). Either
// may be empty.
//
// The precedence is ASP.NET Core's: URLs given to UseURLs win over the
// ports, and Start then logs the warning "Overriding HTTP_PORTS '...' and
// HTTPS_PORTS '...'. Binding to values defined by URLS instead '...'.";
// like those URLs, the ports serve only while no endpoint was added in
// code or by a configuration file (Start then logs the URLs they stand
// for as overridden addresses), through Reload too.
//
// A port listed twice, in one setting or in both, is an error (ASP.NET
// Core would fail to bind the second time, with a misleading "address
// already in use"); port 0, a free port chosen at start, may repeat.
func (s *Server) UsePorts(httpPorts, httpsPorts string) error {
	p := &portsSetting{http: httpPorts, https: httpsPorts}
	seen := make(map[uint64]string) // port: the setting that listed it
	for _, set := range []struct{ name, scheme, ports string }{{"HTTP_PORTS", "http", httpPorts}, {"HTTPS_PORTS", "https", httpsPorts}} {
		for _, port := range strings.Split(set.ports, ";") {
			if port = strings.TrimSpace(port); port == "" {
				continue
			}
			n, err := strconv.ParseUint(port, 10, 16)
			if err != nil {
				return fmt.Errorf("kestrel: %s %q: %q is not a port number; use port numbers separated by semicolons, such as 8080;8081", set.name, set.ports, port)
			}
			if prev, ok := seen[n]; ok && n != 0 {
				if prev == set.name {
					return fmt.Errorf("kestrel: %s %q: port %d is listed twice; list each port once", set.name, set.ports, n)
				}
				return fmt.Errorf("kestrel: port %d is in both HTTP_PORTS %q and HTTPS_PORTS %q; give HTTP and HTTPS a port each", n, httpPorts, httpsPorts)
			}
			seen[n] = set.name
			u := set.scheme + "://*:" + port
			eps, err := Endpoint{URL: u}.resolve()
			if err != nil {
				return fmt.Errorf("kestrel: %s %q: %w", set.name, set.ports, err)
			}
			p.eps = append(p.eps, eps...)
			p.raw = append(p.raw, u)
		}
	}
	if httpPorts == "" && httpsPorts == "" {
		p = nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ports = p
	return nil
}

// applyPorts puts the URLs of UsePorts in the place of those of UseURLs
// when it gave none, and otherwise logs that the URLs win, as ASP.NET's
// web host does before it starts the server. s.mu is held.
func (s *Server) applyPorts() {
	p := s.ports
	if p == nil {
		return
	}
	s.ports = nil
	if len(s.rawURLs) > 0 {
		logevents.PortsOverridenByUrls(s.log, p.http, p.https, strings.Join(s.rawURLs, ";"))
		return
	}
	s.urls, s.rawURLs = p.eps, p.raw
}
