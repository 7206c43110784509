package kestrel

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kestrel-go/kestrel/internal/logevents"
	"github.com/kestrel-go/kestrel/internal/metrics"
)

// StatusOptions configure the status page (Server.StatusHandler).
type StatusOptions struct {
	// AllowedNetworks are the client networks, besides loopback, whose
	// requests the page answers; every other client gets 403 Forbidden.
	// Empty, the default, means loopback only (127.0.0.0/8 and ::1). An
	// IPv4 network may be written in the IPv4-mapped form:
	// "::ffff:10.0.0.0/104" allows 10.0.0.0/8.
	AllowedNetworks []netip.Prefix
}

// StatusHandler returns a handler that serves the server's live status
// page, for operators (haproxy's stats page is the model): the endpoints
// with their protocols, the active connections by protocol, the requests
// per second over the last 5 seconds, the median and 99th percentile of
// request durations over the last minute, the TLS handshakes and their
// failures, the rejected connections and the reasons connections ended
// in error, the readiness state (see State) and, while the server
// drains, what is left of its DrainDelay, its uptime and version. The
// page is HTML that refreshes itself every second; with the query
// ?format=json (or a request that accepts application/json and not
// text/html) the same data is a JSON object for scripts, described in the
// README's "Status page" section.
//
// The counts are those of the metrics (see MeterProvider), taken at the
// same points from the same counters: kestrel.active_connections,
// kestrel.rejected_connections, kestrel.connection.duration's error.type,
// kestrel.tls_handshake.duration, http.server.request.duration and
// http.server.active_requests. The server keeps them, whether or not it
// has a MeterProvider, once StatusHandler has been called: call it before
// Start (or Serve, Run). A handler made after the server started shows
// the endpoints, state and uptime only.
//
// The page answers only requests from loopback addresses and opts's
// AllowedNetworks (nil opts: loopback only), from the connection's
// remote address (the client's, with the PROXY protocol); a request
// that carries X-Forwarded-For, X-Real-IP or Forwarded headers must have
// every address it names allowed too, so a reverse proxy on the same machine
// does not open the page to its clients. Requests over a Unix socket are
// refused. Other clients get 403 Forbidden. Answers are not cacheable
// (Cache-Control: no-store). Mount the handler ahead of the application
// and its middleware, as for the health checks:
//
//	mux.Handle("/status", srv.StatusHandler(nil))
func (s *Server) StatusHandler(opts *StatusOptions) http.Handler {
	s.mu.Lock()
	s.statusWanted = true
	late := s.hb != nil && !s.metrics.KeepsStatus()
	s.mu.Unlock()
	if late {
		logevents.General(s.logger(), slog.LevelWarn, "StatusAfterStart",
			"The status page was created after the server started: it shows no counts; create it (Server.StatusHandler) before Start.")
	}
	h := &statusHandler{s: s, version: buildVersion(), csp: statusCSP()}
	if opts != nil {
		for _, p := range opts.AllowedNetworks {
			h.allowed = append(h.allowed, unmapPrefix(p))
		}
	}
	return h
}

type statusHandler struct {
	s       *Server
	allowed []netip.Prefix
	version string
	csp     string
}

// statusCSP is the page's Content-Security-Policy: its own inline script
// and style, and requests to itself.
func statusCSP() string {
	return "default-src 'none'; script-src '" + cspHash(statusScript) + "'; style-src '" + cspHash(statusStyle) +
		"'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
}

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

func (h *statusHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Vary", "Accept")
	if !h.allows(r) {
		hd.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("403 Forbidden: the status page answers loopback clients and the networks its AllowedNetworks name\n"))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	st := h.s.status(h.version)
	if wantsJSON(r) {
		body, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
			return
		}
		hd.Set("Content-Type", "application/json")
		_, _ = w.Write(append(body, '\n'))
		return
	}
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(statusPage(&st))
}

// wantsJSON reports whether r asks for the JSON form: ?format=json, or an
// Accept header naming application/json and not text/html.
func wantsJSON(r *http.Request) bool {
	if f := r.URL.Query().Get("format"); f != "" {
		return f == "json"
	}
	a := r.Header.Get("Accept")
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
}

// allows reports whether r comes from an allowed client: its connection's
// remote address, and every address its forwarding headers name
// (X-Forwarded-For, X-Real-IP, which nginx configurations often set
// alone, and Forwarded).
func (h *statusHandler) allows(r *http.Request) bool {
	if !h.allowedAddr(r.RemoteAddr) {
		return false
	}
	for _, name := range [...]string{"X-Forwarded-For", "X-Real-Ip"} {
		for _, v := range r.Header.Values(name) {
			for _, a := range strings.Split(v, ",") {
				if !h.allowedAddr(strings.TrimSpace(a)) {
					return false
				}
			}
		}
	}
	for _, v := range r.Header.Values("Forwarded") {
		for _, elem := range strings.Split(v, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(pair), "=")
				if strings.EqualFold(k, "for") && !h.allowedAddr(strings.Trim(val, `"`)) {
					return false
				}
			}
		}
	}
	return true
}

// allowedAddr reports whether a, an address with or without a port
// ("127.0.0.1:5000", "[::1]", "10.0.0.1"), is loopback or in the allowed
// networks.
func (h *statusHandler) allowedAddr(a string) bool {
	if host, _, err := net.SplitHostPort(a); err == nil {
		a = host
	}
	a = strings.TrimSuffix(strings.TrimPrefix(a, "["), "]")
	ip, err := netip.ParseAddr(a)
	if err != nil {
		return false
	}
	ip = ip.Unmap().WithZone("")
	if ip.IsLoopback() {
		return true
	}
	for _, p := range h.allowed {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// buildVersion is "kestrel VERSION goVERSION", the module version from
// the build information ("(devel)" inside the repository).
func buildVersion() string {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		const path = "github.com/kestrel-go/kestrel"
		if bi.Main.Path == path && bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, d := range bi.Deps {
			if d.Path == path && d.Version != "" {
				v = d.Version
			}
		}
	}
	return "kestrel " + v + " " + runtime.Version()
}

// serverStatus is the status page's data, and its JSON form.
type serverStatus struct {
	Version       string           `json:"version"`
	State         string           `json:"state"`
	UptimeSeconds float64          `json:"uptimeSeconds"`
	Drain         statusDrain      `json:"drain"`
	Endpoints     []statusEndpoint `json:"endpoints"`
	Counting      bool             `json:"counting"` // false: the handler was made after Start; no counts
	Connections   statusConns      `json:"connections"`
	Requests      statusRequests   `json:"requests"`
	TLS           statusTLS        `json:"tls"`
}

type statusDrain struct {
	DelaySeconds     float64  `json:"delaySeconds"`
	RemainingSeconds *float64 `json:"remainingSeconds,omitempty"` // while draining only
}

type statusEndpoint struct {
	URL           string   `json:"url"`
	Protocols     []string `json:"protocols"`
	TLS           bool     `json:"tls"`
	ProxyProtocol bool     `json:"proxyProtocol"`
}

type statusConns struct {
	Active     int64            `json:"active"`
	ByProtocol map[string]int64 `json:"byProtocol"`
	Upgraded   int64            `json:"upgraded"`
	Queued     int64            `json:"queued"`
	Rejected   int64            `json:"rejected"`
	Errors     map[string]int64 `json:"errors"`
}

type statusRequests struct {
	Total             int64            `json:"total"`
	Active            int64            `json:"active"`
	Errors            int64            `json:"errors"`
	ByProtocol        map[string]int64 `json:"byProtocol"`
	PerSecond         float64          `json:"perSecond"`
	RateWindowSeconds float64          `json:"rateWindowSeconds"`
	Latency           statusLatency    `json:"latency"`
}

type statusLatency struct {
	WindowSeconds float64 `json:"windowSeconds"`
	Count         int64   `json:"count"`
	P50Seconds    float64 `json:"p50Seconds"`
	P99Seconds    float64 `json:"p99Seconds"`
}

type statusTLS struct {
	Handshakes int64            `json:"handshakes"`
	Failures   map[string]int64 `json:"failures"`
	Active     int64            `json:"active"`
}

// status reads the server's status.
func (s *Server) status(version string) serverStatus {
	now := time.Now()
	s.mu.Lock()
	state := s.State()
	st := serverStatus{Version: version, State: state.String(), Endpoints: []statusEndpoint{}}
	if !s.startedAt.IsZero() {
		st.UptimeSeconds = now.Sub(s.startedAt).Seconds()
	}
	delay := s.active.drainDelay
	if s.hb == nil {
		delay = s.DrainDelay
	}
	st.Drain.DelaySeconds = delay.Seconds()
	if state == StateDraining {
		left := 0.0
		if !s.drainEnd.IsZero() {
			left = max(s.drainEnd.Sub(now), 0).Seconds()
		}
		st.Drain.RemainingSeconds = &left
	}
	for _, l := range s.listeners {
		e := statusEndpoint{URL: l.url(), TLS: l.tls != nil, ProxyProtocol: l.ep.opts.ProxyProtocol != nil, Protocols: []string{}}
		if l.sock != nil {
			p := l.ep.opts.Protocols.tcp()
			if p&HTTP1 != 0 {
				e.Protocols = append(e.Protocols, "HTTP/1.1")
			}
			if p&HTTP2 != 0 {
				e.Protocols = append(e.Protocols, "HTTP/2")
			}
		}
		if l.quic != nil {
			e.Protocols = append(e.Protocols, "HTTP/3")
		}
		st.Endpoints = append(st.Endpoints, e)
	}
	m := s.metrics
	s.mu.Unlock()

	snap, ok := m.Status()
	st.Counting = ok
	if !ok {
		snap = metrics.StatusSnapshot{}
	}
	orEmpty := func(m map[string]int64) map[string]int64 {
		if m == nil {
			return map[string]int64{}
		}
		return m
	}
	st.Connections = statusConns{Active: snap.ActiveConnections, ByProtocol: orEmpty(snap.ConnectionsByProto),
		Upgraded: snap.UpgradedConnections, Queued: snap.QueuedConnections,
		Rejected: snap.RejectedConnections, Errors: orEmpty(snap.ConnectionErrors)}
	st.Requests = statusRequests{Total: snap.Requests, Active: snap.ActiveRequests, Errors: snap.RequestErrors,
		ByProtocol: orEmpty(snap.RequestsByProto), PerSecond: snap.RequestsPerSecond, RateWindowSeconds: snap.RateWindow.Seconds(),
		Latency: statusLatency{WindowSeconds: snap.LatencyWindow.Seconds(), Count: snap.LatencyCount,
			P50Seconds: snap.P50.Seconds(), P99Seconds: snap.P99.Seconds()}}
	st.TLS = statusTLS{Handshakes: snap.TLSHandshakes, Failures: orEmpty(snap.TLSFailures), Active: snap.ActiveTLSHandshakes}
	return st
}

// statusStyle and statusScript are the page's inline style and script;
// the Content-Security-Policy allows them by hash.
const statusStyle = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.05em;margin:1.2em 0 .3em}
table{border-collapse:collapse;background:#fff;min-width:22em}
th,td{border:1px solid #ccc;padding:.25em .7em;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
th{background:#eee}.grid{display:flex;flex-wrap:wrap;gap:0 2em}
#state{font-weight:bold;padding:.1em .5em;border-radius:.3em}
.ready{background:#c8f0c8}.draining{background:#ffe08a}.starting,.stopped{background:#f4b4b4}
.muted{color:#777}`

const statusScript = `
(function(){
var n=0,url=location.pathname+"?format=json";
function get(o,k){return k.split(".").reduce(function(a,p){return a==null?a:a[p]},o)}
function fmt(v,f){
 if(v==null)return "\u2013";
 switch(f){
 case "ms":return v<0.001?(v*1e6).toFixed(1)+" \u00b5s":(v*1000).toFixed(3)+" ms";
 case "rate":return v.toFixed(1);
 case "s":return v.toFixed(1)+" s";
 case "list":return v.join(", ");
 case "yes":return v?"yes":"no";
 }
 return String(v);
}
function fill(tbody,obj,empty){
 tbody.textContent="";
 var keys=Object.keys(obj||{}).sort();
 if(!keys.length){var r=tbody.insertRow(),c=r.insertCell();c.colSpan=2;c.className="muted";c.textContent=empty;return}
 keys.forEach(function(k){var r=tbody.insertRow();r.insertCell().textContent=k;var c=r.insertCell();c.className="n";c.textContent=String(obj[k])});
}
function render(d){
 document.querySelectorAll("[data-k]").forEach(function(e){e.textContent=fmt(get(d,e.dataset.k),e.dataset.f)});
 var s=document.getElementById("state");s.className=d.state;
 document.querySelectorAll("tbody[data-map]").forEach(function(t){fill(t,get(d,t.dataset.map),t.dataset.empty)});
 var eps=document.getElementById("endpoints");eps.textContent="";
 d.endpoints.forEach(function(e){var r=eps.insertRow();[e.url,e.protocols.join(", "),e.tls?"yes":"no",e.proxyProtocol?"yes":"no"].forEach(function(v){r.insertCell().textContent=v})});
 document.getElementById("draining").hidden=d.state!=="draining";
 n++;document.body.dataset.updates=n;
 document.getElementById("updated").textContent="updated "+new Date().toLocaleTimeString();
}
function tick(){
 fetch(url,{cache:"no-store",headers:{Accept:"application/json"}}).then(function(r){if(!r.ok)throw new Error(r.status);return r.json()})
 .then(render).catch(function(e){document.getElementById("updated").textContent="not updated: "+e.message})
 .finally(function(){setTimeout(tick,1000)});
}
setTimeout(tick,1000);
})();`

// statusPage renders the page with st's numbers, so that it reads
// without JavaScript (which refreshes it every second; without it, a
// meta refresh reloads the page every 5 seconds).
func statusPage(st *serverStatus) []byte {
	var b strings.Builder
	w := func(s ...string) {
		for _, x := range s {
			b.WriteString(x)
		}
	}
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	f := func(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	ms := func(v float64) string {
		if v < 0.001 {
			return f(v*1e6, 1) + " µs"
		}
		return f(v*1000, 3) + " ms"
	}
	// cell writes a cell the script refreshes from the JSON's key k,
	// formatted as format says.
	cell := func(k, format, text string) {
		w(`<td class="n" data-k="`, k, `"`)
		if format != "" {
			w(` data-f="`, format, `"`)
		}
		w(`>`, esc(text), `</td>`)
	}
	row := func(label, k, format, text string) {
		w(`<tr><th>`, esc(label), `</th>`)
		cell(k, format, text)
		w("</tr>\n")
	}
	mapTable := func(title, key, head, empty string, m map[string]int64) {
		w(`<div><h2>`, esc(title), `</h2><table><thead><tr><th>`, esc(head), `</th><th>count</th></tr></thead><tbody data-map="`, key, `" data-empty="`, esc(empty), `">`)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if len(keys) == 0 {
			w(`<tr><td colspan="2" class="muted">`, esc(empty), `</td></tr>`)
		}
		for _, k := range keys {
			w(`<tr><td>`, esc(k), `</td><td class="n">`, i(m[k]), `</td></tr>`)
		}
		w("</tbody></table></div>\n")
	}

	w(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<noscript><meta http-equiv="refresh" content="5"></noscript>
<title>Kestrel status</title><style>`, statusStyle, `</style></head>
<body data-updates="0">
<h1>Kestrel status: <span id="state" class="`, esc(st.State), `" data-k="state">`, esc(st.State), `</span></h1>
<p class="muted"><span data-k="version">`, esc(st.Version), `</span> &middot; up <span data-k="uptimeSeconds" data-f="s">`, f(st.UptimeSeconds, 1), ` s</span> &middot; <span id="updated">refreshes every second</span></p>
`)
	remaining := ""
	if st.Drain.RemainingSeconds != nil {
		remaining = f(*st.Drain.RemainingSeconds, 1) + " s"
	}
	hidden := " hidden"
	if st.State == StateDraining.String() {
		hidden = ""
	}
	w(`<p id="draining"`, hidden, `>Draining: <span data-k="drain.remainingSeconds" data-f="s">`, esc(remaining), `</span> left of the drain delay of <span data-k="drain.delaySeconds" data-f="s">`, f(st.Drain.DelaySeconds, 1), " s</span>.</p>\n")
	if !st.Counting {
		w(`<p class="muted">No counts: the status handler was created after the server started (create it before Start).</p>`, "\n")
	}

	w(`<h2>Endpoints</h2><table><thead><tr><th>URL</th><th>protocols</th><th>TLS</th><th>PROXY protocol</th></tr></thead><tbody id="endpoints">`)
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	for _, e := range st.Endpoints {
		w(`<tr><td>`, esc(e.URL), `</td><td>`, esc(strings.Join(e.Protocols, ", ")), `</td><td>`, yes(e.TLS), `</td><td>`, yes(e.ProxyProtocol), "</td></tr>\n")
	}
	w("</tbody></table>\n<div class=\"grid\">\n")

	r := &st.Requests
	w(`<div><h2>Requests</h2><table>`)
	row("per second", "requests.perSecond", "rate", f(r.PerSecond, 1))
	row("p50 (last minute)", "requests.latency.p50Seconds", "ms", ms(r.Latency.P50Seconds))
	row("p99 (last minute)", "requests.latency.p99Seconds", "ms", ms(r.Latency.P99Seconds))
	row("in the last minute", "requests.latency.count", "", i(r.Latency.Count))
	row("active", "requests.active", "", i(r.Active))
	row("total", "requests.total", "", i(r.Total))
	row("errors (5xx, panics)", "requests.errors", "", i(r.Errors))
	w("</table></div>\n")

	c := &st.Connections
	w(`<div><h2>Connections</h2><table>`)
	row("active", "connections.active", "", i(c.Active))
	row("upgraded (WebSocket)", "connections.upgraded", "", i(c.Upgraded))
	row("queued", "connections.queued", "", i(c.Queued))
	row("rejected (limit)", "connections.rejected", "", i(c.Rejected))
	w("</table></div>\n")

	w(`<div><h2>TLS handshakes</h2><table>`)
	row("completed", "tls.handshakes", "", i(st.TLS.Handshakes))
	row("in progress", "tls.active", "", i(st.TLS.Active))
	w("</table></div>\n</div>\n<div class=\"grid\">\n")

	mapTable("Active connections by protocol", "connections.byProtocol", "protocol", "none", c.ByProtocol)
	mapTable("Requests by protocol", "requests.byProtocol", "protocol", "none", r.ByProtocol)
	mapTable("Rejected and failed connections", "connections.errors", "reason", "none", c.Errors)
	mapTable("Failed TLS handshakes", "tls.failures", "reason", "none", st.TLS.Failures)
	w("</div>\n<script>", statusScript, "</script>\n</body></html>\n")
	return []byte(b.String())
}

// esc escapes s for HTML text and attribute values.
func esc(s string) string {
	if !strings.ContainsAny(s, `&<>"'`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&#34;")
		case '\'':
			b.WriteString("&#39;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
