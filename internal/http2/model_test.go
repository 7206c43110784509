package http2

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/kestrel-go/kestrel/internal/app"
)

// The model driver: a seeded client that interleaves legal and nearly
// legal frames on many streams against handlers that behave in different
// ways, and checks invariants of RFC 9113 rather than comparing with
// another server: the server's DATA stays within the windows the client
// gave it (SETTINGS changes included) and its frames within
// SETTINGS_MAX_FRAME_SIZE; every stream it accepted gets one end, and no
// frame follows it; no stream is refused below the limit, and no more
// handlers than the limit run at once; a stream error or a connection
// error (breakConnection, in a third of the connections) comes only when
// the client broke a rule, and carries the right code; an echoed body
// comes back whole up to the body size limit, which a larger one never
// passes; once every stream ended, the connection's window is given back
// and a PING is answered; every handler returns, and the connection's
// goroutines end.
//
// TestModelRandomFrames runs 40 seeds of 150 frames on 3 connections;
// H2MODEL_SEEDS, H2MODEL_STEPS and H2MODEL_FIRST (the seeds after it) run
// more, or one; H2MODEL_STATS=1 logs what the runs did (streams opened,
// frames sent and received, how the connections ended, the limits
// reached), and H2MODEL_DEBUG=1 the server's debug log.

// modelHandlers counts the handlers the model's server runs.
type modelHandlers struct {
	mu         sync.Mutex
	running    map[string]bool // "conn/stream" → still running
	returned   map[string]time.Time
	perConn    map[string]int // conn → handlers running now
	unreleased []string       // the /block handlers whose stream's end did not release them
	maxConn    map[string]int // conn → the most that ran at once
	started    atomic.Int64
	done       atomic.Int64
}

func (h *modelHandlers) key(ex *app.Exchange) string {
	return string(ex.Header("x-conn")) + "/" + strconv.FormatUint(uint64(ex.Seq), 10)
}

// serve runs the handler the request's path names.
func (h *modelHandlers) serve(ex *app.Exchange) {
	h.started.Add(1)
	k := h.key(ex)
	c := string(ex.Header("x-conn"))
	h.mu.Lock()
	h.running[k] = true
	h.perConn[c]++
	h.maxConn[c] = max(h.maxConn[c], h.perConn[c])
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.perConn[c]--
		delete(h.running, k)
		h.returned[k] = time.Now()
		h.mu.Unlock()
		h.done.Add(1)
	}()
	path := string(ex.Path())
	arg := 0
	if j := strings.LastIndexByte(path, '/'); j > 0 {
		arg, _ = strconv.Atoi(path[j+1:])
		path = path[:j]
	}
	ex.SetHeader("x-model", string(ex.Path()))
	switch path {
	case "/echo":
		io.Copy(ex, ex.Body())
	case "/part":
		io.CopyN(io.Discard, ex.Body(), int64(arg))
		ex.WriteString("part")
	case "/noread":
		ex.WriteString("noread")
	case "/large":
		chunk := bytes.Repeat([]byte{'L'}, 1000+arg%3000)
		for n := 0; n < arg; n += len(chunk) {
			if _, err := ex.Write(chunk[:min(len(chunk), arg-n)]); err != nil {
				return
			}
			if ex.Flush() != nil {
				return
			}
		}
	case "/panic":
		ex.WriteString("before the panic")
		ex.Flush()
		panic("model: handler panics")
	case "/block":
		select {
		case <-ex.Context().Done():
		case <-time.After(3 * time.Second):
			// Every stream ends, by the response or a reset, well within
			// this: the driver reports a handler never released.
			ex.SetStatus(599)
			h.mu.Lock()
			h.unreleased = append(h.unreleased, k)
			h.mu.Unlock()
		}
	case "/quick":
	case "/trailers":
		io.Copy(io.Discard, ex.Body())
		ex.AddTrailer("x-t", "v")
		ex.WriteString("trailers")
	default:
		ex.SetStatus(404)
	}
}

// modelConfig is the server side of a model run.
type modelConfig struct {
	maxStreams   uint32
	streamWindow uint32
	connWindow   uint32
	maxBody      int64
}

// mstream is the client's view of one stream.
type mstream struct {
	id          uint32
	path        string
	clientEnd   bool // the client sent END_STREAM
	clientRST   bool // the client reset it
	serverEnd   bool // END_STREAM from the server
	serverRST   bool // RST_STREAM from the server
	rstCode     http2.ErrCode
	cl          int64 // the content-length sent, -1 none
	sent        int64 // body bytes sent
	sendWin     int64 // what the client may send (the server's window)
	recvData    int64 // DATA bytes the server sent (flow-controlled length)
	recvUpd     int64 // WINDOW_UPDATE increments the client gave the server
	gotHeaders  bool
	status      int
	expectRST   map[http2.ErrCode]bool // the stream errors the client provoked
	refused     bool
	plan        int64 // the body the client means to send, -1 any
	countAtOpen int   // the streams the server counted, at most, when it opened
}

// model is one connection's driver.
type model struct {
	rng    *rand.Rand
	conn   int
	fr     *http2.Framer
	enc    *hpack.Encoder
	encBuf bytes.Buffer
	dec    *hpack.Decoder
	hs     *modelHandlers
	cfg    modelConfig

	qmu        sync.Mutex // the write queue
	qcond      sync.Cond
	queue      []func() error
	qstop      bool
	writerDone chan struct{}

	mu            sync.Mutex
	streams       map[uint32]*mstream
	order         []*mstream // by id
	nextID        uint32
	connSend      int64 // the client's connection send window
	srvStreamWin  int64 // the server's SETTINGS_INITIAL_WINDOW_SIZE
	srvMaxConc    uint32
	cliInit       int64   // SETTINGS_INITIAL_WINDOW_SIZE in force
	pendingInit   []int64 // sent, not yet acknowledged
	cliMaxFrame   int64
	pendingFrame  []int64
	connRecvData  int64
	connRecvUpd   int64
	pings         map[[8]byte]bool
	goAway        *http2.GoAwayFrame
	expectGoAway  http2.ErrCode // a connection error the client provoked
	provoked      bool
	readErr       error
	violations    []string
	readerDone    chan struct{}
	clientGoAway  bool
	resets        int
	fatalAt       int // the step that breaks a connection rule, -1 none
	stepN         int
	hstream       uint32 // the header block being read
	hend          bool
	hblock        []byte
	tableSize     int64   // the server's encoder's table, as its updates said
	tableAllowed  int64   // SETTINGS_HEADER_TABLE_SIZE acknowledged (lenient)
	pendingTable  []int64 // sent, not yet acknowledged; -1 unchanged
	mustUpdate    int64   // the next block must begin with an update this small; -1 none
	stats         map[string]int
	writeErr      error
	settingsAcked int
}

func (m *model) violate(format string, args ...any) {
	m.violations = append(m.violations, fmt.Sprintf("conn %d: ", m.conn)+fmt.Sprintf(format, args...))
}

// lenient is the largest value a setting may have for the server: a new
// one binds it once acknowledged, before that either may.
func lenient(cur int64, pending []int64) int64 {
	v := cur
	for _, p := range pending {
		v = max(v, p)
	}
	return v
}

// write queues a frame for the writer goroutine: neither the driver nor
// the reader waits for the server to read, so the client always reads
// what the server sends (a client that stops reading while it waits to
// write can make the server's GOAWAY time out).
func (m *model) write(f func() error) error {
	m.qmu.Lock()
	m.queue = append(m.queue, f)
	m.qcond.Signal()
	m.qmu.Unlock()
	return nil
}

// writer writes the queued frames in order until stop.
func (m *model) writer() {
	defer close(m.writerDone)
	for {
		m.qmu.Lock()
		for len(m.queue) == 0 && !m.qstop {
			m.qcond.Wait()
		}
		q, stop := m.queue, m.qstop
		m.queue = nil
		m.qmu.Unlock()
		for _, f := range q {
			if err := f(); err != nil {
				m.mu.Lock()
				if m.writeErr == nil {
					m.writeErr = err
				}
				m.mu.Unlock()
				break
			}
		}
		if stop {
			return
		}
	}
}

func (m *model) block(path string, extra ...string) []byte {
	m.encBuf.Reset()
	m.enc.WriteField(hpack.HeaderField{Name: ":method", Value: "POST"})
	m.enc.WriteField(hpack.HeaderField{Name: ":scheme", Value: "http"})
	m.enc.WriteField(hpack.HeaderField{Name: ":path", Value: path})
	m.enc.WriteField(hpack.HeaderField{Name: ":authority", Value: "model"})
	m.enc.WriteField(hpack.HeaderField{Name: "x-conn", Value: strconv.Itoa(m.conn)})
	for i := 0; i+1 < len(extra); i += 2 {
		m.enc.WriteField(hpack.HeaderField{Name: extra[i], Value: extra[i+1]})
	}
	return append([]byte(nil), m.encBuf.Bytes()...)
}

// reader reads the server's frames and checks them.
func (m *model) reader() {
	defer close(m.readerDone)
	for {
		f, err := m.fr.ReadFrame()
		if err != nil {
			m.mu.Lock()
			m.readErr = err
			m.mu.Unlock()
			return
		}
		m.mu.Lock()
		m.onFrame(f)
		m.mu.Unlock()
	}
}

func (m *model) onFrame(f http2.Frame) {
	m.stats[f.Header().Type.String()]++
	if rst, ok := f.(*http2.RSTStreamFrame); ok {
		m.stats["RST "+rst.ErrCode.String()]++
	}
	if g, ok := f.(*http2.GoAwayFrame); ok {
		m.stats["GOAWAY "+g.ErrCode.String()]++
	}
	id := f.Header().StreamID
	st := m.streams[id]
	if id != 0 && st == nil && f.Header().Type != http2.FrameWindowUpdate {
		m.violate("%v on stream %d the client never opened", f.Header().Type, id)
		return
	}
	if st != nil && f.Header().Type == http2.FrameRSTStream && st.serverRST {
		// checked below
	} else if st != nil && (st.serverRST || st.serverEnd && f.Header().Type != http2.FrameRSTStream) && f.Header().Type != http2.FrameWindowUpdate {
		m.violate("%v on stream %d after the server ended it (end %v, rst %v)", f.Header().Type, id, st.serverEnd, st.serverRST)
	}
	if int64(f.Header().Length) > lenient(m.cliMaxFrame, m.pendingFrame) {
		m.violate("%v frame of %d bytes over SETTINGS_MAX_FRAME_SIZE %d", f.Header().Type, f.Header().Length, m.cliMaxFrame)
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if f.IsAck() {
			m.settingsAcked++
			if len(m.pendingInit) > 0 {
				m.cliInit = m.pendingInit[0]
				m.pendingInit = m.pendingInit[1:]
			}
			if len(m.pendingFrame) > 0 {
				m.cliMaxFrame = m.pendingFrame[0]
				m.pendingFrame = m.pendingFrame[1:]
			}
			if len(m.pendingTable) > 0 {
				if v := m.pendingTable[0]; v >= 0 {
					if v < m.tableSize && (m.mustUpdate < 0 || v < m.mustUpdate) {
						m.mustUpdate = v
					}
					m.tableAllowed = v
				}
				m.pendingTable = m.pendingTable[1:]
			}
			return
		}
		f.ForeachSetting(func(s http2.Setting) error {
			switch s.ID {
			case http2.SettingInitialWindowSize:
				delta := int64(s.Val) - m.srvStreamWin
				m.srvStreamWin = int64(s.Val)
				for _, st := range m.streams {
					st.sendWin += delta
				}
			case http2.SettingMaxConcurrentStreams:
				m.srvMaxConc = s.Val
			}
			return nil
		})
		m.write(func() error { return m.fr.WriteSettingsAck() })
	case *http2.WindowUpdateFrame:
		if id == 0 {
			m.connSend += int64(f.Increment)
		} else if st != nil {
			st.sendWin += int64(f.Increment)
		}
	case *http2.PingFrame:
		if f.IsAck() {
			if !m.pings[f.Data] {
				m.violate("PING ACK %q never sent", f.Data[:])
			}
			delete(m.pings, f.Data)
		} else {
			m.write(func() error { return m.fr.WritePing(true, f.Data) })
		}
	case *http2.GoAwayFrame:
		m.goAway = f
		var named *mstream // the stream the debug data names
		if _, s, ok := strings.Cut(string(f.DebugData()), "stream "); ok {
			s, _, _ = strings.Cut(s, "'")
			if n, err := strconv.Atoi(s); err == nil {
				named = m.streams[uint32(n)]
			}
		}
		if f.ErrCode == http2.ErrCodeStreamClosed && m.forgotten(named) {
			m.stats["c:frame on a forgotten stream"]++
		} else if f.ErrCode != http2.ErrCodeNo && (!m.provoked || f.ErrCode != m.expectGoAway) {
			m.violate("GOAWAY %v (%q), provoked %v %v; %d resets, max %d", f.ErrCode, f.DebugData(), m.provoked, m.expectGoAway, m.resets, m.cfg.maxStreams)
			if named != nil {
				m.violate("stream %d: %+v; initial %d pending %v", named.id, *named, m.cliInit, m.pendingInit)
			}
		}
	case *http2.RSTStreamFrame:
		if st.serverRST && f.ErrCode == http2.ErrCodeStreamClosed && m.forgotten(st) {
			m.stats["c:frame on a forgotten stream"]++
			return
		}
		if st.serverRST {
			m.violate("second RST_STREAM on stream %d: %v after %v (%s, client end %v rst %v, expect %v)", id, f.ErrCode, st.rstCode, st.path, st.clientEnd, st.clientRST, st.expectRST)
		}
		st.serverRST, st.rstCode = true, f.ErrCode
		switch {
		case f.ErrCode == http2.ErrCodeRefusedStream:
			st.refused = true
			if st.countAtOpen < int(m.srvMaxConc) {
				m.violate("stream %d refused with %d streams open, below the limit %d", id, st.countAtOpen, m.srvMaxConc)
			}
		case st.expectRST[f.ErrCode]:
		case f.ErrCode == http2.ErrCodeNo && st.serverEnd:
			// stops an upload the response did not need (RFC 9113, 8.1)
		case f.ErrCode == http2.ErrCodeInternal && strings.HasPrefix(st.path, "/panic"):
		case f.ErrCode == http2.ErrCodeCancel && st.clientRST:
		case st.clientRST:
			// crossed the client's reset
		case f.ErrCode == http2.ErrCodeProtocol && st.cl >= 0 && st.clientEnd && st.sent != st.cl:
		case f.ErrCode == http2.ErrCodeNo && st.cl > m.cfg.maxBody:
		default:
			if !(st.sent > m.cfg.maxBody) {
				m.violate("stream %d (%s) reset %v unexpectedly (sent %d, cl %d, end %v)", id, st.path, f.ErrCode, st.sent, st.cl, st.clientEnd)
			}
		}
	case *http2.HeadersFrame:
		if m.hstream != 0 {
			m.violate("HEADERS on stream %d inside stream %d's header block", id, m.hstream)
		}
		m.hstream, m.hend = id, f.StreamEnded()
		m.hblock = append(m.hblock[:0], f.HeaderBlockFragment()...)
		if f.HeadersEnded() {
			m.onHeaderBlock(st)
		}
	case *http2.ContinuationFrame:
		if m.hstream != id {
			m.violate("CONTINUATION on stream %d, want %d", id, m.hstream)
		}
		m.hblock = append(m.hblock, f.HeaderBlockFragment()...)
		if f.HeadersEnded() {
			m.onHeaderBlock(st)
		}
	case *http2.DataFrame:
		n := int64(f.Length)
		st.recvData += n
		m.connRecvData += n
		if lenient(m.cliInit, m.pendingInit)+st.recvUpd-st.recvData < 0 {
			m.stats["negative window"]++
		}
		if lim := lenient(m.cliInit, m.pendingInit) + st.recvUpd; n > 0 && st.recvData > lim {
			m.violate("stream %d: %d DATA bytes beyond its window %d (initial %d, pending %v)", id, st.recvData, lim, m.cliInit, m.pendingInit)
		} else if n > 0 && st.recvData == lim {
			m.stats["s:stream window filled"]++
		}
		if lim := 65535 + m.connRecvUpd; n > 0 && m.connRecvData > lim {
			m.violate("connection: %d DATA bytes beyond its window %d", m.connRecvData, lim)
		} else if n > 0 && m.connRecvData == lim {
			m.stats["s:connection window filled"]++
		}
		if !st.gotHeaders {
			m.violate("stream %d: DATA before the response's HEADERS", id)
		}
		if f.StreamEnded() {
			st.serverEnd = true
		}
	}
}

// onHeaderBlock checks and decodes a complete header block; mu is held.
func (m *model) onHeaderBlock(st *mstream) {
	b, end := m.hblock, m.hend
	m.hstream = 0
	// Dynamic table size updates lead the block (RFC 7541, 4.2): after
	// the client lowered SETTINGS_HEADER_TABLE_SIZE below the table's
	// size, the first block must begin with one that fits.
	first := true
	for len(b) > 0 && b[0]&0xe0 == 0x20 {
		v, n := hpackInt(b, 5)
		if n == 0 {
			m.violate("stream %d: truncated table size update", st.id)
			return
		}
		if first && m.mustUpdate >= 0 && v > m.mustUpdate {
			m.violate("stream %d: table size update %d, the client allows %d", st.id, v, m.mustUpdate)
		}
		if v > m.tableAllowed {
			m.violate("stream %d: table size update %d over SETTINGS_HEADER_TABLE_SIZE %d", st.id, v, m.tableAllowed)
		}
		first = false
		m.tableSize = v
		m.stats["table update"]++
		m.mustUpdate = -1
		b = b[n:]
	}
	if m.mustUpdate >= 0 {
		m.violate("stream %d: no table size update after SETTINGS_HEADER_TABLE_SIZE %d (table %d)", st.id, m.mustUpdate, m.tableSize)
		m.mustUpdate = -1
	}
	fields, err := m.dec.DecodeFull(m.hblock)
	if err != nil {
		m.violate("stream %d: HPACK: %v", st.id, err)
		return
	}
	status, model := "", ""
	for _, f := range fields {
		switch f.Name {
		case ":status":
			status = f.Value
		case "x-model":
			model = f.Value
		}
	}
	if !st.gotHeaders {
		st.status, _ = strconv.Atoi(status)
		if st.status >= 200 {
			st.gotHeaders = true
		}
		if st.status == 599 {
			m.violate("stream %d's blocked handler was never released", st.id)
		}
		if st.status == 200 && model != st.path {
			m.violate("stream %d: x-model %q, want %q", st.id, model, st.path)
		}
	} else if status != "" {
		m.violate("stream %d: a second response head %q", st.id, status)
	}
	if end {
		st.serverEnd = true
	}
}

// hpackInt decodes an HPACK integer with an n-bit prefix (RFC 7541, 5.1),
// and how many bytes it took (0: truncated).
func hpackInt(b []byte, n uint) (int64, int) {
	v := int64(b[0]) & (1<<n - 1)
	if v < 1<<n-1 {
		return v, 1
	}
	var shift uint
	for i := 1; i < len(b) && i < 8; i++ {
		v += int64(b[i]&0x7f) << shift
		shift += 7
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}

// serverCount is the most streams the server may count as open
// (RFC 9113, 5.1.2) now, leniently: a stream it sent END_STREAM on does
// not count; one reset (by either side) counts until its handler has
// returned, as the server counts the handlers of reset streams (the rapid
// reset defence), and a little after, as the handler returns before the
// server takes it out of its count; mu is held.
func (m *model) serverCount() int {
	n := 0
	m.hs.mu.Lock()
	defer m.hs.mu.Unlock()
	for _, st := range m.order {
		switch {
		case st.refused || st.serverEnd:
		case st.clientRST || st.serverRST:
			ret, ok := m.hs.returned[strconv.Itoa(m.conn)+"/"+strconv.FormatUint(uint64(st.id), 10)]
			if !ok || time.Since(ret) < 50*time.Millisecond {
				n++
			}
		default:
			n++
		}
	}
	return n
}

// open counts the streams open in the server's count (RFC 9113, 5.1.2),
// leniently: a stream the client reset counts until its handler returns.
func (m *model) openCount() (strict int) {
	for _, st := range m.streams {
		if st.refused || st.serverRST || st.serverEnd && st.clientEnd {
			continue
		}
		if st.clientRST {
			continue
		}
		strict++
	}
	return strict
}

// step sends one random frame (or a few). It reports false when the run
// ends (a connection error was provoked, or the client went away).
func (m *model) step() bool {
	r := m.rng
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.goAway != nil || m.readErr != nil {
		return false
	}
	m.stepN++
	if m.stepN == m.fatalAt {
		m.breakConnection()
		return true
	}
	var open []*mstream // streams the client may still send on
	for _, st := range m.order {
		if !st.clientEnd && !st.clientRST && !st.refused && !st.serverRST {
			open = append(open, st)
		}
	}
	pick := func() *mstream { return open[r.IntN(len(open))] }
	var err error
	switch k := r.IntN(100); {
	case k < 22: // a new stream
		if m.openCount() >= int(m.srvMaxConc) && r.IntN(4) != 0 {
			m.stats["c:wasted at limit"]++
			return true
		}
		if m.openCount() >= int(m.srvMaxConc) {
			m.stats["c:open over limit"]++
		} else if m.openCount() == int(m.srvMaxConc)-1 {
			m.stats["c:open up to limit"]++
		}
		m.stats["c:open"]++
		err = m.openStream()
	case k < 50 && len(open) > 0: // DATA
		st := pick()
		win := min(m.connSend, st.sendWin, 16384)
		n := int64(0)
		switch x := r.IntN(20); {
		case x == 0 && st.sendWin < m.connSend && st.sendWin < 16384 && st.sendWin >= 0:
			n = st.sendWin + 1 // just past the stream's window
			st.expect(http2.ErrCodeFlowControl)
		case win <= 0:
			if st.sendWin <= 0 {
				m.stats["c:stream window exhausted"]++
			} else {
				m.stats["c:conn window exhausted"]++
			}
			return true
		default:
			n = r.Int64N(win) + 1
			if r.IntN(3) == 0 {
				n = win
			}
		}
		end := r.IntN(4) == 0 && (st.cl < 0 || r.IntN(8) == 0) && st.plan < 0
		if st.plan >= 0 && len(st.expectRST) == 0 {
			if rest := st.plan - st.sent; n >= rest {
				n, end = rest, true
			}
		}
		if st.cl >= 0 && len(st.expectRST) == 0 {
			if rest := st.cl - st.sent; rest >= 0 && n > rest && r.IntN(8) != 0 {
				n, end = rest, true
			}
		}
		if st.cl >= 0 && st.sent+n > st.cl {
			st.expect(http2.ErrCodeProtocol)
		}
		m.stats["c:DATA"]++
		if st.sent <= m.cfg.maxBody && st.sent+n > m.cfg.maxBody {
			m.stats["c:past body limit"]++
		}
		if end && st.sent+n == m.cfg.maxBody {
			m.stats["c:body at limit"]++
		}
		st.sent += n
		st.sendWin -= n
		m.connSend -= n
		st.clientEnd = end
		if end && st.cl >= 0 && st.sent != st.cl {
			st.expect(http2.ErrCodeProtocol)
		}
		err = m.write(func() error { return m.fr.WriteData(st.id, end, make([]byte, n)) })
	case k < 62: // WINDOW_UPDATE
		var id uint32
		var st *mstream
		if len(m.order) > 0 && r.IntN(2) == 0 {
			st = m.order[r.IntN(len(m.order))]
			id = st.id
		}
		inc := uint32(r.IntN(40000) + 1)
		if id != 0 && r.IntN(40) == 0 {
			inc = 1<<31 - 1 // overflows: a stream error
		}
		if id == 0 {
			m.connRecvUpd += int64(inc)
			if 65535+m.connRecvUpd-m.connRecvData > 1<<31-1 {
				m.provoked, m.expectGoAway = true, http2.ErrCodeFlowControl
			}
		} else {
			st.recvUpd += int64(inc)
			if lenient(m.cliInit, m.pendingInit)+st.recvUpd-st.recvData > 1<<31-1 && !st.serverRST {
				st.expect(http2.ErrCodeFlowControl)
			}
		}
		err = m.write(func() error { return m.fr.WriteWindowUpdate(id, inc) })
	case k < 70 && len(m.order) > 0: // RST_STREAM
		st := m.order[r.IntN(len(m.order))]
		// The server closes a connection whose client resets more than
		// twice its stream limit (rapid reset); finish may reset up to
		// the limit more.
		if st.clientRST || m.resets >= int(m.cfg.maxStreams)-1 {
			m.stats["c:wasted reset"]++
			return true
		}
		m.resets++
		st.clientRST = true
		err = m.write(func() error { return m.fr.WriteRSTStream(st.id, http2.ErrCodeCancel) })
	case k < 76: // SETTINGS
		var ss []http2.Setting
		if r.IntN(2) == 0 {
			v := uint32(r.IntN(70000))
			if r.IntN(4) == 0 {
				v = uint32(r.IntN(100))
			}
			// A window that would overflow 2^31-1 is the client's error.
			if int64(v) > m.windowRoom() {
				m.stats["c:wasted settings"]++
				return true
			}
			ss = append(ss, http2.Setting{ID: http2.SettingInitialWindowSize, Val: v})
			m.pendingInit = append(m.pendingInit, int64(v))
		} else {
			last := m.cliInit
			if len(m.pendingInit) > 0 {
				last = m.pendingInit[len(m.pendingInit)-1]
			}
			m.pendingInit = append(m.pendingInit, last)
		}
		if r.IntN(2) == 0 {
			v := uint32(16384 + r.IntN(8000))
			ss = append(ss, http2.Setting{ID: http2.SettingMaxFrameSize, Val: v})
			m.pendingFrame = append(m.pendingFrame, int64(v))
		} else {
			last := m.cliMaxFrame
			if len(m.pendingFrame) > 0 {
				last = m.pendingFrame[len(m.pendingFrame)-1]
			}
			m.pendingFrame = append(m.pendingFrame, last)
		}
		if r.IntN(3) == 0 {
			v := uint32(r.IntN(4097))
			if r.IntN(3) == 0 {
				v = uint32(r.IntN(64))
			}
			ss = append(ss, http2.Setting{ID: http2.SettingHeaderTableSize, Val: v})
			m.pendingTable = append(m.pendingTable, int64(v))
		} else {
			m.pendingTable = append(m.pendingTable, -1)
		}
		err = m.write(func() error { return m.fr.WriteSettings(ss...) })
	case k < 82: // PING
		var d [8]byte
		binary.BigEndian.PutUint64(d[:], r.Uint64())
		m.pings[d] = true
		err = m.write(func() error { return m.fr.WritePing(false, d) })
	case k < 86: // PRIORITY, on any stream, idle ones included
		id := uint32(r.IntN(int(m.nextID)+8))*2 + 1
		dep := uint32(r.IntN(int(m.nextID) + 1))
		weight := uint8(r.IntN(256))
		if dep == id {
			dep = 0
		}
		err = m.write(func() error {
			return m.fr.WritePriority(id, http2.PriorityParam{StreamDep: dep, Weight: weight})
		})
	case k < 90 && len(open) > 0: // trailers
		st := pick()
		if st.cl >= 0 && st.sent != st.cl {
			st.expect(http2.ErrCodeProtocol)
		}
		st.clientEnd = true
		b := m.block0("x-trailer", "t")
		err = m.write(func() error {
			return m.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: st.id, BlockFragment: b, EndStream: true, EndHeaders: true})
		})
	case k == 90 && r.IntN(10) == 0: // the client goes away
		m.clientGoAway = true
		err = m.write(func() error { return m.fr.WriteGoAway(0, http2.ErrCodeNo, nil) })
		if err == nil {
			return false
		}
	}
	if err != nil {
		m.writeErr = err
		return false
	}
	return true
}

// expect records a stream error the client provoked.
func (st *mstream) expect(code http2.ErrCode) {
	if st.expectRST == nil {
		st.expectRST = map[http2.ErrCode]bool{}
	}
	st.expectRST[code] = true
}

// block0 encodes a trailer block.
func (m *model) block0(kv ...string) []byte {
	m.encBuf.Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		m.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return append([]byte(nil), m.encBuf.Bytes()...)
}

var modelPaths = []string{"/echo", "/echo", "/part", "/noread", "/large", "/large", "/large", "/panic", "/block", "/quick", "/trailers"}

// openStream sends a request's HEADERS, maybe in several frames; mu held.
func (m *model) openStream() error {
	r := m.rng
	id := m.nextID
	m.nextID += 2
	path := modelPaths[r.IntN(len(modelPaths))]
	switch path {
	case "/part":
		path += "/" + strconv.Itoa(r.IntN(30000))
	case "/large":
		path += "/" + strconv.Itoa(r.IntN(200000))
	}
	st := &mstream{id: id, path: path, cl: -1, plan: -1, sendWin: m.srvStreamWin}
	var extra []string
	end := r.IntN(4) == 0
	switch {
	case path == "/echo" && r.IntN(3) == 0:
		// A body of exactly the limit, or one byte more.
		st.plan = m.cfg.maxBody + r.Int64N(2)
		end = false
		if r.IntN(2) == 0 {
			st.cl = st.plan
			extra = append(extra, "content-length", strconv.FormatInt(st.cl, 10))
		}
	case r.IntN(3) == 0:
		st.cl = r.Int64N(m.cfg.maxBody + m.cfg.maxBody/4)
		if r.IntN(2) == 0 {
			st.cl = r.Int64N(3000)
		}
		extra = append(extra, "content-length", strconv.FormatInt(st.cl, 10))
	}
	if end {
		st.clientEnd = true
		if st.cl > 0 {
			st.expect(http2.ErrCodeProtocol)
		}
	}
	m.streams[id] = st
	st.countAtOpen = m.serverCount()
	m.order = append(m.order, st)
	b := m.block(path, extra...)
	split := r.IntN(3) == 0 && len(b) >= 3
	cut, cut2 := 0, 0
	if split {
		cut = 1 + r.IntN(len(b)-1)
		cut2 = cut + r.IntN(len(b)-cut)
	}
	return m.write(func() error {
		if !split {
			return m.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: b, EndStream: end, EndHeaders: true})
		}
		cut := cut
		if err := m.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: b[:cut], EndStream: end}); err != nil {
			return err
		}
		if cut2 > cut && cut2 < len(b) {
			if err := m.fr.WriteContinuation(id, false, b[cut:cut2]); err != nil {
				return err
			}
			cut = cut2
		}
		return m.fr.WriteContinuation(id, true, b[cut:])
	})
}

// finish ends every stream the client left open and opens the windows,
// waits for the server to end each accepted stream, and checks that a
// PING is still answered.
func (m *model) finish(d time.Duration) {
	// A PING's answer first: the refusals of the streams sent last have
	// arrived, and the client does not reset those streams (which would
	// count against the rapid reset allowance).
	m.mu.Lock()
	sync := [8]byte{'s', 'y', 'n', 'c'}
	m.pings[sync] = true
	m.write(func() error { return m.fr.WritePing(false, sync) })
	m.mu.Unlock()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		m.mu.Lock()
		done := !m.pings[sync] || m.readErr != nil || m.goAway != nil
		m.mu.Unlock()
		if done {
			break
		}
	}
	m.mu.Lock()
	ended := m.goAway != nil || m.readErr != nil
	if !ended {
		for _, st := range m.order {
			if st.serverEnd && !st.clientEnd && !st.clientRST && !st.serverRST {
				// The response is complete: the request ends too.
				st.clientEnd = true
				m.write(func() error { return m.fr.WriteData(st.id, true, nil) })
				continue
			}
			if !st.clientRST && !st.refused && !st.serverRST && !(st.serverEnd && st.clientEnd) {
				st.clientRST = true
				m.resets++
				m.write(func() error { return m.fr.WriteRSTStream(st.id, http2.ErrCodeCancel) })
			}
		}
		// Settle the windows: a generous INITIAL_WINDOW_SIZE and the
		// connection's.
		init := min(1<<20, m.windowRoom())
		m.pendingInit = append(m.pendingInit, init)
		last := m.cliMaxFrame
		if len(m.pendingFrame) > 0 {
			last = m.pendingFrame[len(m.pendingFrame)-1]
		}
		m.pendingFrame = append(m.pendingFrame, last)
		m.pendingTable = append(m.pendingTable, -1)
		m.write(func() error {
			return m.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: uint32(init)})
		})
		// A stream whose window the setting leaves small (another's
		// window kept it low) is opened by its own update.
		for _, st := range m.order {
			if st.serverEnd || st.serverRST || st.refused || st.clientRST {
				continue
			}
			if inc := 1<<20 - (init + st.recvUpd - st.recvData); inc > 0 {
				st.recvUpd += inc
				m.write(func() error { return m.fr.WriteWindowUpdate(st.id, uint32(inc)) })
			}
		}
		if inc := 1<<30 - (65535 + m.connRecvUpd - m.connRecvData); inc > 0 {
			m.connRecvUpd += inc
			m.write(func() error { return m.fr.WriteWindowUpdate(0, uint32(inc)) })
		}
		m.pings[[8]byte{'f', 'i', 'n', 'a', 'l'}] = true
		m.write(func() error { return m.fr.WritePing(false, [8]byte{'f', 'i', 'n', 'a', 'l'}) })
	}
	m.mu.Unlock()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		done := m.readErr != nil
		if !ended && !done {
			done = len(m.pings) == 0
			for _, st := range m.streams {
				if !st.serverEnd && !st.serverRST && !st.refused && !st.clientRST {
					done = false
				}
			}
		}
		m.mu.Unlock()
		if done {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.provoked && m.goAway == nil {
		// The server closes at once after a flood, without lingering
		// for the client's frames in flight, whose arrival may reset
		// the TCP connection before its GOAWAY is read.
		if m.readErr == nil || m.expectGoAway != http2.ErrCodeEnhanceYourCalm {
			m.violate("no GOAWAY %v after the client broke a rule (read: %v)", m.expectGoAway, m.readErr)
		}
	}
	for _, st := range m.order {
		switch {
		case st.refused:
			m.stats["s:refused"]++
		case st.serverRST && st.gotHeaders:
			m.stats["s:reset after response head"]++
		case st.serverRST:
			m.stats["s:reset by server"]++
		case st.serverEnd:
			m.stats["s:response whole"]++
			if strings.HasPrefix(st.path, "/large/") && st.recvData > 0 {
				m.stats["s:large response bytes"] += int(st.recvData)
			}
		case st.clientRST:
			m.stats["s:reset by client"]++
		default:
			m.stats["s:unended"]++
		}
	}
	if ended || m.readErr != nil {
		return
	}
	m.checkBodies()
	if len(m.pings) > 0 {
		m.violate("PINGs not answered: %d", len(m.pings))
	}
	// Every stream has ended and the final PING's answer came after the
	// server's WINDOW_UPDATEs for what it read or dropped before it: the
	// body bytes the server held went back to the connection's window,
	// but for what it batches into its next update (a quarter of the
	// window, in this server; a half is allowed here).
	if len(m.pings) == 0 && m.connSend < int64(m.cfg.connWindow)/2 {
		m.violate("connection window %d of %d once every stream ended: the server did not give back the body bytes it dropped", m.connSend, m.cfg.connWindow)
	}
	for _, st := range m.streams {
		if !st.serverEnd && !st.serverRST && !st.refused && !st.clientRST {
			m.violate("stream %d (%s) never ended by the server (client end %v rst %v, got headers %v)", st.id, st.path, st.clientEnd, st.clientRST, st.gotHeaders)
		}
	}
}

// runModelConn drives one connection for steps frames.
func runModelConn(addr string, seed uint64, conn int, steps int, cfg modelConfig, hs *modelHandlers) []string {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return []string{fmt.Sprintf("conn %d: %v", conn, err)} // not t.Fatal: another goroutine than the test's
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	m := &model{
		rng: rand.New(rand.NewPCG(seed, uint64(conn))), conn: conn, hs: hs, cfg: cfg,
		streams: map[uint32]*mstream{}, nextID: 1, connSend: 65535, srvStreamWin: 65535, srvMaxConc: 100,
		cliInit: 65535, cliMaxFrame: 16384, pings: map[[8]byte]bool{}, readerDone: make(chan struct{}),
		stats: map[string]int{},
	}
	m.fr = http2.NewFramer(nc, nc)
	m.fr.AllowIllegalWrites = true // breakConnection's frames
	m.fatalAt = -1
	if m.rng.IntN(3) == 0 {
		m.fatalAt = steps/2 + m.rng.IntN(steps/2+1)
	}
	m.fr.SetMaxReadFrameSize(1 << 24)
	m.enc = hpack.NewEncoder(&m.encBuf)
	m.dec = hpack.NewDecoder(4096, nil)
	m.tableSize, m.tableAllowed, m.mustUpdate = 4096, 4096, -1
	io.WriteString(nc, ClientPreface)
	m.fr.WriteSettings()
	m.pendingInit, m.pendingFrame, m.pendingTable = []int64{65535}, []int64{16384}, []int64{-1}
	// The server's SETTINGS first, so that its windows bind what follows.
	f, err := m.fr.ReadFrame()
	if err != nil {
		return []string{fmt.Sprintf("conn %d: the server's SETTINGS: %v", conn, err)}
	}
	m.onFrame(f)
	m.qcond.L = &m.qmu
	m.writerDone = make(chan struct{})
	go m.writer()
	go m.reader()
	i := 0
	for ; i < steps; i++ {
		if !m.step() {
			break
		}
		if m.rng.IntN(8) == 0 {
			time.Sleep(time.Duration(m.rng.IntN(300)) * time.Microsecond)
		}
	}
	m.mu.Lock()
	m.stats["c:steps"] += i
	switch {
	case m.goAway != nil:
		m.stats["c:end GOAWAY "+m.goAway.ErrCode.String()]++
		if i < steps/2 {
			m.stats["c:end GOAWAY in first half"]++
		}
	case m.clientGoAway:
		m.stats["c:end client GOAWAY"]++
	case m.readErr != nil:
		m.stats["c:end read error"]++
	default:
		m.stats["c:end all steps"]++
	}
	m.mu.Unlock()
	m.finish(3 * time.Second)
	m.qmu.Lock()
	m.qstop = true
	m.qcond.Signal()
	m.qmu.Unlock()
	<-m.writerDone
	nc.Close()
	<-m.readerDone
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hs.mu.Lock()
	most := m.hs.maxConn[strconv.Itoa(conn)]
	m.hs.mu.Unlock()
	if most > int(cfg.maxStreams) {
		m.violate("%d handlers ran at once, over the limit %d", most, cfg.maxStreams)
	}
	if most == int(cfg.maxStreams) {
		m.stats["c:handlers at limit"]++
	}
	m.stats["c:conns"]++
	modelStats.mu.Lock()
	for k, v := range m.stats {
		modelStats.m[k] += v
	}
	modelStats.mu.Unlock()
	if m.writeErr != nil && m.goAway == nil && !(m.provoked && m.expectGoAway == http2.ErrCodeEnhanceYourCalm) {
		m.violate("write: %v (read: %v; client GOAWAY %v; %v)", m.writeErr, m.readErr, m.clientGoAway, m.stats)
	}
	return m.violations
}

// runModel runs the model on conns connections at once against one server,
// and checks the server's side once they have ended.
func runModel(t *testing.T, seed uint64, conns, steps int) []string {
	rng := rand.New(rand.NewPCG(seed, 0))
	cfg := modelConfig{
		maxStreams:   uint32(4 + rng.IntN(5)),
		streamWindow: uint32(1000 + rng.IntN(40000)),
		connWindow:   uint32(65535 + rng.IntN(100000)),
		maxBody:      int64(5000 + rng.IntN(60000)),
	}
	hs := &modelHandlers{running: map[string]bool{}, returned: map[string]time.Time{}, perConn: map[string]int{}, maxConn: map[string]int{}}
	before := runtime.NumGoroutine()
	srv := newTestServer(t, hs.serve, func(c *Config) {
		c.MaxStreams = cfg.maxStreams
		c.InitialStreamWindow = cfg.streamWindow
		c.InitialConnectionWindow = cfg.connWindow
		c.App.MaxRequestBodySize = cfg.maxBody
		if os.Getenv("H2MODEL_DEBUG") != "" {
			c.App.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []string
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := runModelConn(srv.addr, seed, i, steps, cfg, hs)
			mu.Lock()
			all = append(all, v...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	// Every handler returns, and the connections' goroutines end.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && (hs.started.Load() != hs.done.Load() || runtime.NumGoroutine() > before+2) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(hs.unreleased) > 0 {
		all = append(all, fmt.Sprintf("blocked handlers not released by their stream's end: %v", hs.unreleased))
	}
	if s, d := hs.started.Load(), hs.done.Load(); s != d {
		hs.mu.Lock()
		all = append(all, fmt.Sprintf("%d handlers of %d never returned: %v", s-d, s, hs.running))
		hs.mu.Unlock()
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		buf := make([]byte, 1<<16)
		buf = buf[:runtime.Stack(buf, true)]
		all = append(all, fmt.Sprintf("%d goroutines, %d before:\n%s", n, before, buf))
	}
	return all
}

// modelStats adds up the model runs' counts of what they did, which
// H2MODEL_STATS=1 prints.
var modelStats = struct {
	mu sync.Mutex
	m  map[string]int
}{m: map[string]int{}}

// TestModelRandomFrames drives seeded random frame sequences on several
// connections at once and checks RFC 9113's invariants (see the top of
// this file).
func TestModelRandomFrames(t *testing.T) {
	seeds := 40
	if n, _ := strconv.Atoi(os.Getenv("H2MODEL_SEEDS")); n > 0 {
		seeds = n
	}
	first, _ := strconv.Atoi(os.Getenv("H2MODEL_FIRST"))
	for seed := uint64(first); seed < uint64(first+seeds); seed++ {
		if v := runModel(t, seed+1, 3, modelSteps()); len(v) > 0 {
			t.Errorf("seed %d (H2MODEL_FIRST=%d H2MODEL_SEEDS=1 runs it alone):\n%s", seed+1, seed, strings.Join(v, "\n"))
		}
	}
	if os.Getenv("H2MODEL_STATS") != "" {
		modelStats.mu.Lock()
		keys := make([]string, 0, len(modelStats.m))
		for k := range modelStats.m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			t.Logf("%-32s %d", k, modelStats.m[k])
		}
		modelStats.mu.Unlock()
	}
}

// modelSteps is how many frames each connection of a model run sends:
// H2MODEL_STEPS, or 150.
func modelSteps() int {
	if n, _ := strconv.Atoi(os.Getenv("H2MODEL_STEPS")); n > 0 {
		return n
	}
	return 150
}

// breakConnection sends a frame that breaks a rule of the connection
// (RFC 9113), or a flood of resets, and records the GOAWAY code it must
// draw; mu is held.
func (m *model) breakConnection() {
	r := m.rng
	m.provoked = true
	var f func() error
	kinds := []string{"window overflow", "even stream", "idle reset", "idle data", "window setting", "frame size setting", "push setting", "zero window update", "ping on a stream", "interleaved header block", "reset flood"}
	kind := kinds[r.IntN(len(kinds))]
	if len(m.order) == 0 && kind == "reset flood" || kind == "idle data" && m.connSend < 1 {
		// A flood resets an opened stream; DATA counts against the
		// connection's window before its stream is looked at, so DATA
		// beyond it would be a flow-control error first.
		kind = "idle reset"
	}
	m.stats["c:break "+kind]++
	idle := m.nextID + 2*uint32(r.IntN(3))
	switch kind {
	case "window overflow": // 6.9.1
		// The server's window may be 0 (its DATA in flight): then the
		// first opens it to 2^31-1, and the second overflows it.
		m.expectGoAway = http2.ErrCodeFlowControl
		inc := uint32(1<<31 - 1)
		m.connRecvUpd += int64(inc)
		f = func() error {
			if err := m.fr.WriteWindowUpdate(0, inc); err != nil {
				return err
			}
			return m.fr.WriteWindowUpdate(0, inc)
		}
	case "even stream": // 5.1.1
		m.expectGoAway = http2.ErrCodeProtocol
		b := m.block("/quick")
		id := m.nextID + 1
		f = func() error {
			return m.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: b, EndStream: true, EndHeaders: true})
		}
	case "idle reset": // 6.4
		m.expectGoAway = http2.ErrCodeProtocol
		f = func() error { return m.fr.WriteRSTStream(idle, http2.ErrCodeCancel) }
	case "idle data": // 5.1
		m.expectGoAway = http2.ErrCodeProtocol
		m.connSend--
		f = func() error { return m.fr.WriteData(idle, false, []byte("x")) }
	case "window setting": // 6.5.2
		m.expectGoAway = http2.ErrCodeFlowControl
		f = func() error {
			return m.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 31})
		}
	case "frame size setting": // 6.5.2
		m.expectGoAway = http2.ErrCodeProtocol
		f = func() error { return m.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 16383}) }
	case "push setting": // 6.5.2
		m.expectGoAway = http2.ErrCodeProtocol
		f = func() error { return m.fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 2}) }
	case "zero window update": // 6.9
		m.expectGoAway = http2.ErrCodeProtocol
		f = func() error { return m.fr.WriteWindowUpdate(0, 0) }
	case "ping on a stream": // 6.7
		m.expectGoAway = http2.ErrCodeProtocol
		id := uint32(1)
		if len(m.order) > 0 {
			id = m.order[r.IntN(len(m.order))].id
		}
		f = func() error { return m.fr.WriteRawFrame(http2.FramePing, 0, id, make([]byte, 8)) }
	case "interleaved header block": // 6.10
		m.expectGoAway = http2.ErrCodeProtocol
		id := m.nextID
		m.nextID += 2
		b := m.block("/quick")
		f = func() error {
			if err := m.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: b[:1], EndStream: true}); err != nil {
				return err
			}
			return m.fr.WritePing(false, [8]byte{'i'})
		}
	case "reset flood": // the rapid reset defence (CVE-2023-44487)
		m.expectGoAway = http2.ErrCodeEnhanceYourCalm
		id := m.order[len(m.order)-1].id
		n := 2*int(m.cfg.maxStreams) + 1 - m.resets
		m.resets += n
		f = func() error {
			for range n {
				if err := m.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
					return err
				}
			}
			return nil
		}
	}
	m.write(f)
}

// checkBodies checks the answers to the requests whose bodies the server
// saw whole: /echo returns the body it got, up to the body size limit
// exactly, and a request over the limit is answered 413 unless its
// response had begun; mu is held.
func (m *model) checkBodies() {
	for _, st := range m.order {
		if !strings.HasPrefix(st.path, "/echo") || st.clientRST || st.refused || len(st.expectRST) > 0 || !st.gotHeaders {
			continue
		}
		over := st.sent > m.cfg.maxBody || st.cl > m.cfg.maxBody
		switch {
		case st.status == 413:
			m.stats["c:413"]++
			if !over {
				m.violate("stream %d: 413 for a body of %d (content-length %d), limit %d", st.id, st.sent, st.cl, m.cfg.maxBody)
			}
		case st.status != 200:
			m.violate("stream %d (%s): status %d", st.id, st.path, st.status)
		case over && st.cl > m.cfg.maxBody:
			m.violate("stream %d: content-length %d over the limit %d answered %d", st.id, st.cl, m.cfg.maxBody, st.status)
		case over:
			// The response had begun when the read past the limit
			// failed; the handler ignores the error and returns, and its
			// response ends as it wrote it (as net/http's does), but it
			// never got more than the limit.
			if st.recvData > m.cfg.maxBody {
				m.violate("stream %d: %d bytes echoed of a body of %d, over the limit %d", st.id, st.recvData, st.sent, m.cfg.maxBody)
			}
			m.stats["c:echo over limit, response begun"]++
		case st.serverEnd && !st.serverRST && st.clientEnd:
			if st.recvData != st.sent {
				m.violate("stream %d: echoed %d bytes of %d", st.id, st.recvData, st.sent)
			}
			m.stats["c:echo whole"]++
			if st.sent == m.cfg.maxBody {
				m.stats["c:echo whole at limit"]++
			}
		}
	}
}

// windowRoom is the largest SETTINGS_INITIAL_WINDOW_SIZE that overflows
// the window of no stream the server may still send DATA on (RFC 9113,
// 6.9.2): those the client has seen neither end nor reset, nor reset
// itself (the server has reset those when it reads the SETTINGS); mu is
// held.
func (m *model) windowRoom() int64 {
	room := int64(1<<31 - 1)
	for _, st := range m.streams {
		if !st.serverEnd && !st.serverRST && !st.refused && !st.clientRST {
			room = min(room, 1<<31-1-(st.recvUpd-st.recvData))
		}
	}
	return max(room, 0)
}

// forgotten reports whether the server reset st and may have forgotten
// it since (conn.go's resetMemory): the client opened resetMemory streams
// after it, so the frames it sent on st before it saw the RST_STREAM,
// ignored until then, may draw STREAM_CLOSED (RFC 9113, 5.1: an endpoint
// "MAY choose to limit the period over which it ignores frames"); mu is
// held.
func (m *model) forgotten(st *mstream) bool {
	return st != nil && st.serverRST && (m.nextID-2-st.id)/2 >= resetMemory
}
