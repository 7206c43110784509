package kestrel

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// rfNext separates the answers to pipelined requests.
const rfNext = "\n=== next\n"

func rfRefused(s string) bool {
	return strings.HasPrefix(s, "GOAWAY PROTOCOL_ERROR") || strings.HasPrefix(s, "status 4") || strings.HasPrefix(s, "status 5") || strings.HasPrefix(s, "RST_STREAM") || strings.Contains(s, "canceled by remote") || strings.HasPrefix(s, "read: ")
}

func rfDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var d []string
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			d = append(d, fmt.Sprintf("  here:  %.300s\n  model: %.300s", x, y))
		}
	}
	return strings.Join(d, "\n")
}

// rfNormalize takes out of a summary the differences between this server
// and the model that are by design: see TestRandomRequestsAgainstNetHTTP.
func rfNormalize(proto string, g genReq, here, model string) (string, string) {
	if proto == "HTTP/1.1" {
		switch g.edge {
		case "te-cl":
			// Transfer-Encoding with Content-Length: refused here, as the
			// README says (RFC 9112, 6.3 allows it); net/http serves it.
			if rfRefused(here) {
				return here, here
			}
		case "expect-other":
			// An expectation other than 100-continue: net/http answers
			// 417, this server serves it, as Kestrel does (RFC 9110,
			// 10.1.1: a server MAY answer 417).
			if rfRefused(model) {
				return model, model
			}
		}
		return here, model
	}
	switch g.edge {
	case "host-too":
		// A host field beside :authority: net/http's HTTP/2 server and
		// quic-go leave it in Header; this server moves it to
		// Request.Host, as net/http's HTTP/1.1 server does (see
		// TestRequestFieldsAcrossProtocols).
		model = rfDropLines(model, "H Host=")
	case "cl-dup":
		// content-length twice: net/http's HTTP/2 server keeps both
		// copies in Header; RFC 9110, 8.6 makes them one field, as
		// quic-go and this server have it (TestRepeatedContentLength).
		if proto == "h2c" {
			model = rfReplaceLine(model, "H Content-Length=", rfLine(here, "H Content-Length="))
		}
	case "expect":
		// net/http's HTTP/2 server takes Expect: 100-continue out of
		// Header; this server keeps it over every protocol, as net/http's
		// HTTP/1.1 server and quic-go do.
		here = rfDropLines(here, "H Expect=")
		model = rfDropLines(model, "H Expect=")
	case "odd-path":
		// A space in :path: malformed (RFC 9113, 8.3.1 and RFC 9114,
		// 4.3.1 take :path from the target URI, RFC 3986 has no space),
		// and this server resets the stream; net/http's HTTP/2 server and
		// quic-go serve it.
		if rfRefused(here) && strings.Contains(rfLine(model, "RequestURI="), " ") {
			return here, here
		}
	case "ws-value":
		// A value with leading or trailing whitespace makes the request
		// malformed (RFC 9113, 8.2.1; RFC 9114, 4.2 by RFC 9110, 5.5):
		// this server resets the stream; net/http's HTTP/2 server and
		// quic-go serve it.
		if rfRefused(here) {
			return here, here
		}
	}
	// Trailers the Trailer header did not declare: this server puts them
	// in Request.Trailer over every protocol, as net/http's HTTP/1.1
	// server does; net/http's HTTP/2 server and quic-go drop them.
	declared := map[string]bool{}
	for _, f := range g.fields {
		if strings.EqualFold(f[0], "trailer") {
			for _, n := range strings.Split(f[1], ",") {
				declared[http.CanonicalHeaderKey(strings.TrimSpace(n))] = true
			}
		}
	}
	for _, f := range g.trailers {
		if !declared[http.CanonicalHeaderKey(f[0])] {
			here = rfReplaceLine(here, "TrailerAfter=", "TrailerAfter=(undeclared trailers)")
			model = rfReplaceLine(model, "TrailerAfter=", "TrailerAfter=(undeclared trailers)")
			break
		}
	}
	if proto == "HTTP/3" {
		// quic-go's Request.Trailer after the body holds the trailers that
		// came, without the declared names that did not come; this server
		// keeps those with no value, as net/http's servers do.
		drop := func(s string) string {
			l := rfLine(s, "TrailerAfter=")
			l = rfNoValueTrailers.ReplaceAllStringFunc(l, func(m string) string { return strings.TrimSpace(m[:1]) })
			return rfReplaceLine(s, "TrailerAfter=", strings.Replace(l, "{ ", "{", 1))
		}
		here, model = drop(here), drop(model)
	}
	if proto == "HTTP/3" && len(g.body) == 0 && len(g.trailers) == 0 {
		here = strings.Replace(here, "\nCL=-1\n", "\nCL=0\n", 1)
		// quic-go does not look for a FIN that came with the HEADERS frame
		// (no DATA frame was sent), and this server sees it only when it
		// came in the same packet:
		// ContentLength -1 for a request without a body; this server gives
		// 0, as net/http's HTTP/2 server gives for END_STREAM on HEADERS.
		model = strings.Replace(model, "\nCL=-1\n", "\nCL=0\n", 1)
	}
	return here, model
}

// rfNoValueTrailers matches a name with no values in the TrailerAfter line.
var rfNoValueTrailers = regexp.MustCompile(`[{ ][^ ={}\[\]"]+=\[\]`)

// rfDropLines drops the lines of s that begin with prefix.
func rfDropLines(s, prefix string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if !strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// rfLine is the line of s that begins with prefix.
func rfLine(s, prefix string) string {
	for l := range strings.SplitSeq(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// rfReplaceLine replaces the line of s that begins with prefix with line.
func rfReplaceLine(s, prefix, line string) string {
	ls := strings.Split(s, "\n")
	for i, l := range ls {
		if strings.HasPrefix(l, prefix) {
			ls[i] = line
		}
	}
	return strings.Join(ls, "\n")
}

// TestRandomRequestsAgainstNetHTTP sends generated requests (seeded, the
// same every run) over HTTP/1.1, h2c and HTTP/3 to this server and to the
// model (net/http's server for HTTP/1.1 and h2c, quic-go's http3.Server
// for HTTP/3), and compares what the same handler sees. RFUZZ_N sets the
// number of requests per protocol, RFUZZ_SEED the seed.
func TestRandomRequestsAgainstNetHTTP(t *testing.T) {
	t.Parallel()
	n, seed := 60, uint64(1)
	if v, err := strconv.Atoi(os.Getenv("RFUZZ_N")); err == nil {
		n = v
	}
	if v, err := strconv.ParseUint(os.Getenv("RFUZZ_SEED"), 10, 64); err == nil {
		seed = v
	}
	addr, addr3 := rfStart(t)

	maddr := startNetHTTPModel(t, rfHandler)

	maddr3 := startQUICGoModel(t, rfHandler)

	// Each protocol's send gives what this server's handler and the
	// model's saw of the same request.
	protos := []struct {
		name string
		h2   bool
		send func(r *rand.Rand, g genReq) (gs []genReq, here, model string)
	}{
		{"HTTP/1.1", false, func(r *rand.Rand, g genReq) ([]genReq, string, string) {
			raw := g.h1Bytes(r)
			if r.IntN(3) == 0 {
				// Pipelined behind another request on the connection.
				g0 := genRequest(r, false)
				g0.edge = ""
				raw = g0.h1Bytes(r) + raw
				return []genReq{g0, g}, rfSendH1N(addr, raw, 2), rfSendH1N(maddr, raw, 2)
			}
			return []genReq{g}, rfSendH1(addr, raw), rfSendH1(maddr, raw)
		}},
		{"h2c", true, func(r *rand.Rand, g genReq) ([]genReq, string, string) {
			gs := []genReq{g}
			if r.IntN(3) == 0 {
				// After another request on the connection: a stream the
				// server may reuse, and HPACK's dynamic table in use.
				g0 := genRequest(r, true)
				g0.edge = ""
				gs = []genReq{g0, g}
			}
			return gs, rfSendH2N(addr, gs), rfSendH2N(maddr, gs)
		}},
		{"HTTP/3", true, func(r *rand.Rand, g genReq) ([]genReq, string, string) {
			gs := []genReq{g}
			if r.IntN(3) == 0 {
				g0 := genRequest(r, true)
				g0.edge = ""
				gs = []genReq{g0, g}
			}
			return gs, rfSendH3N(addr3, gs), rfSendH3N(maddr3, gs)
		}},
	}
	var wg sync.WaitGroup
	for _, p := range protos {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(len(p.name))))
			fails, served := 0, 0
			for i := range n {
				gs, here, model := p.send(r, genRequest(r, p.h2))
				hs, ms := strings.Split(here, rfNext), strings.Split(model, rfNext)
				if !rfRefused(hs[0]) || !rfRefused(ms[0]) {
					served++
				}
				for j := 0; j < min(len(hs), len(ms), len(gs)); j++ {
					if rfRefused(hs[j]) && rfRefused(ms[j]) {
						// Both refused it; the connection may be gone, and
						// the answers after it are not compared.
						hs, ms = hs[:j+1], ms[:j]
						ms = append(ms, hs[j])
						break
					}
					hs[j], ms[j] = rfNormalize(p.name, gs[j], hs[j], ms[j])
				}
				here, model = strings.Join(hs, rfNext), strings.Join(ms, rfNext)
				g := gs[len(gs)-1]
				if here != model && fails < 30 {
					fails++
					t.Errorf("%s #%d %s:\n%s", p.name, i, g, rfDiff(here, model))
					if os.Getenv("RFUZZ_V") != "" {
						t.Logf("here:\n%s\nmodel:\n%s", here, model)
					}
				}
			}
			if served < n/2 {
				t.Errorf("%s: %d of %d requests served by either server: the generator makes too few requests a server takes", p.name, served, n)
			}
		})
	}
	wg.Wait()
}
