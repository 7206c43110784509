package settings

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// listDocument is a configuration file with a list of n objects, as a
// long list of endpoints or allowed hosts would be.
func listDocument(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"App": {"Name": "x", "Tags": [`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"t%d"`, i)
	}
	b.WriteString(`], "List": [`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"Size": %d}`, i)
	}
	b.WriteString(`], "Items": {`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d": {"Size": %d}`, i, i)
	}
	b.WriteString(`}}}`)
	return []byte(b.String())
}

type listSample struct {
	Name  string
	Tags  []string
	List  []item
	Items map[string]item
}

// loadAndBind loads doc and binds it, as the server does with its file.
func loadAndBind(tb testing.TB, doc []byte, n int) {
	var s Store
	if err := s.LoadJSON(doc, "big.json"); err != nil {
		tb.Fatal(err)
	}
	var got listSample
	if err := s.Bind("App", &got); err != nil {
		tb.Fatal(err)
	}
	if len(got.Tags) != n || len(got.List) != n || len(got.Items) != n || got.List[n-1].Size != int64(n-1) {
		tb.Fatalf("bound %d tags, %d list items, %d map items; want %d of each", len(got.Tags), len(got.List), len(got.Items), n)
	}
}

// TestLargeListScalesLinearly: loading and binding lists of 16,000
// elements takes a few seconds of CPU at most (0.3 s alone, about 1 s under
// the race detector beside other tests; the quadratic store took minutes),
// and four times the elements
// take about four times as long (a store that scans every key on each
// insert or lookup takes sixteen times as long, and minutes).
func TestLargeListScalesLinearly(t *testing.T) {
	const small, large = 4000, 16000
	docSmall, docLarge := listDocument(small), listDocument(large)
	// The least CPU time of a few runs, as the machine may be busy.
	fastest := func(doc []byte, n int) time.Duration {
		best := time.Duration(1<<63 - 1)
		for range 3 {
			start := cpuTime()
			loadAndBind(t, doc, n)
			best = min(best, cpuTime()-start)
		}
		return best
	}
	tSmall := fastest(docSmall, small)
	tLarge := fastest(docLarge, large)
	ratio := float64(tLarge) / float64(tSmall)
	t.Logf("CPU time for lists of %d elements: %v; of %d elements: %v (%.1fx)", small, tSmall, large, tLarge, ratio)
	if tLarge > 10*time.Second {
		t.Errorf("lists of %d elements took %v to load and bind, want a few seconds at most", large, tLarge)
	}
	if ratio > 8 {
		t.Errorf("4x the elements took %.1fx the time (%v against %v), want about 4x", ratio, tLarge, tSmall)
	}
}

func BenchmarkLoadAndBindList(b *testing.B) {
	for _, n := range []int{1000, 16000} {
		doc := listDocument(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				loadAndBind(b, doc, n)
			}
		})
	}
}

// model is the store's meaning in the plainest terms: every query scans
// every key. The Store must answer as it does.
type model struct {
	values map[string]value
	next   int
}

func (m *model) set(key string, v value) {
	if m.values == nil {
		m.values = make(map[string]value)
	}
	lk := strings.ToLower(key)
	if old, ok := m.values[lk]; ok {
		v.key, v.order = old.key, old.order
	} else {
		v.key, v.order = key, m.next
		m.next++
	}
	for k, old := range m.values {
		if strings.HasPrefix(k, lk+":") || strings.HasPrefix(lk, k+":") {
			v.order = min(v.order, old.order)
			delete(m.values, k)
		}
	}
	m.values[lk] = v
}

func (m *model) has(key string) bool {
	lk := strings.ToLower(key)
	for k := range m.values {
		if k == lk || strings.HasPrefix(k, lk+":") {
			return true
		}
	}
	return false
}

func (m *model) source(key string) string {
	lk := strings.ToLower(key)
	if v, ok := m.values[lk]; ok {
		return v.source
	}
	best, order := "", -1
	for k, v := range m.values {
		if strings.HasPrefix(k, lk+":") && (order < 0 || v.order < order) {
			best, order = v.source, v.order
		}
	}
	return best
}

func (m *model) children(key string) []string {
	lk := ""
	if key != "" {
		lk = strings.ToLower(key) + ":"
	}
	type child struct {
		seg   string
		order int
	}
	seen := map[string]int{}
	var out []child
	for k, v := range m.values {
		if !strings.HasPrefix(k, lk) || len(k) == len(lk) {
			continue
		}
		seg, _, _ := strings.Cut(v.key[len(lk):], ":")
		ls := strings.ToLower(seg)
		if i, ok := seen[ls]; ok {
			if v.order < out[i].order {
				out[i] = child{seg, v.order}
			}
			continue
		}
		seen[ls] = len(out)
		out = append(out, child{seg, v.order})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].order < out[j].order })
	segs := make([]string, len(out))
	for i, c := range out {
		segs[i] = c.seg
	}
	return segs
}

// TestStoreMatchesModel sets random keys (scalars over subtrees and
// subtrees over scalars, in mixed case) and compares every answer of the
// store with the model's.
func TestStoreMatchesModel(t *testing.T) {
	segs := []string{"a", "A", "b", "B", "c", "0", "1", "Long"}
	rng := rand.New(rand.NewPCG(1, 2))
	randomKey := func() string {
		n := 1 + rng.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = segs[rng.IntN(len(segs))]
		}
		return strings.Join(parts, ":")
	}
	for round := range 200 {
		var s Store
		var m model
		for op := range 1 + rng.IntN(40) {
			key := randomKey()
			v := value{text: fmt.Sprint(op), source: "op " + fmt.Sprint(op)}
			if rng.IntN(4) == 0 {
				v = value{null: true, empty: rng.IntN(2) == 0, source: v.source}
			}
			s.set(key, v)
			m.set(key, v)
		}
		if len(s.values) != len(m.values) {
			t.Fatalf("round %d: %d keys, model %d", round, len(s.values), len(m.values))
		}
		for k, want := range m.values {
			if got := s.values[k]; got != want {
				t.Fatalf("round %d: key %q = %+v, model %+v", round, k, got, want)
			}
		}
		// Every prefix of every key that could have been set, and the top.
		queries := []string{""}
		for range 50 {
			queries = append(queries, randomKey())
		}
		for _, q := range queries {
			if got, want := s.Has(q), m.has(q); got != want && q != "" {
				t.Fatalf("round %d: Has(%q) = %v, model %v", round, q, got, want)
			}
			if got, want := s.Source(q), m.source(q); got != want && q != "" {
				t.Fatalf("round %d: Source(%q) = %q, model %q", round, q, got, want)
			}
			if got, want := s.Children(q), m.children(q); !slices.Equal(got, want) {
				t.Fatalf("round %d: Children(%q) = %q, model %q", round, q, got, want)
			}
		}
	}
}

// fastestPerOp is the least time of runs runs of fn, which does ops
// operations, per operation: the least, as the machine may be busy.
func fastestPerOp(runs, ops int, fn func()) time.Duration {
	best := time.Duration(1<<63 - 1)
	for range runs {
		runtime.GC() // no collection of what came before inside the timing
		start := time.Now()
		fn()
		best = min(best, time.Since(start))
	}
	return best / time.Duration(ops)
}

// TestSourceScalesWithDepth: the source of a section (the first key set
// under it, which the server's messages name) costs the same in a store
// of 250 sections as in one of 4,000. It scanned every key of the store,
// so that naming the source of each of many endpoints took quadratic
// time: 2.2 s for a file of 8,000 endpoints.
func TestSourceScalesWithDepth(t *testing.T) {
	const small, large, queries = 250, 4000, 2000
	perQuery := func(n int) time.Duration {
		var s Store
		if err := s.LoadJSON(listDocument(n), "big.json"); err != nil {
			t.Fatal(err)
		}
		keys := make([]string, n)
		for i := range keys {
			keys[i] = fmt.Sprintf("App:Items:K%d", i)
		}
		if got := s.Source(keys[n-1]); got != "big.json" {
			t.Fatalf("Source(%q) = %q, want big.json", keys[n-1], got)
		}
		// The same sections of either store, so that the larger one
		// is not also a larger working set for the CPU's caches.
		return fastestPerOp(5, queries, func() {
			for i := range queries {
				s.Source(keys[i*7919%small])
			}
		})
	}
	tSmall, tLarge := perQuery(small), perQuery(large)
	ratio := float64(tLarge) / float64(tSmall)
	t.Logf("Source of a section in a store of %d sections: %v; of %d: %v (%.1fx)", small, tSmall, large, tLarge, ratio)
	if ratio > 6 {
		t.Errorf("16x the sections made Source %.1fx as slow (%v against %v), want about the same", ratio, tLarge, tSmall)
	}
}

// wideItem is a section with as many keys as an endpoint has.
type wideItem struct {
	Size                                        int64
	A, B, C, D, E, F, G, H, I, J, K, L, M, N, O string
	P, Q, R, S, T, U, V, W, X, Y, Z             *bool
}

// TestBindUnknownKeysScales: a file whose every section has an unknown
// key (a misspelling repeated in each endpoint) is reported in time
// proportional to its size. Each unknown key looked through every known
// key for the nearest spelling, so that 8,000 endpoints with a typo took
// 100 s to report; 16x the sections take about 16x the time now.
func TestBindUnknownKeysScales(t *testing.T) {
	const small, large = 100, 1600
	perKey := func(n int) time.Duration {
		var b strings.Builder
		b.WriteString(`{"App": {"Items": {`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"k%d": {"Size": %d, "Sise": 1}`, i, i)
		}
		b.WriteString(`}}}`)
		var s Store
		if err := s.LoadJSON([]byte(b.String()), "big.json"); err != nil {
			t.Fatal(err)
		}
		var err error
		d := fastestPerOp(3, n, func() {
			var got struct{ Items map[string]wideItem }
			err = s.Bind("App", &got)
		})
		if want := `unknown key "App:Items:k0:Sise" (did you mean "App:Items:k0:Size"?)`; err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Bind: %v; want an error with %s", err, want)
		}
		return d
	}
	tSmall, tLarge := perKey(small), perKey(large)
	ratio := float64(tLarge) / float64(tSmall)
	t.Logf("Bind with an unknown key in each of %d sections: %v a key; of %d: %v (%.1fx)", small, tSmall, large, tLarge, ratio)
	if ratio > 8 {
		t.Errorf("16x the sections made each unknown key %.1fx as slow to report (%v against %v), want about the same", ratio, tLarge, tSmall)
	}
}
