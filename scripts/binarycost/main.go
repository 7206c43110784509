// Command binarycost measures what a program pays for this module's
// dependencies: it builds a hello-world server on net/http, the same with
// each dependency the library links added alone (used as the library uses
// it), and the same on kestrel.Server, then reports for each the binary's
// size (plain and with -ldflags=-s -w), the heap after the package
// initializers ran (runtime.MemStats.HeapAlloc at the start of main), the
// initializers' allocations (GODEBUG=inittrace=1) and the start-up time
// (exec to exit, the fastest and the median of -runs runs, interleaved).
//
//	go run ./scripts/binarycost [-runs 60]
//
// It builds in a temporary module that requires this one through a replace
// directive, offline (GOPROXY=off): every module comes from the cache.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// variant is one program: imports and statements added to the net/http
// hello world, in a function that is linked but never runs.
type variant struct {
	name, what string
	imports    []string
	keep       string
	kestrel    bool // the hello world on kestrel.Server instead
}

var variants = []variant{
	{name: "nethttp", what: "net/http hello world (the baseline)"},
	{name: "quic", what: "+ quic-go and qpack (HTTP/3)",
		imports: []string{"crypto/tls", "net", "github.com/quic-go/qpack", "github.com/quic-go/quic-go"},
		keep: `pc, _ := net.ListenPacket("udp", ":0")
	ln, _ := (&quic.Transport{Conn: pc}).Listen(&tls.Config{}, &quic.Config{})
	c, _ := ln.Accept(context.Background())
	st, _ := c.AcceptStream(context.Background())
	st.Write(nil)
	c.CloseWithError(0, "")
	qpack.NewEncoder(os.Stdout).WriteField(qpack.HeaderField{})
	_ = qpack.NewDecoder().Decode(nil)`},
	{name: "pkcs12", what: "+ go-pkcs12 and pkcs8 (.pfx files, encrypted PEM keys)",
		imports: []string{"github.com/youmark/pkcs8", "software.sslmate.com/src/go-pkcs12"},
		keep: `fmt.Println(pkcs12.DecodeChain(nil, ""))
	fmt.Println(pkcs8.ParsePrivateKey(nil, nil))`},
	{name: "systemd", what: "+ go-systemd's activation (ListenSystemd)",
		imports: []string{"github.com/coreos/go-systemd/v22/activation"},
		keep:    `fmt.Println(activation.Listeners())`},
	{name: "otelapi", what: "+ the OpenTelemetry metric API (Server.MeterProvider)",
		imports: []string{"go.opentelemetry.io/otel/attribute", "go.opentelemetry.io/otel/metric", "go.opentelemetry.io/otel/metric/noop"},
		keep: `var mp metric.MeterProvider = noop.NewMeterProvider()
	h, _ := mp.Meter("x").Float64Histogram("h")
	h.Record(context.Background(), 1, metric.WithAttributeSet(attribute.NewSet(attribute.String("a", "b"))))`},
	{name: "otelsdk", what: "+ the OpenTelemetry SDK and Prometheus exporter (kestrel --metrics; not linked by the library)",
		imports: []string{"go.opentelemetry.io/otel/exporters/prometheus", `sdkmetric "go.opentelemetry.io/otel/sdk/metric"`},
		keep: `exp, _ := prometheus.New()
	h, _ := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)).Meter("x").Float64Histogram("h")
	h.Record(context.Background(), 1)`},
	{name: "kestrel", what: "kestrel.Server hello world (HTTP/1.1 and HTTP/2 used)", kestrel: true},
}

const program = `package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"runtime"
%s)

func keep() {
	%s
}

func main() {
	if os.Getenv("BINARYCOST_KEEP") == "never" {
		keep()
	}
	if os.Getenv("BINARYCOST_EXIT") != "" { // start-up only
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Println(m.HeapAlloc)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "Hello, World!") })
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
%s
}
`

const serveNetHTTP = `	srv := &http.Server{Addr: "localhost:5000", Handler: mux}
	go func() { <-ctx.Done(); srv.Shutdown(context.Background()) }()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}`

const serveKestrel = `	srv := &kestrel.Server{Handler: mux}
	if err := srv.ListenURL("http://localhost:5000"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := srv.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}`

type result struct {
	size, stripped, heap, initBytes, initAllocs int64
	times                                       []time.Duration
}

func main() {
	runs := flag.Int("runs", 60, "start-up runs of each program")
	flag.Parse()
	if err := run(*runs); err != nil {
		fmt.Fprintln(os.Stderr, "binarycost:", err)
		os.Exit(1)
	}
}

func run(runs int) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return fmt.Errorf("run it from the module's root: %w", err)
	}
	dir, err := os.MkdirTemp("", "binarycost")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	mod := "module binarycost\n\ngo 1.26.0\n\nrequire github.com/kestrel-go/kestrel v0.0.0\n\nreplace github.com/kestrel-go/kestrel => " + root + "\n"
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		return err
	}
	env := append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	results := make([]result, len(variants))
	for i, v := range variants {
		var imports strings.Builder
		for _, p := range v.imports {
			if !strings.Contains(p, `"`) {
				p = strconv.Quote(p)
			}
			imports.WriteString("\t" + p + "\n")
		}
		serve := serveNetHTTP
		if v.kestrel {
			imports.WriteString("\n\t\"github.com/kestrel-go/kestrel\"\n")
			serve = serveKestrel
		}
		src := fmt.Sprintf(program, imports.String(), v.keep, serve)
		pkg := filepath.Join(dir, v.name)
		if err := os.MkdirAll(pkg, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(pkg, "main.go"), []byte(src), 0o644); err != nil {
			return err
		}
		for _, b := range []struct {
			out   string
			flags []string
			size  *int64
		}{{v.name, nil, &results[i].size}, {v.name + "-sw", []string{"-ldflags=-s -w"}, &results[i].stripped}} {
			bin := filepath.Join(dir, "bin", b.out)
			cmd := exec.Command("go", append(append([]string{"build", "-o", bin}, b.flags...), "./"+v.name)...)
			cmd.Dir, cmd.Env = dir, env
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("building %s: %v\n%s", v.name, err, out)
			}
			fi, err := os.Stat(bin)
			if err != nil {
				return err
			}
			*b.size = fi.Size()
		}
		cmd := exec.Command(filepath.Join(dir, "bin", v.name))
		cmd.Env = append(os.Environ(), "BINARYCOST_EXIT=1", "GODEBUG=inittrace=1")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("running %s: %v\n%s", v.name, err, stderr.String())
		}
		results[i].heap, _ = strconv.ParseInt(strings.TrimSpace(stdout.String()), 10, 64)
		// "init pkg @0.1 ms, 0.01 ms clock, 1234 bytes, 5 allocs"
		for _, line := range strings.Split(stderr.String(), "\n") {
			f := strings.Fields(line)
			if len(f) == 11 && f[0] == "init" {
				b, _ := strconv.ParseInt(f[7], 10, 64)
				a, _ := strconv.ParseInt(f[9], 10, 64)
				results[i].initBytes += b
				results[i].initAllocs += a
			}
		}
	}
	for range runs {
		for i, v := range variants {
			cmd := exec.Command(filepath.Join(dir, "bin", v.name))
			cmd.Env = append(os.Environ(), "BINARYCOST_EXIT=1")
			start := time.Now()
			if err := cmd.Run(); err != nil {
				return err
			}
			results[i].times = append(results[i].times, time.Since(start))
		}
	}
	base := results[0]
	fmt.Println("| program | size | size, -s -w | heap after init | init allocations | start-up, fastest | start-up, median |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for i, v := range variants {
		r := results[i]
		slices.Sort(r.times)
		delta := func(x, b int64) string {
			if i == 0 {
				return mb(x)
			}
			return fmt.Sprintf("%s (%+d KB)", mb(x), (x-b)/1000)
		}
		fmt.Printf("| %s | %s | %s | %s | %d B in %d | %.1f ms | %.1f ms |\n", v.what,
			delta(r.size, base.size), delta(r.stripped, base.stripped),
			fmt.Sprintf("%d KB (%+d)", r.heap/1000, (r.heap-base.heap)/1000),
			r.initBytes, r.initAllocs,
			ms(r.times[0]), ms(r.times[len(r.times)/2]))
	}
	return nil
}

func mb(n int64) string          { return fmt.Sprintf("%.2f MB", float64(n)/1e6) }
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
