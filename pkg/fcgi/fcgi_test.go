package fcgi

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    header
		wantErr bool
	}{
		{"begin", []byte{1, 1, 0, 1, 0, 8, 0, 0}, header{typeBeginRequest, 1, 8, 0}, false},
		{"params padded", []byte{1, 4, 0x12, 0x34, 0xff, 0xff, 7, 0}, header{typeParams, 0x1234, 0xffff, 7}, false},
		{"bad version 0", []byte{0, 1, 0, 1, 0, 8, 0, 0}, header{}, true},
		{"bad version 2", []byte{2, 1, 0, 1, 0, 8, 0, 0}, header{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseHeader(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, errMalformed) {
				t.Errorf("error %v does not wrap errMalformed", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAppendHeaderRoundTrip(t *testing.T) {
	b := appendHeader(nil, typeStdout, 0xbeef, 65535, 255)
	want := []byte{1, 6, 0xbe, 0xef, 0xff, 0xff, 0xff, 0}
	if !bytes.Equal(b, want) {
		t.Fatalf("appendHeader = % x, want % x", b, want)
	}
	h, err := parseHeader(b)
	if err != nil || h != (header{typeStdout, 0xbeef, 65535, 255}) {
		t.Fatalf("parseHeader = %+v, %v", h, err)
	}
}

func TestAppendRecordPadding(t *testing.T) {
	for n := 0; n < 20; n++ {
		b := appendRecord(nil, typeStdout, 1, bytes.Repeat([]byte{'x'}, n))
		if len(b)%8 != 0 {
			t.Errorf("content %d: record length %d not 8-aligned", n, len(b))
		}
		h, _ := parseHeader(b)
		if int(h.contentLength) != n || int(h.contentLength)+int(h.paddingLength)+headerLen != len(b) {
			t.Errorf("content %d: header %+v, record length %d", n, h, len(b))
		}
	}
}

func TestEndRequest(t *testing.T) {
	b := appendEndRequest(nil, 1, 0x01020304, statusUnknownRole)
	want := []byte{1, 3, 0, 1, 0, 8, 0, 0, 1, 2, 3, 4, 3, 0, 0, 0}
	if !bytes.Equal(b, want) {
		t.Fatalf("got % x, want % x", b, want)
	}
}

func TestParseBeginRequest(t *testing.T) {
	b, err := parseBeginRequest([]byte{0, 2, 1, 0, 0, 0, 0, 0})
	if err != nil || b.role != RoleAuthorizer || b.flags != flagKeepConn {
		t.Fatalf("got %+v, %v", b, err)
	}
	if _, err := parseBeginRequest([]byte{0, 2}); !errors.Is(err, errMalformed) {
		t.Fatalf("short body: err = %v", err)
	}
}

func TestNameValuePairs(t *testing.T) {
	long := strings.Repeat("v", 300)
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr bool
	}{
		{"empty", "", map[string]string{}, false},
		{"one", "\x03\x03abcdef", map[string]string{"abc": "def"}, false},
		{"empty value", "\x01\x00a", map[string]string{"a": ""}, false},
		{"two", "\x01\x01ab\x02\x00cd", map[string]string{"a": "b", "cd": ""}, false},
		{"4-byte value length", "\x04\x80\x00\x01\x2cHTTP" + long, map[string]string{"HTTP": long}, false},
		{"4-byte name length", "\x80\x00\x00\x01\x00a", map[string]string{"a": ""}, false},
		{"duplicate: last wins", "\x01\x01ab\x01\x01ac", map[string]string{"a": "c"}, false},
		{"truncated name length", "\x80\x00", nil, true},
		{"missing value length", "\x01", nil, true},
		{"truncated value length", "\x01\x80\x00", nil, true},
		{"value overflows", "\x01\x05ab", nil, true},
		{"name overflows", "\x05\x01ab", nil, true},
		{"huge 4-byte lengths", "\xff\xff\xff\xff\xff\xff\xff\xffab", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseParams(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, errMalformed) {
					t.Errorf("error %v does not wrap errMalformed", err)
				}
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestAppendPair(t *testing.T) {
	long := strings.Repeat("n", 128)
	b := appendPair(nil, long, "v")
	if !bytes.HasPrefix(b, []byte{0x80, 0, 0, 128, 1}) {
		t.Fatalf("128-byte name not in 4-byte form: % x", b[:8])
	}
	name, value, rest, err := nextPair(string(b))
	if err != nil || name != long || value != "v" || rest != "" {
		t.Fatalf("round trip: %q %q %q %v", name, value, rest, err)
	}
}

func TestFrameStdout(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, maxContent - 8, maxContent, maxContent + 1, 3*maxContent + 5} {
		content := bytes.Repeat([]byte{'z'}, n)
		buf := append(make([]byte, headerLen), content...)
		out := frameStdout(buf, 0, 9)

		var got []byte
		var types []recType
		for len(out) > 0 {
			h, err := parseHeader(out)
			if err != nil {
				t.Fatalf("n=%d: %v", n, err)
			}
			if h.id != 9 {
				t.Fatalf("n=%d: id %d", n, h.id)
			}
			end := headerLen + int(h.contentLength) + int(h.paddingLength)
			if h.typ == typeStdout {
				got = append(got, out[headerLen:headerLen+int(h.contentLength)]...)
			}
			types = append(types, h.typ)
			out = out[end:]
		}
		if !bytes.Equal(got, content) {
			t.Errorf("n=%d: content mismatch (len %d)", n, len(got))
		}
		wantRecords := max(1, (n+maxChunk-1)/maxChunk) + 2
		if n <= maxContent {
			wantRecords = 3
		}
		if len(types) != wantRecords || types[len(types)-2] != typeStdout || types[len(types)-1] != typeEndRequest {
			t.Errorf("n=%d: record types %v", n, types)
		}
	}
}
