package ntlmmsg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// rawAuthenticate builds an AUTHENTICATE message with the given flags and
// raw (already encoded) user and domain bytes, as an attacker would.
func rawAuthenticate(flags NegotiateFlags, domain, user []byte) []byte {
	w := newBuilder(TypeAuthenticate, auFixedLen)
	binary.LittleEndian.PutUint32(w.buf[auFlags:], uint32(flags))
	w.field(auDomain, domain)
	w.field(auUser, user)
	w.field(auWorkstation, nil)
	w.field(auLm, make([]byte, 24))
	w.field(auNt, make([]byte, 48))
	w.field(auSessionKey, nil)
	return w.buf
}

func TestParseAuthenticateAgreed(t *testing.T) {
	const uni, oem = NegotiateUnicode | NegotiateNTLM, NegotiateOEM | NegotiateNTLM
	tests := []struct {
		name         string
		flags        NegotiateFlags
		agreed       bool // UNICODE agreed at NEGOTIATE
		domain, user []byte
		wantUser     string
		wantDomain   string
		bad          bool
	}{
		{name: "unicode agreed and used", flags: uni, agreed: true, domain: utf16le("EXAMPLE"), user: utf16le("jdoe"), wantUser: "jdoe", wantDomain: "EXAMPLE"},
		{name: "OEM agreed and used", flags: oem, agreed: false, domain: []byte("EXAMPLE"), user: []byte("jdoe"), wantUser: "jdoe", wantDomain: "EXAMPLE"},
		{name: "non-ASCII name in UTF-16", flags: uni, agreed: true, user: utf16le("jürgen"), wantUser: "jürgen"},
		{name: "astral name in UTF-16", flags: uni, agreed: true, user: utf16le("a😀"), wantUser: "a😀"},
		// The attacks: the DC reads the agreed set, whatever the
		// AUTHENTICATE says.
		{name: "OEM agreed, UNICODE claimed (DC reads jdoe, flag says 摪敯)", flags: uni, agreed: false, user: []byte("jdoe"), bad: true},
		{name: "UNICODE agreed, OEM claimed (DC reads jdoe, flag says j\\0d\\0...)", flags: oem, agreed: true, user: utf16le("jdoe"), bad: true},
		{name: "UNICODE agreed, no charset flag", flags: NegotiateNTLM, agreed: true, user: utf16le("jdoe"), bad: true},
		{name: "NUL in UTF-16 user", flags: uni, agreed: true, user: utf16le("alice\x00jdoe"), bad: true},
		{name: "NUL in OEM user (j\\0d\\0o\\0e\\0 read as j)", flags: oem, agreed: false, user: []byte("j\x00d\x00o\x00e\x00"), bad: true},
		{name: "NUL in domain", flags: uni, agreed: true, domain: utf16le("EXAMPLE\x00X"), user: utf16le("jdoe"), bad: true},
		{name: "newline in user", flags: uni, agreed: true, user: utf16le("jdoe\nINFO forged"), bad: true},
		{name: "C1 control in user", flags: uni, agreed: true, user: utf16le("jdoe\u0085"), bad: true},
		{name: "DEL in OEM", flags: oem, user: []byte("jdoe\x7f"), bad: true},
		{name: "non-ASCII OEM byte (code page unknown)", flags: oem, user: []byte("j\xfcrgen"), bad: true},
		{name: "unpaired high surrogate at end", flags: uni, agreed: true, user: append(utf16le("jdoe"), 0x00, 0xd8), bad: true},
		{name: "unpaired high surrogate before a letter", flags: uni, agreed: true, user: append([]byte{0x00, 0xd8}, utf16le("jdoe")...), bad: true},
		{name: "lone low surrogate", flags: uni, agreed: true, user: []byte{0x00, 0xdc, 'a', 0}, bad: true},
		{name: "odd UTF-16 length", flags: uni, agreed: true, user: []byte("jdo"), bad: true},
		{name: "too long", flags: uni, agreed: true, user: utf16le(strings.Repeat("a", maxNameLen+1)), bad: true},
		{name: "longest allowed", flags: uni, agreed: true, user: utf16le(strings.Repeat("a", maxNameLen)), wantUser: strings.Repeat("a", maxNameLen)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseAuthenticateAgreed(rawAuthenticate(tc.flags, tc.domain, tc.user), tc.agreed)
			if tc.bad {
				if err == nil {
					t.Fatalf("accepted, read user %q domain %q", m.User, m.Domain)
				}
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("error %v does not wrap ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.User != tc.wantUser || m.Domain != tc.wantDomain {
				t.Fatalf("read %q\\%q, want %q\\%q", m.Domain, m.User, tc.wantDomain, tc.wantUser)
			}
		})
	}
}

// FuzzParseAuthenticateAgreed: whatever it accepts reads the same to the
// DC as to us. The names re-encode in the agreed character set to exactly
// the bytes sent (nothing was dropped or replaced) and hold no control
// character.
func FuzzParseAuthenticateAgreed(f *testing.F) {
	f.Add(rawAuthenticate(NegotiateUnicode, utf16le("EXAMPLE"), utf16le("jdoe")), true)
	f.Add(rawAuthenticate(NegotiateUnicode, nil, []byte("jdoe")), false)
	f.Add(rawAuthenticate(NegotiateOEM, []byte("EXAMPLE"), []byte("j\x00d\x00o\x00e\x00")), false)
	f.Add(unhex(f, specAuthenticate), true)
	f.Fuzz(func(t *testing.T, b []byte, agreed bool) {
		m, err := ParseAuthenticateAgreed(b, agreed)
		if err != nil {
			return
		}
		fs, err := readFields(b, TypeAuthenticate, auFixedLen, []string{"domain", "user"}, []int{auDomain, auUser})
		if err != nil {
			t.Fatalf("accepted a message whose fields do not read: %v", err)
		}
		for i, got := range []string{m.Domain, m.User} {
			raw := b[fs[i].off : fs[i].off+fs[i].len]
			if enc := encodeString(got, agreed); !bytes.Equal(enc, raw) {
				t.Fatalf("%s %q re-encodes to %x, was sent as %x", fs[i].name, got, enc, raw)
			}
			for _, r := range got {
				if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
					t.Fatalf("%s %q holds control character %U", fs[i].name, got, r)
				}
			}
		}
	})
}
