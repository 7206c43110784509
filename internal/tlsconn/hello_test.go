package tlsconn

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"testing"
)

// clientHelloRecord is the first TLS record crypto/tls's client sends.
func clientHelloRecord(t *testing.T) []byte {
	t.Helper()
	client, server := net.Pipe()
	defer server.Close()
	go tls.Client(client, &tls.Config{ServerName: "example.com"}).Handshake()
	defer client.Close()
	hdr := make([]byte, 5)
	if _, err := server.Read(hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	for n := 0; n < len(body); {
		m, err := server.Read(body[n:])
		if err != nil {
			t.Fatal(err)
		}
		n += m
	}
	return append(hdr, body...)
}

// TestClientHelloMessage: the message is found in one record, reassembled
// from several, and not returned while incomplete or from other records.
func TestClientHelloMessage(t *testing.T) {
	rec := clientHelloRecord(t)
	msg := rec[5:]
	if got := ClientHelloMessage(rec); !bytes.Equal(got, msg) {
		t.Fatalf("one record: got %d bytes, want the %d of the message", len(got), len(msg))
	}
	if got := ClientHelloMessage(append(bytes.Clone(rec), 0x17, 3, 3, 0, 1, 0)); !bytes.Equal(got, msg) {
		t.Fatal("one record followed by another: the message is not returned alone")
	}
	// The same message in three records, split inside the handshake header.
	var split []byte
	for _, part := range [][]byte{msg[:2], msg[2:100], msg[100:]} {
		split = append(split, 0x16, 3, 1, byte(len(part)>>8), byte(len(part)))
		split = append(split, part...)
	}
	if got := ClientHelloMessage(split); !bytes.Equal(got, msg) {
		t.Fatalf("three records: got %d bytes, want %d", len(got), len(msg))
	}
	for n := range len(split) {
		if got := ClientHelloMessage(split[:n]); got != nil {
			t.Fatalf("%d of %d bytes: got a message of %d bytes", n, len(split), len(got))
		}
	}
	notHello := bytes.Clone(rec)
	notHello[5] = 2 // a ServerHello
	if ClientHelloMessage(notHello) != nil {
		t.Error("a ServerHello was taken for a ClientHello")
	}
	if ClientHelloMessage([]byte("GET / HTTP/1.1\r\n\r\n")) != nil {
		t.Error("plain HTTP was taken for a ClientHello")
	}
}

// TestHelloConnStops: the recording ends at Stop and past its limit.
func TestHelloConnStops(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	hc := NewHelloConn(context.Background(), server)
	go client.Write(make([]byte, maxRecorded+1))
	buf := make([]byte, maxRecorded+1)
	for n := 0; n < len(buf); {
		m, err := hc.Read(buf[n:])
		if err != nil {
			t.Fatal(err)
		}
		n += m
	}
	if !hc.stopped || hc.buf != nil {
		t.Fatalf("recorded %d bytes past the limit", len(hc.buf))
	}
}
