package kestrel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/qpack"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// wAct is one action of a generated handler script.
type wAct struct {
	// kind is one of: set, add, del (a response header), code
	// (WriteHeader), write (n bytes), flush (http.Flusher), rcflush
	// (http.ResponseController's Flush), duplex (EnableFullDuplex),
	// deadline (SetWriteDeadline an hour ahead), read (the request body),
	// trailer (a trailer set after the body: name with http.TrailerPrefix
	// or a declared name).
	kind        string
	name, value string
	n           int
}

func (a wAct) String() string {
	switch a.kind {
	case "set", "add", "trailer":
		return fmt.Sprintf("%s(%s: %q)", a.kind, a.name, a.value)
	case "del":
		return "del(" + a.name + ")"
	case "code", "write":
		return fmt.Sprintf("%s(%d)", a.kind, a.n)
	}
	return a.kind
}

// wScript is one generated handler script and the request it answers.
type wScript struct {
	method string
	// body is the request body's length (POST), -1 for none.
	body   int
	expect bool
	acts   []wAct
}

func (s wScript) String() string {
	var as []string
	for _, a := range s.acts {
		as = append(as, a.String())
	}
	return fmt.Sprintf("%s body=%d expect=%v [%s]", s.method, s.body, s.expect, strings.Join(as, " "))
}

// wBody is n bytes of response body starting at offset off: text, so that
// the sniffed Content-Type is the same whatever the split.
func wBody(off, n int) []byte {
	const pat = "0123456789abcdefghijklmnopqrstuvwxyz\n"
	b := make([]byte, n)
	for i := range b {
		b[i] = pat[(off+i)%len(pat)]
	}
	return b
}

// genScript generates a handler script.
func genScript(r *rand.Rand) wScript {
	s := wScript{method: pick(r, "GET", "GET", "HEAD", "POST", "POST"), body: -1}
	if s.method == "POST" {
		s.body = pick(r, 0, 1, 5, 100, 3000, 20000)
		s.expect = r.IntN(3) == 0
	}
	size := func() int {
		if r.IntN(30) == 0 {
			return 100000 + r.IntN(200000)
		}
		return pick(r, 0, 1, 2, 10, 100, 1000, 2047, 2048, 2049, 4096, 16384, 16385, 70000)
	}
	total := 0 // bytes written so far in the script, for right lengths
	var sizes []int
	nacts := r.IntN(9)
	for range nacts {
		sizes = append(sizes, size())
	}
	value := func() string {
		switch r.IntN(12) {
		case 0:
			return "a\r\nX-Injected: 1"
		case 1:
			return "b\nc"
		case 2:
			return "with\x00nul"
		}
		return genValue(r, true)
	}
	hname := func() string {
		return pick(r, "X-"+genToken(r, 1+r.IntN(6), false), "Content-Type", "Content-Length", "Transfer-Encoding", "Connection", "Date", "Server", "Trailer", "Cache-Control", "Link", "Keep-Alive", "Content-Encoding", "Location", "Set-Cookie", "x-lower", "Upgrade", "Proxy-Connection", "Te")
	}
	for i := range nacts {
		var a wAct
		switch k := r.IntN(20); {
		case k < 4:
			a = wAct{kind: pick(r, "set", "set", "add"), name: hname(), value: value()}
			switch a.name {
			case "Content-Length":
				// Right, wrong or bad: right is the whole body of the script
				// so far plus what is left, which the generator does not
				// know yet; so it is an estimate fixed below.
				a.value = pick(r, "right", "right", strconv.Itoa(r.IntN(3000)), "0", "abc", "-1", "1, 1")
			case "Transfer-Encoding":
				a.value = pick(r, "chunked", "identity", "gzip", "gzip, chunked", "")
			case "Connection":
				a.value = pick(r, "close", "keep-alive", "X-Foo", "Upgrade", "close, X-Foo")
			case "Trailer":
				a.value = pick(r, "X-T", "X-T, X-U", "Content-Length", "x-t")
			case "Content-Type":
				a.value = pick(r, "text/html", "application/json", "", "text/plain; charset=iso-8859-1", value())
			case "Link":
				a.value = pick(r, "</a.css>; rel=preload", "</b.js>; rel=preload; as=script")
			}
		case k == 4:
			a = wAct{kind: "del", name: hname()}
		case k < 8:
			a = wAct{kind: "code", n: pick(r, 100, 103, 103, 102, 200, 200, 201, 204, 205, 206, 304, 400, 404, 500, 503, 299, 599)}
		case k < 13:
			a = wAct{kind: "write", n: sizes[i]}
			total += sizes[i]
		case k == 13:
			a = wAct{kind: pick(r, "flush", "rcflush")}
		case k == 14:
			a = wAct{kind: "duplex"}
		case k == 15:
			a = wAct{kind: "deadline"}
		case k == 16:
			a = wAct{kind: "read"}
		default:
			a = wAct{kind: "trailer", name: pick(r, http.TrailerPrefix+"X-T", http.TrailerPrefix+"X-U", "X-T", http.TrailerPrefix+"Content-Length", http.TrailerPrefix+"x-t"), value: value()}
		}
		s.acts = append(s.acts, a)
	}
	for i, a := range s.acts {
		if a.kind != "set" && a.kind != "add" || a.name != "Content-Length" || a.value != "right" {
			continue
		}
		s.acts[i].value = strconv.Itoa(total)
	}
	return s
}

// run plays the script as a handler.
func (s wScript) run(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	off := 0
	for _, a := range s.acts {
		switch a.kind {
		case "set":
			w.Header().Set(a.name, a.value)
		case "add":
			w.Header().Add(a.name, a.value)
		case "del":
			w.Header().Del(a.name)
		case "code":
			if a.n == 103 {
				w.Header().Set("Link", "</early.css>; rel=preload")
			}
			w.WriteHeader(a.n)
		case "write":
			w.Write(wBody(off, a.n))
			off += a.n
		case "flush":
			w.(http.Flusher).Flush()
		case "rcflush":
			rc.Flush()
		case "duplex":
			rc.EnableFullDuplex()
		case "deadline":
			rc.SetWriteDeadline(time.Now().Add(time.Hour))
		case "read":
			io.Copy(io.Discard, r.Body)
		case "trailer":
			w.Header().Set(a.name, a.value)
		}
	}
}

// wScripts maps a request path to its script, for both servers.
type wScripts struct{ m sync.Map }

func (ws *wScripts) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/ok" {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
		return
	}
	s, ok := ws.m.Load(r.URL.Path)
	if !ok {
		http.Error(w, "no script", http.StatusNotFound)
		return
	}
	s.(wScript).run(w, r)
}

// wFields is a sorted summary of response fields, minus Date.
func wFields(prefix string, fs [][2]string) string {
	var ls []string
	for _, f := range fs {
		if strings.EqualFold(f[0], "date") {
			continue
		}
		ls = append(ls, fmt.Sprintf("%s %s: %q", prefix, f[0], f[1]))
	}
	sort.Strings(ls)
	return strings.Join(ls, "\n")
}

func wBodySummary(b []byte) string {
	if len(b) <= 40 {
		return fmt.Sprintf("body %d %q", len(b), b)
	}
	return fmt.Sprintf("body %d crc %08x", len(b), crc32.ChecksumIEEE(b))
}

func wRequestBody(s wScript) string { return strings.Repeat("q", max(s.body, 0)) }

// wH1Request is the HTTP/1.1 request for s at path.
func wH1Request(s wScript, path string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: example.com\r\n", s.method, path)
	if s.body >= 0 {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", s.body)
	}
	if s.expect {
		b.WriteString("Expect: 100-continue\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(wRequestBody(s))
	return b.String()
}

func wConnErr(err error) string {
	if err == nil {
		return "ok"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "reset by peer") || strings.Contains(err.Error(), "broken pipe") {
		return "closed"
	}
	return err.Error()
}

// wReadH1 reads one HTTP/1.1 response (its 1xx responses first) and
// summarizes it: each head, the framing, the body, the trailers. done is
// false when the connection can carry no other response.
func wReadH1(br *bufio.Reader, head bool) (sum string, keep bool) {
	var out []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return strings.Join(append(out, "read status: "+wConnErr(err)), "\n"), false
		}
		line = strings.TrimRight(line, "\r\n")
		f := strings.SplitN(line, " ", 3)
		if len(f) < 2 {
			return strings.Join(append(out, fmt.Sprintf("bad status line %q", line)), "\n"), false
		}
		code, _ := strconv.Atoi(f[1])
		var fs [][2]string
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return strings.Join(append(out, "read head: "+wConnErr(err)), "\n"), false
			}
			if l == "\r\n" {
				break
			}
			if !strings.HasSuffix(l, "\r\n") {
				out = append(out, fmt.Sprintf("bare LF in head %q", l))
			}
			l = strings.TrimRight(l, "\r\n")
			name, value, ok := strings.Cut(l, ":")
			if !ok {
				out = append(out, fmt.Sprintf("bad field line %q", l))
				continue
			}
			fs = append(fs, [2]string{http.CanonicalHeaderKey(name), strings.Trim(value, " \t")})
		}
		out = append(out, fmt.Sprintf("status %d", code))
		if h := wFields("H", fs); h != "" {
			out = append(out, h)
		}
		if code >= 100 && code < 200 && code != 101 {
			continue
		}
		get := func(n string) []string {
			var vs []string
			for _, f := range fs {
				if f[0] == n {
					vs = append(vs, f[1])
				}
			}
			return vs
		}
		closing := false
		for _, v := range get("Connection") {
			for t := range strings.SplitSeq(v, ",") {
				if strings.EqualFold(strings.TrimSpace(t), "close") {
					closing = true
				}
			}
		}
		te, cl := get("Transfer-Encoding"), get("Content-Length")
		switch {
		case head || code == 204 || code == 304:
			out = append(out, "framing none")
			return strings.Join(out, "\n"), !closing
		case len(te) > 0:
			codings := strings.Split(te[len(te)-1], ",")
			if !strings.EqualFold(strings.TrimSpace(codings[len(codings)-1]), "chunked") { // the final coding
				out = append(out, "framing close (te)")
				b, err := io.ReadAll(br)
				out = append(out, wBodySummary(b), "end "+wConnErr(err))
				return strings.Join(out, "\n"), false
			}
			if len(cl) > 0 {
				out = append(out, "framing chunked WITH Content-Length")
			} else {
				out = append(out, "framing chunked")
			}
			var body []byte
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					out = append(out, wBodySummary(body), "chunk: "+wConnErr(err))
					return strings.Join(out, "\n"), false
				}
				sz, err := strconv.ParseUint(strings.TrimRight(l, "\r\n"), 16, 63)
				if err != nil {
					out = append(out, wBodySummary(body), fmt.Sprintf("bad chunk size %q", l))
					return strings.Join(out, "\n"), false
				}
				if sz == 0 {
					break
				}
				c := make([]byte, sz+2)
				if _, err := io.ReadFull(br, c); err != nil || string(c[sz:]) != "\r\n" {
					out = append(out, wBodySummary(body), "chunk data: "+wConnErr(err))
					return strings.Join(out, "\n"), false
				}
				body = append(body, c[:sz]...)
			}
			out = append(out, wBodySummary(body))
			var tr [][2]string
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					out = append(out, "trailers: "+wConnErr(err))
					return strings.Join(out, "\n"), false
				}
				if l == "\r\n" {
					break
				}
				name, value, _ := strings.Cut(strings.TrimRight(l, "\r\n"), ":")
				tr = append(tr, [2]string{http.CanonicalHeaderKey(name), strings.Trim(value, " \t")})
			}
			if t := wFields("T", tr); t != "" {
				out = append(out, t)
			}
			return strings.Join(out, "\n"), !closing
		case len(cl) > 0:
			n, err := strconv.ParseInt(cl[0], 10, 64)
			for _, v := range cl[1:] {
				if v != cl[0] {
					err = fmt.Errorf("differing lengths %q", cl)
				}
			}
			if err != nil || n < 0 {
				out = append(out, fmt.Sprintf("framing BAD Content-Length %q", cl))
				return strings.Join(out, "\n"), false
			}
			out = append(out, "framing length")
			b := make([]byte, n)
			m, err := io.ReadFull(br, b)
			out = append(out, wBodySummary(b[:m]))
			if err != nil {
				out = append(out, "body: "+wConnErr(err))
				return strings.Join(out, "\n"), false
			}
			return strings.Join(out, "\n"), !closing
		default:
			out = append(out, "framing close")
			b, err := io.ReadAll(br)
			out = append(out, wBodySummary(b), "end "+wConnErr(err))
			return strings.Join(out, "\n"), false
		}
	}
}

// wSendH1 sends s's request over a new connection, reads the response,
// then tries a second request on the connection.
func wSendH1(addr, path string, s wScript) string {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(c, wH1Request(s, path))
	br := bufio.NewReader(c)
	sum, keep := wReadH1(br, s.method == "HEAD")
	if !keep {
		return sum + "\nsecond: none"
	}
	if _, err := io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: example.com\r\n\r\n"); err != nil {
		return sum + "\nsecond: write " + wConnErr(err)
	}
	c.SetDeadline(time.Now().Add(time.Second))
	s2, _ := wReadH1(br, false)
	if strings.Contains(s2, `body 2 "ok"`) && strings.HasPrefix(s2, "status 200") {
		return sum + "\nsecond: ok"
	}
	return sum + "\nsecond: " + strings.ReplaceAll(s2, "\n", " | ")
}

// wH2Fields are the request fields of s.
func wH2Fields(s wScript, scheme, path string) [][2]string {
	fs := [][2]string{{":method", s.method}, {":scheme", scheme}, {":authority", "example.com"}, {":path", path}}
	if s.body >= 0 {
		fs = append(fs, [2]string{"content-length", strconv.Itoa(s.body)})
	}
	if s.expect {
		fs = append(fs, [2]string{"expect", "100-continue"})
	}
	return fs
}

// wSendH2 sends s's request on stream 1 of a new h2c connection, then
// GET /ok on stream 3.
func wSendH2(addr, path string, s wScript) string {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(3 * time.Second))
	fr := http2.NewFramer(nc, nc)
	io.WriteString(nc, http2.ClientPreface)
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	fr.WriteWindowUpdate(0, 1<<24)
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	dec := hpack.NewDecoder(4096, nil)
	exchange := func(id uint32, fs [][2]string, body string) (string, bool) {
		block.Reset()
		for _, f := range fs {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block.Bytes(), EndStream: len(body) == 0, EndHeaders: true})
		for len(body) > 0 {
			n := min(len(body), 16384)
			fr.WriteData(id, n == len(body), []byte(body[:n]))
			body = body[n:]
		}
		var out []string
		final := false
		var data []byte
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return strings.Join(append(out, wBodySummary(data), "read: "+wConnErr(err)), "\n"), false
			}
			if f.Header().StreamID != 0 && f.Header().StreamID != id {
				continue
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					fr.WriteSettingsAck()
				}
			case *http2.PingFrame:
				if !f.IsAck() {
					fr.WritePing(true, f.Data)
				}
			case *http2.HeadersFrame:
				hfs, err := dec.DecodeFull(f.HeaderBlockFragment())
				if err != nil {
					return strings.Join(append(out, "hpack: "+err.Error()), "\n"), false
				}
				var fs [][2]string
				status := ""
				for _, hf := range hfs {
					if hf.Name == ":status" {
						status = hf.Value
						continue
					}
					fs = append(fs, [2]string{http.CanonicalHeaderKey(hf.Name), hf.Value})
				}
				switch {
				case final:
					out = append(out, wBodySummary(data))
					data = nil
					if t := wFields("T", fs); t != "" {
						out = append(out, t)
					}
				case status == "":
					out = append(out, "HEADERS without :status")
				default:
					out = append(out, "status "+status)
					if h := wFields("H", fs); h != "" {
						out = append(out, h)
					}
					final = !strings.HasPrefix(status, "1")
				}
				if f.StreamEnded() {
					if data != nil || !strings.HasPrefix(out[len(out)-1], "body") && !strings.HasPrefix(out[len(out)-1], "T ") {
						out = append(out, wBodySummary(data))
					}
					return strings.Join(out, "\n"), true
				}
			case *http2.DataFrame:
				if data == nil {
					data = []byte{}
				}
				data = append(data, f.Data()...)
				if n := uint32(len(f.Data())); n > 0 {
					fr.WriteWindowUpdate(id, n)
				}
				if f.StreamEnded() {
					out = append(out, wBodySummary(data))
					return strings.Join(out, "\n"), true
				}
			case *http2.RSTStreamFrame:
				return strings.Join(append(out, wBodySummary(data), "RST_STREAM "+f.ErrCode.String()), "\n"), true
			case *http2.GoAwayFrame:
				return strings.Join(append(out, wBodySummary(data), "GOAWAY "+f.ErrCode.String()), "\n"), false
			}
		}
	}
	sum, ok := exchange(1, wH2Fields(s, "http", path), wRequestBody(s))
	if !ok {
		return sum + "\nsecond: none"
	}
	s2, _ := exchange(3, wH2Fields(wScript{method: "GET", body: -1}, "http", "/ok"), "")
	if strings.HasPrefix(s2, "status 200") && strings.Contains(s2, `body 2 "ok"`) {
		return sum + "\nsecond: ok"
	}
	return sum + "\nsecond: " + strings.ReplaceAll(s2, "\n", " | ")
}

// wSendH3 sends s's request on a request stream of a new QUIC
// connection, then GET /ok on another.
func wSendH3(addr, path string, s wScript) string {
	tc := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h3"}, ServerName: "localhost"}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	qc, err := quic.DialAddr(ctx, addr, tc, &quic.Config{})
	if err != nil {
		return "dial: " + err.Error()
	}
	defer qc.CloseWithError(0, "")
	enc := func(fs [][2]string) []byte {
		var block bytes.Buffer
		e := qpack.NewEncoder(&block)
		for _, f := range fs {
			e.WriteField(qpack.HeaderField{Name: f[0], Value: f[1]})
		}
		return append(quicvarint.Append(quicvarint.Append(nil, 0x01), uint64(block.Len())), block.Bytes()...)
	}
	exchange := func(fs [][2]string, body string) string {
		st, err := qc.OpenStream()
		if err != nil {
			return "open: " + err.Error()
		}
		st.SetDeadline(time.Now().Add(3 * time.Second))
		out := enc(fs)
		if len(body) > 0 {
			out = quicvarint.Append(quicvarint.Append(out, 0x00), uint64(len(body)))
			out = append(out, body...)
		}
		st.Write(out)
		st.Close()
		br := bufio.NewReader(st)
		var sum []string
		final := false
		var data []byte
		for {
			typ, err := quicvarint.Read(br)
			if err == io.EOF {
				if data != nil || final && !strings.HasPrefix(sum[len(sum)-1], "T ") && !strings.HasPrefix(sum[len(sum)-1], "body") {
					sum = append(sum, wBodySummary(data))
				}
				return strings.Join(sum, "\n")
			}
			if err != nil {
				var se *quic.StreamError
				if errors.As(err, &se) {
					return strings.Join(append(sum, wBodySummary(data), fmt.Sprintf("reset %#x", se.ErrorCode)), "\n")
				}
				return strings.Join(append(sum, wBodySummary(data), "read: "+wConnErr(err)), "\n")
			}
			n, err := quicvarint.Read(br)
			if err != nil {
				return strings.Join(append(sum, "read: "+wConnErr(err)), "\n")
			}
			buf := make([]byte, n)
			if _, err := io.ReadFull(br, buf); err != nil {
				return strings.Join(append(sum, "read: "+wConnErr(err)), "\n")
			}
			switch typ {
			case 0x01:
				var fs [][2]string
				status := ""
				next := qpack.NewDecoder().Decode(buf)
				for hf, err := next(); err == nil; hf, err = next() {
					if hf.Name == ":status" {
						status = hf.Value
						continue
					}
					fs = append(fs, [2]string{http.CanonicalHeaderKey(hf.Name), hf.Value})
				}
				switch {
				case final:
					sum = append(sum, wBodySummary(data))
					data = nil
					if t := wFields("T", fs); t != "" {
						sum = append(sum, t)
					}
				default:
					sum = append(sum, "status "+status)
					if h := wFields("H", fs); h != "" {
						sum = append(sum, h)
					}
					final = !strings.HasPrefix(status, "1")
				}
			case 0x00:
				if data == nil {
					data = []byte{}
				}
				data = append(data, buf...)
			default:
				sum = append(sum, fmt.Sprintf("frame %#x", typ))
			}
		}
	}
	sum := exchange(wH2Fields(s, "https", path), wRequestBody(s))
	s2 := exchange(wH2Fields(wScript{method: "GET", body: -1}, "https", "/ok"), "")
	if strings.HasPrefix(s2, "status 200") && strings.Contains(s2, `body 2 "ok"`) {
		return sum + "\nsecond: ok"
	}
	return sum + "\nsecond: " + strings.ReplaceAll(s2, "\n", " | ")
}

// wNormalize takes out of a pair of summaries the differences between this
// server and the model that are by design: see
// TestRandomResponsesAgainstNetHTTP.
func wNormalize(proto string, s wScript, here, model string) (string, string) {
	// setsFraming: the handler set Content-Length or Transfer-Encoding
	// before the head was fixed (after it, net/http and this server ignore
	// it; quic-go, writing its head late, may still send it).
	setsFraming, trailerCase := false, 0
	headFixed := false
	for _, a := range s.acts {
		if a.kind == "write" || a.kind == "code" && a.n >= 200 {
			headFixed = true
		}
		if (a.kind == "set" || a.kind == "add") && (a.name == "Transfer-Encoding" || a.name == "Content-Length" && wValidLength(a.value)) && (!headFixed || proto == "HTTP/3") {
			setsFraming = true
		}
		if a.kind == "trailer" && (a.name == http.TrailerPrefix+"x-t" || a.name == http.TrailerPrefix+"X-T") {
			trailerCase |= map[bool]int{true: 1, false: 2}[a.name == http.TrailerPrefix+"x-t"]
		}
	}
	// Values with CR, LF or NUL: net/http's HTTP/2 server and quic-go
	// drop the field (or send it raw); this server sends them with spaces.
	dirty := map[string]bool{}
	// Headers changed after the head was fixed (the first WriteHeader of a
	// final status or write): quic-go still sends them, as it writes its
	// head late; net/http and this server do not.
	late := map[string]bool{}
	fixed := false
	for _, a := range s.acts {
		if strings.ContainsAny(a.value, "\r\n\x00") {
			dirty[http.CanonicalHeaderKey(strings.TrimPrefix(a.name, http.TrailerPrefix))] = true
		}
		switch a.kind {
		case "write":
			fixed = true
		case "code":
			if a.n >= 200 {
				fixed = true
			} else if fixed {
				late["Link"] = true
			}
		case "set", "add", "del", "trailer":
			if fixed && !strings.HasPrefix(a.name, http.TrailerPrefix) {
				late[http.CanonicalHeaderKey(a.name)] = true
			}
		}
	}
	setsType, setsTE, setsConn := false, false, false
	for _, a := range s.acts {
		setsType = setsType || a.kind != "del" && a.name == "Content-Type"
		setsTE = setsTE || a.kind != "del" && a.name == "Transfer-Encoding"
		setsConn = setsConn || a.name == "Connection"
	}
	is205 := strings.Contains(here, "\nstatus 205\n") || strings.HasPrefix(here, "status 205\n")
	is304 := strings.Contains(here, "\nstatus 304\n") || strings.HasPrefix(here, "status 304\n")
	h1 := proto == "HTTP/1.1"
	if strings.Contains(model, "read: timeout") || strings.Contains(model, "\nRST_STREAM NO_ERROR") || strings.Contains(model, "GOAWAY NO_ERROR") {
		// net/http's HTTP/2 server stalls or ends the stream early after
		// some scripts (a 304 or 204 with trailers, Connection: close):
		// only this server's answer is checked then, that it ended well.
		if !strings.Contains(here, "read: ") && strings.HasSuffix(here, "second: ok") {
			return here, here
		}
	}
	// handlerClose: the handler's Connection held close when the head
	// was fixed; then both servers must close.
	handlerClose, conn, fixedAt := false, []string(nil), false
	for _, a := range s.acts {
		if a.kind == "write" || a.kind == "code" && a.n >= 200 {
			fixedAt = true
		}
		if fixedAt || a.name != "Connection" {
			continue
		}
		switch a.kind {
		case "set":
			conn = []string{a.value}
		case "add":
			conn = append(conn, a.value)
		case "del":
			conn = nil
		}
	}
	for _, v := range conn {
		handlerClose = handlerClose || strings.Contains(v, "close")
	}
	// modelTEClose: the model delimited the body by the connection's
	// close, for a Transfer-Encoding the handler set (identity: no
	// Transfer-Encoding sent; gzip: sent).
	modelTEClose := setsTE && (strings.Contains(model, "\nframing close (te)") || strings.Contains(model, "\nframing close\n"))
	if strings.HasSuffix(here, "\nsecond: ok") && !(h1 && handlerClose) {
		// The model closed the connection after the response where this
		// server kept it, and served the second request on it: net/http
		// closes after a body delimited by the close (a handler's
		// Transfer-Encoding: identity), or when the head went out before
		// an expected body was read (Expect: 100-continue), even if the
		// handler reads it all after; this server keeps a connection
		// whose request body was read to its end, as Kestrel does.
		if isModelClosing(model) {
			model = strings.Replace(model, "\nH Connection: \"close\"", "", 1)
		}
		for _, m := range []string{"\nsecond: none", "\nsecond: read status: closed", "\nsecond: write closed"} {
			if strings.HasSuffix(model, m) {
				model = strings.TrimSuffix(model, m) + "\nsecond: ok"
			}
		}
	}
	modelLength := strings.Contains(model, "\nframing length")
	hereChunked := strings.Contains(here, "\nframing chunked")
	// bothWays: trailer names the handler set with http.TrailerPrefix and
	// without it.
	bothWays, plain, prefixed := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, a := range s.acts {
		if a.kind == "set" || a.kind == "add" || a.kind == "trailer" {
			if n, ok := strings.CutPrefix(a.name, http.TrailerPrefix); ok {
				prefixed[http.CanonicalHeaderKey(n)] = true
			} else {
				plain[http.CanonicalHeaderKey(a.name)] = true
			}
		}
	}
	for n := range prefixed {
		bothWays[n] = plain[n]
	}
	modelLines := map[string]bool{} // the normalized model's, for here's
	lateTrailer := map[string]bool{}
	fixed2 := false
	for _, a := range s.acts {
		if a.kind == "write" || a.kind == "code" && a.n >= 200 {
			fixed2 = true
		}
		if fixed2 && (a.kind == "set" || a.kind == "add") && a.name == "Trailer" {
			for n := range strings.SplitSeq(a.value, ",") {
				lateTrailer[http.CanonicalHeaderKey(strings.TrimSpace(n))] = true
			}
		}
	}
	norm := func(sum string, isModel bool) string {
		var out []string
		in100, status := false, ""
		for l := range strings.SplitSeq(sum, "\n") {
			if p, q, ok := strings.Cut(l, `: "`); ok && (strings.HasPrefix(l, "H ") || strings.HasPrefix(l, "T ")) {
				// A value with NUL, CR or LF, or white space at either
				// end: this server makes the controls spaces and trims
				// the ends over every protocol (RFC 9110, 5.5); net/http
				// sends them or drops the field.
				v, err := strconv.Unquote(`"` + q)
				if err == nil {
					v = strings.Trim(strings.Map(func(r rune) rune {
						if r == 0 || r == '\r' || r == '\n' {
							return ' '
						}
						return r
					}, v), " \t")
					l = fmt.Sprintf("%s: %q", p, v)
				}
			}
			if !strings.HasPrefix(l, "H ") {
				in100 = false
			}
			if c, ok := strings.CutPrefix(l, "status "); ok {
				status = c
			}
			name := ""
			if strings.HasPrefix(l, "H ") || strings.HasPrefix(l, "T ") {
				name, _, _ = strings.Cut(l[2:], ":")
			}
			switch {
			case setsTE && (name == "Transfer-Encoding" || name == "Content-Length" || strings.HasPrefix(l, "framing ") || strings.HasPrefix(l, "end ")):
				// A Transfer-Encoding the handler set: net/http sends it
				// (identity: a body delimited by the connection's close;
				// gzip: "gzip, chunked"); this server frames the body
				// itself (chunked, or its length), with the handler's
				// codings before its chunked (TestHandlerTransferCodings).
				continue
			case h1 && modelTEClose && strings.HasPrefix(l, "T "):
				// The model's body was delimited by the close: no
				// trailers; this server's was chunked, with them.
				continue
			case is205 && (name == "Content-Length" || name == "Content-Type" || name == "Transfer-Encoding" || strings.HasPrefix(l, "body") || strings.HasPrefix(l, "framing ") || h1 && strings.HasPrefix(l, "T ")):
				// RFC 9110, 15.3.6: no content in a 205; net/http sends
				// what the handler writes (and trailers), this server
				// Content-Length: 0.
				continue
			case h1 && is304 && (name == "Content-Length" || name == "Content-Type"):
				// A 304's Content-Length or Content-Type the handler set:
				// this server sends them, as Kestrel and net/http's HTTP/2
				// server do (RFC 9110, 8.6 and 15.4.5 leave them to the
				// handler); net/http's HTTP/1 server drops them.
				continue
			case h1 && setsConn && name == "Connection":
				// The handler's Connection: this server acts on close
				// (and upgrade) and writes its own; net/http copies it.
				continue
			case l == "status 100" || in100 && strings.HasPrefix(l, "H "):
				// A 100 (and its fields): net/http and quic-go send one
				// for each WriteHeader(100), whatever the request; this
				// server sends 100 only as the answer to Expect:
				// 100-continue, once (on the first body read before the
				// head went out, or the handler's WriteHeader(100)).
				in100 = true
				continue
			case proto == "HTTP/3" && !setsType && name == "Content-Type":
				// quic-go sniffs no Content-Type after an explicit
				// WriteHeader nor for HEAD; net/http and this server do.
				continue
			case !h1 && s.method == "HEAD" && !isModel && strings.HasPrefix(l, "T ") && !strings.Contains(model, "\nT "):
				continue
			case !h1 && dirty[name]:
				continue
			case !h1 && isModel && strings.HasPrefix(l, "H ") && wConnectionSpecific[name]:
				// RFC 9113, 8.2.2 and RFC 9114, 4.2: not sent over
				// HTTP/2 or HTTP/3; quic-go sends them.
				continue
			case proto == "HTTP/3" && !isModel && strings.HasPrefix(l, "H ") && !strings.HasPrefix(status, "1") && strings.Contains(here, "\nT "+name+": ") && !strings.Contains(wFinalHead(model), "\nH "+name+": "):
				// A field set before the head and declared in Trailer:
				// quic-go leaves it out of the head and sends it as a
				// trailer; net/http's servers and this one send both.
				continue
			case proto == "HTTP/3" && lateTrailer[name]:
				// Named by a Trailer header set after the head was fixed:
				// quic-go, writing its head late, sends the field as a
				// trailer; this server already sent it in the head.
				continue
			case proto == "HTTP/3" && late[name]:
				continue
			case h1 && !isModel && modelLength && hereChunked && strings.HasPrefix(l, "T "):
				// Trailers set after a body that was all buffered: net/http
				// sends the length and drops them; this server goes
				// chunked and sends them.
				continue
			case !setsFraming && (strings.HasPrefix(l, "H Content-Length: ") || l == `H Transfer-Encoding: "chunked"`):
				// Whether a response of unset length goes with a length
				// or chunked is each server's choice.
				continue
			case !setsFraming && (l == "framing length" || l == "framing chunked"):
				l = "framing delimited"
			case isModel && name == "Content-Length" && (strings.HasPrefix(status, "1") || status == "204"):
				// RFC 9110, 8.6: no Content-Length in a 1xx or 204;
				// net/http's HTTP/2 server and quic-go send the
				// handler's.
				continue
			case !h1 && !isModel && strings.HasPrefix(l, "T ") && bothWays[name] && !modelLines[l] && strings.Contains(model, "\nT "+name+": "):
				// A declared trailer also set with http.TrailerPrefix:
				// net/http's HTTP/2 server and quic-go send the prefixed
				// value only; this server sends both, over every
				// protocol, as net/http's HTTP/1.1 server does.
				continue
			case strings.HasPrefix(l, "T Content-Length: "):
				// RFC 9110, 6.5.1: no framing field in trailers; net/http
				// sends it.
				continue
			case trailerCase == 3 && strings.HasPrefix(l, "T X-T: "):
				// Trailer:x-t and Trailer:X-T: net/http sends either.
				continue
			}
			out = append(out, l)
		}
		// Values changed above may sort otherwise: each run of field
		// lines is sorted again.
		for i := 0; i < len(out); {
			j := i + 1
			for j < len(out) && len(out[i]) > 2 && (out[i][:2] == "H " || out[i][:2] == "T ") && strings.HasPrefix(out[j], out[i][:2]) {
				j++
			}
			sort.Strings(out[i:j])
			i = j
		}
		return strings.Join(out, "\n")
	}
	nm := norm(model, true)
	for l := range strings.SplitSeq(nm, "\n") {
		modelLines[l] = true
	}
	nh := norm(here, false)
	if nh != nm && wLengthMismatch(s, nh, nm) {
		return nh, nh
	}
	return nh, nm
}

// wLengthMismatch reports whether two normalized summaries differ only as
// they may when s's handler wrote other than the Content-Length it set:
// net/http's HTTP/2 server and quic-go send more than a Content-Length: 0
// (they take 0 for no length), and end a stream cleanly short of its
// length, trailers after; net/http refuses every write after the first
// that ran past the length, and sniffs a HEAD response's Content-Type
// from the refused bytes. This server refuses each write that would run
// past the length (http.ErrContentLength), counting only the bytes sent,
// as Kestrel does, and resets a stream left short or closes the
// connection (over HTTP/3 the reset may overtake the head). The heads
// must match but for Content-Type, and this server's body be no longer
// than the length, a short one ending in an error.
func wLengthMismatch(s wScript, here, model string) bool {
	declared, total := wDeclaredLength(s), 0
	for _, a := range s.acts {
		if a.kind == "write" {
			total += a.n
		}
	}
	if declared < 0 || total == declared {
		return false
	}
	bodyLen := func(sum string) int {
		for l := range strings.SplitSeq(sum, "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "body" {
				n, _ := strconv.Atoi(f[1])
				return n
			}
		}
		return -1
	}
	hb := bodyLen(here)
	failed := strings.Contains(here, "\nRST_STREAM INTERNAL_ERROR") || strings.Contains(here, "\nreset 0x102") || strings.Contains(here, "\nbody: closed")
	if !strings.Contains(here, "status ") {
		// Reset before its head reached the client.
		return failed && hb <= 0
	}
	head := func(sum string) string {
		var out []string
		for l := range strings.SplitSeq(sum, "\n") {
			if strings.HasPrefix(l, "status ") || strings.HasPrefix(l, "H ") && !strings.HasPrefix(l, "H Content-Type: ") {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	short := hb < declared && s.method != "HEAD" && !strings.Contains(here, "status 204\n") && !strings.Contains(here, "status 304\n")
	return hb <= declared && (!short || failed) && head(here) == head(model)
}

// wDeclaredLength is the valid Content-Length s's handler held when the
// head was fixed (its first write or final WriteHeader), -1 for none.
func wDeclaredLength(s wScript) int {
	var vs []string
	for _, a := range s.acts {
		if a.kind == "write" || a.kind == "code" && a.n >= 200 {
			break
		}
		if a.name != "Content-Length" {
			continue
		}
		switch a.kind {
		case "set":
			vs = []string{a.value}
		case "add":
			vs = append(vs, a.value)
		case "del":
			vs = nil
		}
	}
	if len(vs) == 0 || !wValidLength(vs[0]) {
		return -1
	}
	n, _ := strconv.Atoi(vs[0])
	return n
}

// wFinalHead is the final response's head in a summary: from its status
// line to the line before the body.
func wFinalHead(sum string) string {
	var out []string
	for l := range strings.SplitSeq(sum, "\n") {
		switch {
		case strings.HasPrefix(l, "status "):
			out = []string{l}
		case strings.HasPrefix(l, "H "):
			out = append(out, l)
		}
		if strings.HasPrefix(l, "body") {
			break
		}
	}
	return strings.Join(out, "\n")
}

// isModelClosing reports whether the summary's final response (the part
// before the second request) carries Connection: close.
func isModelClosing(sum string) bool {
	return strings.Contains(sum, "\nH Connection: \"close\"")
}

// wValidLength reports whether v is a Content-Length both servers take: an
// invalid one (abc, -1, "1, 1") is dropped, and the framing is each
// server's choice as if none had been set.
func wValidLength(v string) bool {
	n, err := strconv.ParseInt(v, 10, 64)
	return err == nil && n >= 0
}

var wConnectionSpecific = map[string]bool{"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Te": true, "Upgrade": true, "Transfer-Encoding": true}

// TestRandomResponsesAgainstNetHTTP plays generated handler scripts
// (seeded, the same every run: headers set, added and deleted, 1xx and
// final status codes, writes of many sizes, flushes, trailers, the request
// body read or not) on this server and on the model (net/http's server for
// HTTP/1.1 and h2c, quic-go's http3.Server for HTTP/3), reads each
// response with a raw client (framing, 1xx responses, fields, body,
// trailers, and a second request on the connection), and compares them.
// WFUZZ_N sets the number of scripts per protocol, WFUZZ_SEED the seed,
// WFUZZ_V=1 logs both summaries of each difference.
func TestRandomResponsesAgainstNetHTTP(t *testing.T) {
	t.Parallel()
	n, seed := 40, uint64(1)
	if v, err := strconv.Atoi(os.Getenv("WFUZZ_N")); err == nil {
		n = v
	}
	if v, err := strconv.ParseUint(os.Getenv("WFUZZ_SEED"), 10, 64); err == nil {
		seed = v
	}
	scripts := &wScripts{}
	s := &Server{Handler: scripts, Logger: quietLogger, DisableServerHeader: true}
	if err := s.ListenEndpoint(Endpoint{Address: "127.0.0.1:0", Protocols: HTTP1AndHTTP2}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	addr := strings.TrimPrefix(s.Addresses()[0], "http://")
	_, addr3 := h3Server(t, &Server{Handler: scripts, Logger: quietLogger, DisableServerHeader: true}, HTTP1AndHTTP2AndHTTP3)

	maddr := startNetHTTPModel(t, scripts)
	maddr3 := startQUICGoModel(t, scripts)

	protos := []struct {
		name        string
		here, model string
		send        func(addr, path string, s wScript) string
	}{
		{"HTTP/1.1", addr, maddr, wSendH1},
		{"h2c", addr, maddr, wSendH2},
		{"HTTP/3", addr3, maddr3, wSendH3},
	}
	var wg sync.WaitGroup
	for _, p := range protos {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(len(p.name))))
			fails := 0
			for i := range n {
				sc := genScript(r)
				path := fmt.Sprintf("/w/%s/%d", strings.ReplaceAll(p.name, "/", ""), i)
				scripts.m.Store(path, sc)
				here, model := p.send(p.here, path, sc), p.send(p.model, path, sc)
				here, model = wNormalize(p.name, sc, here, model)
				if here != model && fails < 30 {
					fails++
					t.Errorf("%s #%d %s:\n%s", p.name, i, sc, wDiff(here, model))
					if os.Getenv("WFUZZ_V") != "" {
						t.Logf("here:\n%s\nmodel:\n%s", here, model)
					}
				}
			}
		})
	}
	wg.Wait()
}

// wDiff is a line diff of here and model: "-" lines only here, "+" lines
// only in the model, "  " lines in both.
func wDiff(here, model string) string {
	a, b := strings.Split(here, "\n"), strings.Split(model, "\n")
	l := make([][]int, len(a)+1)
	for i := range l {
		l[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				l[i][j] = l[i+1][j+1] + 1
			} else {
				l[i][j] = max(l[i+1][j], l[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			out = append(out, "    "+a[i])
			i++
			j++
		case j < len(b) && (i == len(a) || l[i][j+1] >= l[i+1][j]):
			out = append(out, "  model+ "+b[j])
			j++
		default:
			out = append(out, "  here-  "+a[i])
			i++
		}
	}
	return strings.Join(out, "\n")
}
