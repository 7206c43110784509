package kestrel

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLibraryDependencies keeps what a program that imports this package
// links small (README: What a program pays): the OpenTelemetry SDK, the
// Prometheus client and grpc-go (megabytes each) belong to the programs
// that choose them, such as the kestrel command's --metrics, not to every
// user of the library.
func TestLibraryDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"go.opentelemetry.io/otel/sdk", "go.opentelemetry.io/otel/exporters", "github.com/prometheus/", "google.golang.org/grpc"} {
			if strings.HasPrefix(pkg, banned) {
				t.Errorf("package kestrel depends on %s: a program that does not use it would link it", pkg)
			}
		}
	}
}
