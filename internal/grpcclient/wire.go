package grpcclient

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"golang.org/x/net/http2"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// encodeBinary encodes a -bin metadata value as gRPC does: base64 without
// padding.
func encodeBinary(v string) string { return base64.RawStdEncoding.EncodeToString([]byte(v)) }

// decodeBinary decodes a -bin value sent with or without padding.
func decodeBinary(v string) (string, error) {
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(v, "="))
	return string(b), err
}

// metadataFrom returns the metadata in a response's header or trailer
// fields: every field but gRPC's own and pseudo-fields, names in lower
// case, -bin values decoded.
func metadataFrom(h http.Header) (metadata.MD, error) {
	md := make(metadata.MD, len(h))
	for k, vs := range h {
		k = strings.ToLower(k)
		if reservedHeaders[k] || strings.HasPrefix(k, ":") {
			continue
		}
		if !strings.HasSuffix(k, "-bin") {
			md[k] = append(md[k], vs...)
			continue
		}
		for _, v := range vs {
			// A binary value may come as comma-separated values in one field.
			for part := range strings.SplitSeq(v, ",") {
				d, err := decodeBinary(strings.TrimSpace(part))
				if err != nil {
					return nil, status.Errorf(codes.Internal, "grpcclient: malformed binary metadata %q: %v", k, err)
				}
				md[k] = append(md[k], d)
			}
		}
	}
	return md, nil
}

// statusFrom reads grpc-status, grpc-message and grpc-status-details-bin:
// io.EOF for OK, the status error otherwise.
func statusFrom(h http.Header) error {
	raw := h.Get("Grpc-Status")
	code, err := strconv.ParseUint(raw, 10, 32)
	if err != nil {
		return status.Errorf(codes.Internal, "grpcclient: malformed grpc-status %q", raw)
	}
	if details := h.Get("Grpc-Status-Details-Bin"); details != "" {
		if b, err := decodeBinary(details); err == nil {
			sp := new(spb.Status)
			if proto.Unmarshal([]byte(b), sp) == nil && sp.GetCode() == int32(code) {
				if code == 0 {
					return io.EOF
				}
				return status.FromProto(sp).Err()
			}
		}
		return status.Errorf(codes.Internal, "grpcclient: malformed grpc-status-details-bin for grpc-status %d", code)
	}
	if code == 0 {
		return io.EOF
	}
	return status.Error(codes.Code(code), decodeMessage(h.Get("Grpc-Message")))
}

// decodeMessage undoes grpc-message's percent-encoding; a % not followed
// by two hexadecimal digits stands for itself.
func decodeMessage(m string) string {
	if !strings.Contains(m, "%") {
		return m
	}
	var b strings.Builder
	for i := 0; i < len(m); i++ {
		if m[i] == '%' && i+2 < len(m) {
			if v, err := strconv.ParseUint(m[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(m[i])
	}
	return b.String()
}

// resetCode is the code of a stream the peer or the transport reset, as
// grpc-go maps HTTP/2's error codes; HTTP/3's are mapped the same way.
// Other failures (a connection that could not be made or was lost) are
// UNAVAILABLE.
func resetCode(err error) codes.Code {
	if se, ok := errors.AsType[http2.StreamError](err); ok {
		switch se.Code {
		case http2.ErrCodeRefusedStream:
			return codes.Unavailable
		case http2.ErrCodeCancel:
			return codes.Canceled
		case http2.ErrCodeFlowControl, http2.ErrCodeEnhanceYourCalm:
			return codes.ResourceExhausted
		case http2.ErrCodeInadequateSecurity:
			return codes.PermissionDenied
		}
		return codes.Internal
	}
	if he, ok := errors.AsType[*http3.Error](err); ok {
		if _, stream := errors.AsType[*quic.StreamError](err); stream {
			switch he.ErrorCode {
			case http3.ErrCodeRequestRejected:
				return codes.Unavailable
			case http3.ErrCodeRequestCanceled:
				return codes.Canceled
			case http3.ErrCodeExcessiveLoad:
				return codes.ResourceExhausted
			}
			return codes.Internal
		}
	}
	return codes.Unavailable
}
