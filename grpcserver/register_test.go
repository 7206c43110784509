package grpcserver

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// TestRegisterServiceScales: registering a service costs the same with
// 250 services registered before it as with 4,000, and the first call
// finds them all. Each registration copied the table of every method
// registered so far, so that 16,000 services took 8 s to register.
func TestRegisterServiceScales(t *testing.T) {
	// Not in parallel: timings beside other tests would be noise.
	const small, large = 250, 4000
	perService := func(n int) time.Duration {
		descs := make([]grpc.ServiceDesc, n)
		for i := range descs {
			descs[i] = grpc.ServiceDesc{ServiceName: fmt.Sprintf("pkg.S%d", i), Methods: []grpc.MethodDesc{{MethodName: "M"}}}
		}
		best := time.Duration(1<<63 - 1)
		var s *Server
		for range 5 { // the least of a few runs, as the machine may be busy
			s = NewServer()
			runtime.GC() // no collection of what came before inside the timing
			start := time.Now()
			for i := range descs {
				s.RegisterService(&descs[i], nil)
			}
			best = min(best, time.Since(start))
		}
		for _, path := range []string{"/pkg.S0/M", fmt.Sprintf("/pkg.S%d/M", n-1)} {
			if m, st := s.lookup([]byte(path)); m == nil || st != nil {
				t.Fatalf("lookup(%q) = %v, %v; want the method", path, m, st)
			}
		}
		if _, st := s.lookup([]byte("/pkg.S0/N")); st == nil || st.Code() != codes.Unimplemented {
			t.Fatalf("lookup of an unknown method: %v, want Unimplemented", st)
		}
		return best / time.Duration(n)
	}
	tSmall, tLarge := perService(small), perService(large)
	ratio := float64(tLarge) / float64(tSmall)
	t.Logf("RegisterService after %d services: %v each; after %d: %v (%.1fx)", small, tSmall, large, tLarge, ratio)
	if ratio > 6 {
		t.Errorf("16x the services made each registration %.1fx as slow (%v against %v), want about the same", ratio, tLarge, tSmall)
	}
}
