package main

import (
	"encoding/json"
	"go/build"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kestrel-go/kestrel/internal/certs"
)

// goTool finds a command installed with go install by
// scripts/install-test-deps.sh: on PATH or in GOPATH's bin folder. The test
// fails without it, naming how to install it.
func goTool(t *testing.T, name, install string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	p := filepath.Join(build.Default.GOPATH, "bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not installed; run scripts/install-test-deps.sh (%s)", name, install)
	}
	return p
}

// interopCases are the cases of grpc-go's interop client that need only a
// server.
var interopCases = []string{"empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong",
	"empty_stream", "timeout_on_sleeping_server", "cancel_after_begin", "cancel_after_first_response",
	"status_code_and_message", "special_status_message", "custom_metadata", "unimplemented_method",
	"unimplemented_service", "rpc_soak", "channel_soak"}

var httpsListening = regexp.MustCompile(`Now listening on: (https://[^\s"]+)`)

// TestDemoGRPC: the built kestrel command's demo app serves grpc-go's
// interop TestService, health and reflection beside its pages, so
// grpc-go's interop client (its own binary) passes every case that needs
// only a server, over h2c and h2 with TLS, and ghz, given no .proto file,
// calls it through server reflection. Once as the command starts by
// default (gRPC on the native path) and once with --access-log (every
// request through the middleware, gRPC through grpcserver's ServeHTTP).
func TestDemoGRPC(t *testing.T) {
	client := goTool(t, "grpc-interop-client", "go install google.golang.org/grpc/interop/client@v1.85.0, installed as grpc-interop-client")
	ghz := goTool(t, "ghz", "go install github.com/bojand/ghz/cmd/ghz@v0.93.0")
	bin := buildCommand(t)
	dir := t.TempDir()
	certFile, keyFile, err := certs.CreateDevCert(filepath.Join(dir, "cert"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "kestrel.json")
	os.WriteFile(config, []byte(`{"Kestrel": {"Endpoints": {
		"Http": {"Url": "http://127.0.0.1:0"},
		"Https": {"Url": "https://127.0.0.1:0", "Certificate": {"Path": "`+certFile+`", "KeyPath": "`+keyFile+`"}}}}}`), 0o644)

	for _, mode := range []struct {
		name  string
		flags []string
	}{{"native", nil}, {"access-log", []string{"--access-log"}}} {
		t.Run(mode.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"--config", config}, mode.flags...)...)
			var log syncBuffer
			cmd.Stdout, cmd.Stderr = &log, &log
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				cmd.Process.Kill()
				cmd.Wait()
			}()
			plain := waitListening(t, log.String)
			var secure string
			for deadline := time.Now().Add(30 * time.Second); secure == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if m := httpsListening.FindStringSubmatch(log.String()); m != nil {
					secure = m[1]
				}
			}
			if secure == "" {
				t.Fatalf("no https endpoint in the log:\n%s", log.String())
			}

			for _, ep := range []struct {
				name, base string
				tls        []string
			}{
				{"h2c", plain, nil},
				{"h2", secure, []string{"--use_tls", "--use_test_ca", "--ca_file", certFile, "--server_host_override", "localhost"}},
			} {
				u, _ := url.Parse(ep.base)
				for _, c := range interopCases {
					args := append([]string{"--server_host", u.Hostname(), "--server_port", u.Port(), "--test_case", c,
						"--soak_iterations", "10", "--soak_per_iteration_max_acceptable_latency_ms", "5000",
						"--soak_overall_timeout_seconds", "30"}, ep.tls...)
					out, err := exec.Command(client, args...).CombinedOutput()
					if err != nil {
						t.Errorf("%s: interop client %s: %v\n%s", ep.name, c, err, out)
					}
				}
			}

			// ghz with reflection: unary and server-streaming calls, and the
			// health service.
			addr := strings.TrimPrefix(plain, "http://")
			for _, call := range []struct{ method, data string }{
				{"grpc.testing.TestService/UnaryCall", `{"response_size": 13, "payload": {"body": "SGVsbG8="}}`},
				{"grpc.testing.TestService/StreamingOutputCall", `{"response_parameters": [{"size": 5}, {"size": 7}]}`},
				{"grpc.health.v1.Health/Check", `{}`},
			} {
				out, err := exec.Command(ghz, "--insecure", "--call", call.method, "-d", call.data, "-n", "40", "-c", "4", "-O", "json", addr).Output()
				if err != nil {
					t.Errorf("ghz %s: %v\n%s", call.method, err, out)
					continue
				}
				var rep struct {
					Count                  int64
					StatusCodeDistribution map[string]int64
					ErrorDistribution      map[string]int64
				}
				if err := json.Unmarshal(out, &rep); err != nil {
					t.Errorf("ghz %s: its report: %v\n%s", call.method, err, out)
					continue
				}
				if rep.Count != 40 || rep.StatusCodeDistribution["OK"] != 40 {
					t.Errorf("ghz %s: %d calls, by status %v, errors %v; want 40 OK", call.method, rep.Count, rep.StatusCodeDistribution, rep.ErrorDistribution)
				}
			}

			// The pages are still there on the same port.
			if resp, body := get(t, plain+"/plaintext"); resp.StatusCode != 200 || body != "Hello, World!" {
				t.Errorf("GET /plaintext beside gRPC: %d %q", resp.StatusCode, body)
			}
			if mode.name == "access-log" && !strings.Contains(log.String(), `"POST /grpc.testing.TestService/UnaryCall HTTP/2.0" 200`) {
				t.Errorf("the access log has no line for a gRPC call:\n%s", log.String())
			}
		})
	}
}
