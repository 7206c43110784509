package kestrel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// checkLinear fails t unless an operation costs about the same per item
// at large items as at small (large is 16 times small in these tests; a
// cost in the square of n is then 16 times as much per item). prepare(n)
// sets up, untimed, the operation on n items; the least of five runs,
// each after a collection of garbage, is timed at each size, as the
// machine may be busy.
func checkLinear(t *testing.T, what string, small, large int, prepare func(n int) func()) {
	t.Helper()
	perItem := func(n int) time.Duration {
		best := time.Duration(math.MaxInt64)
		for range 5 {
			run := prepare(n)
			runtime.GC()
			start := time.Now()
			run()
			best = min(best, time.Since(start))
		}
		return best / time.Duration(n)
	}
	tSmall, tLarge := perItem(small), perItem(large)
	ratio := float64(tLarge) / float64(tSmall)
	t.Logf("%s: %d: %v each; %d: %v (%.1fx)", what, small, tSmall, large, tLarge, ratio)
	if ratio > 8 {
		t.Errorf("%s: %dx the items made each one %.1fx as slow (%v against %v), want about the same", what, large/small, ratio, tLarge, tSmall)
	}
}

// TestReloadMatchScales: matching a reloaded configuration's endpoints
// with those served costs about the same per endpoint for 2,000
// endpoints as for 125, and pairs each with the one configured the same
// whatever their order. Each new endpoint was compared (reflect.DeepEqual)
// with every old one, so that a reload that changed 2,000 endpoints took
// 1.1 s, and 4,000 several.
func TestReloadMatchScales(t *testing.T) {
	// Not in parallel: timings beside other tests would be noise.
	oldGroups := func(n, port int) [][]*listener {
		gs := make([][]*listener, n)
		for i := range gs {
			gs[i] = []*listener{{ep: endpoint{from: &Endpoint{URL: fmt.Sprintf("http://127.0.0.1:%d", port+i)}, scheme: "http", network: "tcp"}}}
		}
		return gs
	}
	newGroups := func(ports []int) [][]endpoint {
		gs := make([][]endpoint, len(ports))
		for i, p := range ports {
			gs[i] = []endpoint{{from: &Endpoint{URL: fmt.Sprintf("http://127.0.0.1:%d", p)}, scheme: "http", network: "tcp"}}
		}
		return gs
	}

	// Half the endpoints kept, in reverse order, half new.
	const m = 8
	ports := make([]int, m)
	for i := range ports {
		ports[i] = 10000 + m - 1 - i
		if i%2 == 1 {
			ports[i] += 1000
		}
	}
	olds := oldGroups(m, 10000)
	kept, toStart := matchGroups(olds, activeSettings{}, newGroups(ports), activeSettings{})
	for i, p := range ports {
		switch {
		case i%2 == 1 && kept[i] != nil:
			t.Errorf("new endpoint %d (port %d) kept %s", i, p, kept[i][0].ep.from.URL)
		case i%2 == 0 && (kept[i] == nil || kept[i][0].ep.from.URL != fmt.Sprintf("http://127.0.0.1:%d", p)):
			t.Errorf("new endpoint %d (port %d) kept %v, want the old one on its port", i, p, kept[i])
		}
	}
	if len(toStart) != m/2 {
		t.Errorf("%d endpoints to start, want %d", len(toStart), m/2)
	}
	for j, og := range olds {
		if wantStopped := (10000+j-(10000+m-1))%2 != 0; (og != nil) != wantStopped {
			t.Errorf("old endpoint %d left to stop: %v, want %v", j, og != nil, wantStopped)
		}
	}

	// Every endpoint changed: the worst case, nothing matches.
	checkLinear(t, "matching changed endpoints", 125, 2000, func(n int) func() {
		ports := make([]int, n)
		for i := range ports {
			ports[i] = 30000 + i
		}
		ng, og := newGroups(ports), oldGroups(n, 10000)
		return func() {
			if _, toStart := matchGroups(og, activeSettings{}, ng, activeSettings{}); len(toStart) != n {
				t.Fatalf("%d endpoints to start, want %d", len(toStart), n)
			}
		}
	})
}

// TestCheckSchemesScales: the check that no socket serves both HTTP and
// HTTPS, and no Unix socket two endpoints, costs about the same per
// endpoint for 4,000 endpoints as for 250, whether they have ports of
// their own or share one on many addresses, and still names the first
// pair at fault. Each endpoint was checked against every earlier one.
func TestCheckSchemesScales(t *testing.T) {
	// Not in parallel: timings beside other tests would be noise.
	tcp := func(scheme, ip string, port int) endpoint {
		addr := fmt.Sprintf("%s:%d", ip, port)
		return endpoint{network: "tcp", address: addr, url: scheme + "://" + addr, scheme: scheme, port: port}
	}
	tcp4 := func(scheme, ip string, port int) endpoint {
		ep := tcp(scheme, ip, port)
		ep.network = "tcp4"
		return ep
	}
	any := func(scheme string, port int) endpoint {
		ep := tcp(scheme, "[::]", port)
		ep.anyIP = true
		return ep
	}
	reuse := func(ep endpoint) endpoint {
		ep.opts.ReusePort = true
		return ep
	}
	unix := func(path string) endpoint {
		return endpoint{network: "unix", address: path, url: "http://unix:" + path, scheme: "http", port: -1}
	}
	layouts := map[string]func(n int) []endpoint{
		"own ports": func(n int) []endpoint {
			eps := make([]endpoint, n)
			for i := range eps {
				eps[i] = tcp("https", "127.0.0.1", 10000+i)
			}
			return eps
		},
		"one port, many addresses": func(n int) []endpoint {
			eps := make([]endpoint, n)
			for i := range eps {
				eps[i] = tcp([]string{"http", "https"}[i%2], fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), 443) // HTTP and HTTPS on one port, different addresses
			}
			return eps
		},
		"unix sockets": func(n int) []endpoint {
			eps := make([]endpoint, n)
			for i := range eps {
				eps[i] = unix(fmt.Sprintf("/run/app/%d.sock", i))
			}
			return eps
		},
	}
	for name, layout := range layouts {
		checkLinear(t, name, 250, 4000, func(n int) func() {
			eps := layout(n)
			return func() {
				if err := checkSchemes(eps); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
		})
	}

	for _, tc := range []struct {
		eps  []endpoint
		want string
	}{
		{[]endpoint{tcp("http", "127.0.0.1", 80), tcp("https", "127.0.0.2", 80), any("https", 80), tcp("http", "127.0.0.2", 80)},
			"http://127.0.0.1:80 and https://[::]:80 use port 80 for both HTTP and HTTPS"},
		{[]endpoint{tcp("http", "127.0.0.1", 80), tcp4("http", "127.0.0.2", 80), tcp("https", "127.0.0.3", 80), tcp4("https", "0.0.0.0", 80)},
			"http://127.0.0.2:80 and https://0.0.0.0:80 use port 80"},
		{[]endpoint{tcp4("http", "0.0.0.0", 80), tcp("https", "127.0.0.3", 80), tcp4("https", "127.0.0.4", 80)},
			"http://0.0.0.0:80 and https://127.0.0.4:80 use port 80"},
		{[]endpoint{tcp("http", "127.0.0.1", 80), any("http", 80), tcp("https", "127.0.0.3", 80)},
			"http://127.0.0.1:80 and http://[::]:80 both listen on port 80"},
		{[]endpoint{reuse(tcp("http", "127.0.0.1", 80)), reuse(any("http", 80)), tcp("https", "127.0.0.3", 80)},
			"http://[::]:80 and https://127.0.0.3:80 use port 80"},
		{[]endpoint{tcp("http", "127.0.0.1", 80), tcp("https", "127.0.0.3", 80), tcp("https", "127.0.0.1", 81)}, ""},
		{[]endpoint{tcp("https", "127.0.0.2", 80), tcp("http", "127.0.0.1", 80), tcp("http", "127.0.0.2", 80)},
			"https://127.0.0.2:80 and http://127.0.0.2:80 use port 80"},
		{[]endpoint{unix("/run/a.sock"), tcp("http", "127.0.0.1", 80), unix("/run/b.sock"), unix("/run/x/../a.sock")},
			"http://unix:/run/a.sock and http://unix:/run/x/../a.sock use the same Unix socket /run/a.sock"},
	} {
		if err := checkSchemes(tc.eps); tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("checkSchemes: %v, want %q", err, tc.want)
		}
	}
}

// checkSchemesModel is checkSchemes in the plainest terms: every pair.
func checkSchemesModel(eps []endpoint) string {
	sameSocket := func(ep, o endpoint) bool {
		if ep.port != o.port || ep.network == "unix" || o.network == "unix" {
			return false
		}
		return ep.address == o.address || ep.anyIP || o.anyIP ||
			every4(ep) && o.network == "tcp4" || every4(o) && ep.network == "tcp4"
	}
	sharesTransport := func(ep, o endpoint) bool {
		tcp := func(e endpoint) bool { return e.opts.Protocols != HTTP3 }
		return tcp(ep) && tcp(o) || ep.servesHTTP3() && o.servesHTTP3()
	}
	for i, a := range eps {
		for _, b := range eps[:i] {
			if a.scheme != b.scheme && a.port > 0 && sameSocket(a, b) && sharesTransport(a, b) {
				return b.named() + " and " + a.named() + " use port"
			}
			if a.port > 0 && sameSocket(a, b) && sharesTransport(a, b) && !(a.opts.ReusePort && b.opts.ReusePort) {
				return b.named() + " and " + a.named() + " both listen on port"
			}
			if a.network == "unix" && b.network == "unix" && filepath.Clean(a.address) == filepath.Clean(b.address) {
				return b.named() + " and " + a.named() + " use the same Unix socket"
			}
		}
	}
	return ""
}

// TestCheckSchemesMatchesModel: on random endpoints, checkSchemes finds
// the pair the check of every pair finds first.
func TestCheckSchemesMatchesModel(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		eps := make([]endpoint, 1+rng.IntN(6))
		for i := range eps {
			scheme := []string{"http", "https"}[rng.IntN(2)]
			port := 80 + rng.IntN(2)
			switch rng.IntN(5) {
			case 0:
				path := []string{"/run/a.sock", "/run/b.sock", "/run/x/../a.sock"}[rng.IntN(3)]
				eps[i] = endpoint{network: "unix", address: path, url: scheme + "://unix:" + path, scheme: scheme, port: -1}
			case 1:
				eps[i] = endpoint{network: "tcp", address: fmt.Sprintf("[::]:%d", port), url: fmt.Sprintf("%s://*:%d", scheme, port), scheme: scheme, port: port, anyIP: true}
			default:
				ip := []string{"127.0.0.1", "127.0.0.2", "0.0.0.0"}[rng.IntN(3)]
				addr := fmt.Sprintf("%s:%d", ip, port)
				eps[i] = endpoint{network: []string{"tcp", "tcp4"}[rng.IntN(2)], address: addr, url: scheme + "://" + addr, scheme: scheme, port: port}
			}
			eps[i].url += fmt.Sprintf("#%d", i) // each named apart
			eps[i].opts.Protocols = []Protocols{0, HTTP3, HTTP1AndHTTP2AndHTTP3}[rng.IntN(3)]
			eps[i].opts.ReusePort = rng.IntN(2) == 0
		}
		want := checkSchemesModel(eps)
		err := checkSchemes(eps)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Fatalf("checkSchemes(%+v) = %v, model %q", eps, err, want)
		}
	}
}

// TestUseURLsScales: UseURLs costs about the same per URL for 8,000 URLs
// as for 500, and still refuses a URL listed twice in another case. Each
// URL was compared with every one before it: 16,000 URLs took 1.2 s.
func TestUseURLsScales(t *testing.T) {
	// Not in parallel: timings beside other tests would be noise.
	checkLinear(t, "UseURLs", 500, 8000, func(n int) func() {
		urls := make([]string, n)
		for i := range urls {
			urls[i] = fmt.Sprintf("http://127.0.0.1:%d", 1000+i)
		}
		list := strings.Join(urls, ";")
		s := &Server{}
		return func() {
			if err := s.UseURLs(list); err != nil {
				t.Fatal(err)
			}
		}
	})

	for _, tc := range []struct{ urls, twice string }{
		{"http://127.0.0.1:5000;http://127.0.0.1:5001", ""},
		{"http://127.0.0.1:5000; HTTP://127.0.0.1:5000", "HTTP://127.0.0.1:5000"},
		{"http://localhost:5000;http://LOCALHOST:5000", "http://LOCALHOST:5000"},
		{"http://\u212a.example:5000;http://k.example:5000", "http://k.example:5000"}, // the Kelvin sign folds to k
	} {
		err := (&Server{}).UseURLs(tc.urls)
		switch {
		case tc.twice == "" && err != nil:
			t.Errorf("UseURLs(%q): %v", tc.urls, err)
		case tc.twice != "" && (err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q is listed twice", tc.twice))):
			t.Errorf("UseURLs(%q): %v, want %q listed twice", tc.urls, err, tc.twice)
		}
	}
}

// TestFoldKey: two strings have the same foldKey exactly when
// strings.EqualFold finds them equal.
func TestFoldKey(t *testing.T) {
	t.Parallel()
	words := []string{"", "a", "A", "k", "K", "\u212a", "s", "S", "\u017f", "ß", "ẞ", "σ", "Σ", "ς", "http://X:1", "HTTP://x:1", "\xff", "\xfe", "é", "É", "e"}
	for _, a := range words {
		for _, b := range words {
			if got, want := foldKey(a) == foldKey(b), strings.EqualFold(a, b); got != want {
				t.Errorf("foldKey(%q) == foldKey(%q): %v; EqualFold: %v", a, b, got, want)
			}
		}
	}
}
