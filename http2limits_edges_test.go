package kestrel

import (
	"strings"
	"testing"
)

// TestHttp2WindowLimitsRange checks Limits.Http2's window sizes and frame
// size at the edges Kestrel validates: 65,535 to 2^31-1 for the windows,
// 2^14 to 2^24-1 for MaxFrameSize, one under and one over refused with
// the field named.
func TestHttp2WindowLimitsRange(t *testing.T) {
	for _, tc := range []struct {
		limits Http2Limits
		bad    string // the field the error names, or "" when valid
	}{
		{Http2Limits{InitialConnectionWindowSize: 65535}, ""},
		{Http2Limits{InitialConnectionWindowSize: 65534}, "InitialConnectionWindowSize"},
		{Http2Limits{InitialConnectionWindowSize: 1<<31 - 1}, ""},
		{Http2Limits{InitialConnectionWindowSize: 1 << 31}, "InitialConnectionWindowSize"},
		{Http2Limits{InitialStreamWindowSize: 65535}, ""},
		{Http2Limits{InitialStreamWindowSize: 65534}, "InitialStreamWindowSize"},
		{Http2Limits{InitialStreamWindowSize: 1<<31 - 1}, ""},
		{Http2Limits{InitialStreamWindowSize: 1 << 31}, "InitialStreamWindowSize"},
		{Http2Limits{MaxFrameSize: 1 << 14}, ""},
		{Http2Limits{MaxFrameSize: 1<<14 - 1}, "MaxFrameSize"},
		{Http2Limits{MaxFrameSize: 1<<24 - 1}, ""},
		{Http2Limits{MaxFrameSize: 1 << 24}, "MaxFrameSize"},
	} {
		got, err := tc.limits.withDefaults()
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("%+v: %v", tc.limits, err)
		case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
			t.Errorf("%+v: error %v, want one naming %s", tc.limits, err, tc.bad)
		case tc.bad == "" && (got.InitialConnectionWindowSize == 0 || got.InitialStreamWindowSize == 0):
			t.Errorf("%+v: defaults not applied: %+v", tc.limits, got)
		}
	}
}
