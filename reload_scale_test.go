package kestrel

import (
	"fmt"
	"testing"
	"time"
)

// TestReloadMatchScales: matching a reloaded configuration's endpoints
// with those served costs about the same per endpoint for 2,000
// endpoints as for 125, and pairs each with the one configured the same
// whatever their order. Each new endpoint was compared (reflect.DeepEqual)
// with every old one, so that a reload that changed 2,000 endpoints took
// 1.1 s, and 4,000 several.
func TestReloadMatchScales(t *testing.T) {
	t.Parallel()
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
	perEndpoint := func(n int) time.Duration {
		ports := make([]int, n)
		for i := range ports {
			ports[i] = 30000 + i
		}
		ng := newGroups(ports)
		best := time.Duration(1<<63 - 1)
		for range 3 { // the least of a few runs, as the machine may be busy
			og := oldGroups(n, 10000)
			start := time.Now()
			if _, toStart := matchGroups(og, activeSettings{}, ng, activeSettings{}); len(toStart) != n {
				t.Fatalf("%d endpoints to start, want %d", len(toStart), n)
			}
			best = min(best, time.Since(start))
		}
		return best / time.Duration(n)
	}
	const small, large = 125, 2000
	tSmall, tLarge := perEndpoint(small), perEndpoint(large)
	ratio := float64(tLarge) / float64(tSmall)
	t.Logf("matching %d changed endpoints: %v each; %d: %v (%.1fx)", small, tSmall, large, tLarge, ratio)
	if ratio > 6 {
		t.Errorf("16x the endpoints made each one %.1fx as slow to match (%v against %v), want about the same", ratio, tLarge, tSmall)
	}
}
