package metrics

import (
	"maps"
	"sync"
	"sync/atomic"
)

// cache is a read-mostly map for attribute sets: a lookup is a plain map
// read through an atomic pointer (no lock, no allocation), and an insert
// copies the map. Its entries are few (bounded by the caller) and made
// once each, so the copies are cheap.
type cache[K comparable, V any] struct {
	m  atomic.Pointer[map[K]V]
	mu sync.Mutex
}

func (c *cache[K, V]) load(k K) (V, bool) {
	if m := c.m.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// store adds v under k and returns it, or returns the value another
// goroutine stored first. A cache holding max entries keeps no more:
// v is returned for this one use.
func (c *cache[K, V]) store(k K, v V, max int) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	n := 0
	if old != nil {
		if prev, ok := (*old)[k]; ok {
			return prev
		}
		n = len(*old)
	}
	if n >= max {
		return v
	}
	m := make(map[K]V, n+1)
	if old != nil {
		maps.Copy(m, *old)
	}
	m[k] = v
	c.m.Store(&m)
	return v
}

// len is the number of cached entries.
func (c *cache[K, V]) len() int {
	if m := c.m.Load(); m != nil {
		return len(*m)
	}
	return 0
}
