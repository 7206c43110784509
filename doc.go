// Package kestrel is a production web server for Go modelled on ASP.NET
// Core's Kestrel: its own HTTP/1.1 engine with keep-alive and pipelining,
// its own HTTP/2 engine (h2 over TLS by ALPN, h2c in cleartext, gRPC),
// HTTP/3 over QUIC on HTTPS endpoints that ask for it (quic-go for QUIC),
// all on one application layer, strict request parsing, Kestrel's limits
// and defaults, and graceful shutdown.
//
// Any [net/http.Handler] runs on it unchanged:
//
//	srv := &kestrel.Server{Handler: mux}
//	srv.Listen("localhost:5000")
//	err := srv.Run(ctx)
//
// As a service, [Service.Run] adds what a service manager expects:
// the configuration file applied and reloaded when it changes or on
// SIGHUP, a restart on a new binary on SIGUSR2 that loses no request,
// systemd's socket activation, notifications and watchdog, and a PID
// file:
//
//	svc := &kestrel.Service{Server: srv, ConfigFile: "appsettings.json", PIDFile: "/run/app/app.pid"}
//	err := svc.Run(ctx)
//
// Hot paths can use the [NativeHandler] API instead, which serves a request
// without allocating.
//
// An idle cleartext keep-alive connection, HTTP/1.1 or HTTP/2, holds no
// buffer on Unix systems: the engine waits for the socket to become
// readable before it takes a pooled buffer, and on Linux a long-idle
// connection keeps no goroutine either, so thousands of idle clients cost
// little memory. Over TLS an idle connection keeps a read buffer and a
// goroutine, through connection middleware a goroutine, and on Windows a
// buffer; see the README's table of platforms.
package kestrel
