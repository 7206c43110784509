package main

import (
	"context"
	"io"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestBinaryHealthDrain: with --health and --drain-delay, readiness is
// 200 while the command serves; on SIGTERM it turns to 503 while the app
// is still served, the demo's gRPC health service turns from SERVING to
// NOT_SERVING with it, the log says the drain began, and the command
// exits 0 after the delay.
func TestBinaryHealthDrain(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGTERM on Windows")
	}
	const delay = 2 * time.Second
	cmd := exec.Command(buildCommand(t), "--urls", "http://127.0.0.1:0", "--health", "/healthz", "--drain-delay", delay.String())
	var log syncBuffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	base := waitListening(t, log.String)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, log.String())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		path string
		code int
		body string
	}{{"/healthz", 200, "ready\n"}, {"/healthz/live", 200, "ready\n"}} {
		if code, body := get(c.path); code != c.code || body != c.body {
			t.Errorf("%s: %d %q, want %d %q", c.path, code, body, c.code, c.body)
		}
	}
	conn, err := grpc.NewClient(strings.TrimPrefix(base, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	grpcHealth := func() healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatalf("gRPC health check: %v\n%s", err, log.String())
		}
		return r.Status
	}
	if st := grpcHealth(); st != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("gRPC health before SIGTERM: %v, want SERVING", st)
	}

	begin := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		code, body := get("/healthz")
		if code == 503 {
			if body != "draining\n" {
				t.Errorf("readiness while draining: %q, want \"draining\"", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness still %d 10 s after SIGTERM", code)
		}
	}
	// RegisterOnDraining's functions run on goroutines of their own.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st := grpcHealth()
		if st == healthpb.HealthCheckResponse_NOT_SERVING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gRPC health while draining: %v 10 s after readiness said 503, want NOT_SERVING", st)
		}
	}
	if code, _ := get("/healthz/live"); code != 200 {
		t.Errorf("liveness while draining: %d, want 200", code)
	}
	if code, _ := get("/"); code != 200 {
		t.Errorf("the app while draining: %d, want 200", code)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after the drain: %v, want 0\n%s", err, log.String())
	}
	if d := time.Since(begin); d < delay {
		t.Errorf("exited %v after SIGTERM, before the %v drain delay", d, delay)
	}
	if !strings.Contains(log.String(), "Draining: readiness now reports 503; serving for 2s") {
		t.Errorf("the log does not say the drain began:\n%s", log.String())
	}
}
