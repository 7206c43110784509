package demo

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/kestrel-go/kestrel"
)

// SetMetrics gives the home page live counters: snapshot returns the
// server's metrics by Prometheus name (as metricsexport.Exporter.Snapshot
// does), and GET /stats serves a few of them as JSON, which the page
// fetches every two seconds. Without it, GET /stats answers 404 and the
// page says how to turn metrics on.
func (a *App) SetMetrics(snapshot func() (map[string]float64, error)) {
	if snapshot == nil {
		a.metrics.Store(nil)
		return
	}
	a.metrics.Store(&snapshot)
}

// Stats is what GET /stats reports: the server's counters, summed over
// endpoints and protocols.
type Stats struct {
	ActiveConnections   float64 `json:"activeConnections"`
	ClosedConnections   float64 `json:"closedConnections"`
	RejectedConnections float64 `json:"rejectedConnections"`
	ActiveRequests      float64 `json:"activeRequests"`
	Requests            float64 `json:"requests"`
	Goroutines          float64 `json:"goroutines"`
	ResidentBytes       float64 `json:"residentBytes"`
	CPUSeconds          float64 `json:"cpuSeconds"`
}

func (a *App) stats(w http.ResponseWriter, r *http.Request) {
	p := a.metrics.Load()
	if p == nil {
		http.Error(w, "metrics are off: start the server with --metrics http://127.0.0.1:9464", http.StatusNotFound)
		return
	}
	m, err := (*p)()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(Stats{
		ActiveConnections:   m["kestrel_active_connections"],
		ClosedConnections:   m["kestrel_connection_duration_seconds_count"],
		RejectedConnections: m["kestrel_rejected_connections_total"],
		ActiveRequests:      m["http_server_active_requests"],
		Requests:            m["http_server_request_duration_seconds_count"],
		Goroutines:          m["go_goroutines"],
		ResidentBytes:       m["process_resident_memory_bytes"],
		CPUSeconds:          m["process_cpu_seconds_total"],
	})
}

// homeStyle and homeScript are the page's only style sheet and script,
// inline and allowed by their hashes in its Content-Security-Policy.
const homeStyle = `
:root { color-scheme: light dark; --fg: #1d2330; --muted: #5d6678; --bg: #f5f6f9; --card: #fff; --line: #dde1e8; --accent: #5b3fd0; --ok: #18794e; --fail: #c2261d; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e8ee; --muted: #9aa3b5; --bg: #14161c; --card: #1d2029; --line: #2e3240; --accent: #a08cff; --ok: #4cc38a; --fail: #ff6b5e; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { background: linear-gradient(120deg, #3b1f9e, #5b3fd0 55%, #2b7bd6); color: #fff; padding: 28px 32px 24px; }
header h1 { margin: 0; font-size: 26px; font-weight: 650; letter-spacing: .2px; }
header p { margin: 6px 0 0; opacity: .9; }
header code { background: rgba(255,255,255,.16); padding: 1px 6px; border-radius: 4px; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 18px; padding: 22px 32px 32px; max-width: 1280px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 16px 20px; }
section.wide { grid-column: 1 / -1; }
h2 { margin: 0 0 10px; font-size: 15px; text-transform: uppercase; letter-spacing: .8px; color: var(--muted); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 8px; border-top: 1px solid var(--line); vertical-align: top; }
tr:first-child th, tr:first-child td { border-top: 0; }
th { font-weight: 600; white-space: nowrap; width: 1%; }
code, .mono { font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace; font-size: 13.5px; }
a { color: var(--accent); }
.big { font-size: 20px; font-weight: 650; }
.muted { color: var(--muted); }
.res { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; }
.res.ok::before { content: "\2713  "; color: var(--ok); font-weight: 700; }
.res.fail { color: var(--fail); }
.res.fail::before { content: "\2717  "; font-weight: 700; }
button { font: inherit; color: #fff; background: var(--accent); border: 0; border-radius: 6px; padding: 6px 14px; cursor: pointer; margin-top: 10px; }
.counters { display: grid; grid-template-columns: repeat(auto-fit, minmax(128px, 1fr)); gap: 12px; }
.counter { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.counter b { display: block; font-size: 22px; font-variant-numeric: tabular-nums; }
.counter span { color: var(--muted); font-size: 13px; }
ul { margin: 0; padding-left: 20px; }
`

const homeScript = `
"use strict";
const $ = (id) => document.getElementById(id);
function show(cell, ok, text) {
  cell.textContent = text;
  cell.className = "res " + (ok ? "ok" : "fail");
  cell.dataset.state = ok ? "ok" : "fail";
}
async function tryRoute(row) {
  const cell = row.querySelector(".res");
  const init = { method: row.dataset.method, cache: "no-store" };
  if (init.method === "POST") {
    init.body = "ping from the home page";
    init.headers = { "Content-Type": "text/plain" };
  }
  const t0 = performance.now();
  try {
    const resp = await fetch(row.dataset.url, init);
    const body = await resp.text();
    const ms = performance.now() - t0;
    const ok = resp.ok && body.includes(row.dataset.expect);
    const altSvc = resp.headers.get("alt-svc");
    if (altSvc) {
      $("altsvc").textContent = "Alt-Svc: " + altSvc;
      $("altsvc-row").hidden = false;
    }
    show(cell, ok, resp.status + " \u00b7 " + body.length + " bytes \u00b7 " + ms.toFixed(1) + " ms");
  } catch (e) {
    show(cell, false, String(e));
  }
}
function tryWebSocket(row) {
  return new Promise((resolve) => {
    const cell = row.querySelector(".res");
    const rounds = 5, times = [];
    let t0 = 0, ws, finished = false;
    const done = (ok, text) => {
      if (finished) return;
      finished = true;
      show(cell, ok, text);
      try { ws.close(1000); } catch (e) {}
      resolve();
    };
    try {
      ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + row.dataset.url);
    } catch (e) {
      done(false, String(e));
      return;
    }
    const send = () => { t0 = performance.now(); ws.send("ping " + times.length); };
    ws.onopen = send;
    ws.onmessage = (ev) => {
      if (ev.data !== "ping " + times.length) { done(false, "echo " + JSON.stringify(ev.data) + " for ping " + times.length); return; }
      times.push(performance.now() - t0);
      if (times.length < rounds) { send(); return; }
      times.sort((a, b) => a - b);
      done(true, "101 \u00b7 " + rounds + " echoes \u00b7 median round trip " + times[rounds >> 1].toFixed(2) + " ms");
    };
    ws.onerror = () => done(false, "WebSocket error");
    ws.onclose = (ev) => done(false, "closed after " + times.length + " echoes (code " + ev.code + ")");
  });
}
async function runAll() {
  document.body.dataset.tried = "running";
  for (const row of document.querySelectorAll("#routes tbody tr")) {
    row.querySelector(".res").textContent = "\u2026";
    await (row.dataset.method === "WS" ? tryWebSocket(row) : tryRoute(row));
  }
  document.body.dataset.tried = "done";
}
const nav = performance.getEntriesByType("navigation")[0];
$("seen").textContent = (nav && nav.nextHopProtocol) || "not reported";
$("rerun").addEventListener("click", runAll);
runAll();
const stats = document.body.dataset.stats;
const fmt = {
  residentBytes: (v) => (v / 1048576).toFixed(1) + " MiB",
  cpuSeconds: (v) => v.toFixed(2) + " s",
};
let polls = 0;
async function poll() {
  try {
    const resp = await fetch(stats, { cache: "no-store" });
    if (!resp.ok) throw new Error(resp.status + " " + (await resp.text()));
    const s = await resp.json();
    for (const [k, v] of Object.entries(s)) {
      const el = $("stat-" + k);
      if (el) el.textContent = fmt[k] ? fmt[k](v) : Math.round(v).toLocaleString("en");
    }
    document.body.dataset.statsPolls = String(++polls);
    $("stats-at").textContent = "updated " + new Date().toLocaleTimeString("en-GB");
  } catch (e) {
    $("stats-at").textContent = "could not read " + stats + ": " + e.message;
  }
}
if (stats) {
  poll();
  setInterval(poll, 2000);
}
`

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

var (
	homeCSP = "default-src 'none'; script-src " + cspHash(homeScript) + "; style-src " + cspHash(homeStyle) +
		"; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; connect-src 'self'"
	// safeHost is a Host header that may be named in the policy.
	safeHost = regexp.MustCompile(`^[A-Za-z0-9.\-]+(:[0-9]+)?$|^\[[0-9A-Fa-f:.]+\](:[0-9]+)?$`)
)

// homeRoutes are the routes the page tries, in order.
var homeRoutes = []struct{ Method, URL, Expect, What string }{
	{"GET", "/plaintext", "Hello, World!", "the TechEmpower plaintext test, on the native handler API"},
	{"GET", "/json", `"message":"Hello, World!"`, "the TechEmpower JSON test, on the native handler API"},
	{"GET", "/headers", `"protocol"`, "the request as the server parsed it, as JSON"},
	{"POST", "/echo", "ping from the home page", "sends a body and gets it back (gzip, br, deflate and zstd bodies decoded)"},
	{"GET", "/stream?chunks=5&size=64&delayMs=100", "abcdef", "five flushed chunks, 100 ms apart"},
	{"WS", "/ws", "", "a WebSocket echo: five messages and their round trips"},
}

var homePage = template.Must(template.New("home").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kestrel for Go</title>
<link rel="icon" href="data:,">
<style>` + homeStyle + `</style>
</head>
<body data-stats="{{if .Metrics}}/stats{{end}}">
<header>
<h1>Hosted by Kestrel for Go</h1>
<p>version <code id="version">{{.Version}}</code>{{if .Revision}} &middot; revision <code id="revision">{{.Revision}}</code>{{end}} &middot; {{.GoVersion}}</p>
</header>
<main>
<section>
<h2>This request</h2>
<table>
<tr><th>Protocol</th><td><span class="big" id="proto">{{.Protocol}}</span></td></tr>
<tr><th>TLS</th><td id="tls">{{if .TLS}}{{.TLS}}{{else}}none (plain text){{end}}</td></tr>
<tr><th>Browser saw</th><td><code id="seen">&hellip;</code> <span class="muted">(nextHopProtocol)</span></td></tr>
<tr id="altsvc-row" hidden><th>HTTP/3 offered</th><td><code id="altsvc"></code> <span class="muted">the browser may use it from the next visit</span></td></tr>
<tr><th>Request</th><td class="mono">{{.Method}} {{.Target}}</td></tr>
<tr><th>From</th><td class="mono">{{.RemoteAddr}}</td></tr>
<tr><th>Request id</th><td class="mono">{{.RequestID}}</td></tr>
</table>
</section>
<section>
<h2>Listening on</h2>
<ul id="addresses">{{range .Addresses}}<li>{{if .Link}}<a href="{{.Link}}">{{.Text}}</a>{{else}}<code>{{.Text}}</code>{{end}}</li>{{else}}<li class="muted">no address reported</li>{{end}}</ul>
<p class="muted">Serve your own files with <code>--root DIR</code>; <code>--help</code> lists every flag.</p>
</section>
<section class="wide">
<h2>Try the routes</h2>
<table id="routes">
<thead><tr><th>Route</th><th>What it does</th><th>Result from this page</th></tr></thead>
<tbody>
{{range .Routes}}<tr data-method="{{.Method}}" data-url="{{.URL}}" data-expect="{{.Expect}}"><td class="mono">{{if eq .Method "WS"}}GET {{.URL}} <span class="muted">(WebSocket)</span>{{else if eq .Method "GET"}}GET <a href="{{.URL}}">{{.URL}}</a>{{else}}{{.Method}} {{.URL}}{{end}}</td><td>{{.What}}</td><td class="res">not tried</td></tr>
{{end}}</tbody>
</table>
<button id="rerun" type="button">Try them again</button>
</section>
<section class="wide">
<h2>Live counters</h2>
{{if .Metrics}}<div class="counters">
<div class="counter"><b id="stat-activeConnections">&hellip;</b><span>open connections</span></div>
<div class="counter"><b id="stat-closedConnections">&hellip;</b><span>closed connections</span></div>
<div class="counter"><b id="stat-rejectedConnections">&hellip;</b><span>rejected connections</span></div>
<div class="counter"><b id="stat-activeRequests">&hellip;</b><span>requests in flight</span></div>
<div class="counter"><b id="stat-requests">&hellip;</b><span>requests served</span></div>
<div class="counter"><b id="stat-goroutines">&hellip;</b><span>goroutines</span></div>
<div class="counter"><b id="stat-residentBytes">&hellip;</b><span>resident memory</span></div>
<div class="counter"><b id="stat-cpuSeconds">&hellip;</b><span>CPU time</span></div>
</div>
<p class="muted" id="stats-at">reading /stats&hellip;</p>
{{else}}<p class="muted" id="stats-at">Metrics are off. Start the server with <code>--metrics http://127.0.0.1:9464</code> to see live counters here (and Prometheus metrics at that URL's <code>/metrics</code>).</p>{{end}}
</section>
</main>
<script>` + homeScript + `</script>
</body>
</html>
`))

// link is a bound address on the page.
type link struct{ Text, Link string }

// addressLinks makes the server's addresses links where a browser can
// open them: http and https URLs on a named host; a wildcard host (every
// interface) is replaced by the host the request was sent to.
func addressLinks(addrs []string, reqHost string) []link {
	out := make([]link, 0, len(addrs))
	for _, a := range addrs {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			out = append(out, link{Text: a})
			continue
		}
		switch u.Hostname() {
		case "0.0.0.0", "::", "*", "+":
			h, _, err := net.SplitHostPort(reqHost)
			if err != nil {
				h = strings.Trim(reqHost, "[]")
			}
			if h == "" {
				out = append(out, link{Text: a})
				continue
			}
			u.Host = net.JoinHostPort(h, u.Port())
		}
		out = append(out, link{Text: a, Link: u.String() + "/"})
	}
	return out
}

// protocolName names the request's protocol as a person looks for it.
func protocolName(r *http.Request) string {
	switch r.ProtoMajor {
	case 2:
		if r.TLS != nil {
			return "HTTP/2 (h2)"
		}
		return "HTTP/2 (h2c, cleartext)"
	case 3:
		return "HTTP/3 (h3, QUIC)"
	}
	return r.Proto
}

func tlsSummary(cs *tls.ConnectionState) string {
	if cs == nil {
		return ""
	}
	s := tls.VersionName(cs.Version) + " \u00b7 " + tls.CipherSuiteName(cs.CipherSuite)
	if cs.NegotiatedProtocol != "" {
		s += " \u00b7 ALPN " + cs.NegotiatedProtocol
	}
	if cs.ServerName != "" {
		s += " \u00b7 SNI " + cs.ServerName
	}
	return s
}

// buildVersion is the binary's module version and VCS revision, from its
// build information.
func buildVersion() (version, revision string) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build information)", ""
	}
	version = bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
			if len(revision) > 12 {
				revision = revision[:12]
			}
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if revision != "" && modified {
		revision += " (modified)"
	}
	return version, revision
}

func (a *App) index(w http.ResponseWriter, r *http.Request) {
	var addrs []string
	if a.addresses != nil {
		addrs = a.addresses()
	}
	version, revision := buildVersion()
	csp := homeCSP
	if safeHost.MatchString(r.Host) {
		// 'self' covers ws: and wss: in CSP Level 3; older browsers need them named.
		csp += " ws://" + r.Host + " wss://" + r.Host
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	homePage.Execute(w, struct {
		Version, Revision, GoVersion          string
		Protocol, TLS                         string
		Method, Target, RemoteAddr, RequestID string
		Addresses                             []link
		Routes                                any
		Metrics                               bool
	}{
		version, revision, runtime.Version(),
		protocolName(r), tlsSummary(r.TLS),
		r.Method, r.RequestURI, r.RemoteAddr, kestrel.RequestID(r),
		addressLinks(addrs, r.Host),
		homeRoutes,
		a.metrics.Load() != nil,
	})
}
