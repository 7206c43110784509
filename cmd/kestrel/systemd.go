package main

import (
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"
)

// notifier tells systemd how the service is doing, with the sd_notify
// protocol: a datagram to the socket NOTIFY_SOCKET names (Type=notify or
// Type=notify-reload units). Without NOTIFY_SOCKET it does nothing.
type notifier struct {
	addr string
	log  *slog.Logger
}

func newNotifier(environ []string, log *slog.Logger) *notifier {
	return &notifier{addr: getenv(environ, "NOTIFY_SOCKET"), log: log}
}

// send sends a state, such as "READY=1".
func (n *notifier) send(state string) {
	if n.addr == "" {
		return
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.addr, Net: "unixgram"})
	if err == nil {
		_, err = c.Write([]byte(state))
		c.Close()
	}
	if err != nil {
		n.log.Warn("cannot notify systemd", "socket", n.addr, "state", state, "error", err)
	}
}

// watchdogInterval is the watchdog timeout systemd set for this process
// (WatchdogSec=, passed as WATCHDOG_USEC, for the process WATCHDOG_PID
// names if it is set), or 0; the service pings at half of it.
func (n *notifier) watchdogInterval(environ []string) time.Duration {
	if n.addr == "" {
		return 0
	}
	usec, err := strconv.ParseInt(getenv(environ, "WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pid := getenv(environ, "WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond
}
