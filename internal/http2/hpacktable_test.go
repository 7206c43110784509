package http2

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/http2"

	"github.com/kestrel-go/kestrel/internal/app"
)

// TestHeaderTableBeforeAck sends requests right after the preface, as
// clients do, before the server's SETTINGS could be acknowledged: their
// header blocks use HPACK's initial 4,096-byte dynamic table whatever
// HeaderTableSize the server advertises (RFC 9113, 6.5.3), the second
// request's referring to what the first added. After the ACK the client
// signals the advertised size at the start of its next block (RFC 7541,
// 4.2), and every request is still decoded right.
func TestHeaderTableBeforeAck(t *testing.T) {
	for _, size := range []uint32{0, 100, 4096, 65536} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			s := newTestServer(t, func(ex *app.Exchange) {
				ex.WriteString(strconv.Itoa(len(ex.Header("x-v"))))
			}, func(cfg *Config) { cfg.HeaderTableSize = size })
			c := startRaw(t, s.addr)

			value := strings.Repeat("v", 1000)
			get := func(id uint32) {
				t.Helper()
				c.request(id, "GET", "/", true, "x-v", value)
				if status, body := c.response(id); status != 200 || body != "1000" {
					t.Fatalf("stream %d: %d %q, want 200 \"1000\"", id, status, body)
				}
			}
			// Sent before the server's SETTINGS is read: the second and
			// third refer to the field the first added to the table.
			for _, id := range []uint32{1, 3, 5} {
				block := c.headerBlock("GET", "/", "x-v", value)
				if id > 1 && len(block) > 100 {
					t.Fatalf("a block of %d bytes: the encoder does not refer to its table, and the test tests nothing", len(block))
				}
				c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true})
			}
			for _, id := range []uint32{1, 3, 5} {
				if status, body := c.response(id); status != 200 || body != "1000" {
					t.Fatalf("stream %d before the ACK: %d %q, want 200 \"1000\"", id, status, body)
				}
			}
			c.fr.WriteSettingsAck()
			c.enc.SetMaxDynamicTableSizeLimit(size)
			c.enc.SetMaxDynamicTableSize(size)
			get(7)
			get(9)
		})
	}
}

// response reads until stream id ends and returns its status and body.
func (c *rawClient) response(id uint32) (int, string) {
	c.t.Helper()
	status := 0
	var body bytes.Buffer
	for {
		f := c.read()
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if f.StreamID == id {
				status, _ = strconv.Atoi(f.PseudoValue("status"))
				if f.StreamEnded() {
					return status, body.String()
				}
			}
		case *http2.DataFrame:
			if f.StreamID == id {
				body.Write(f.Data())
				if f.StreamEnded() {
					return status, body.String()
				}
			}
		case *http2.GoAwayFrame:
			c.t.Fatalf("GOAWAY %v %q", f.ErrCode, f.DebugData())
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				c.t.Fatalf("RST_STREAM %v", f.ErrCode)
			}
		}
	}
}
