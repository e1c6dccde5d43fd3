package authorizer

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/goauthenntlm/goauthenntlm/pkg/adgroup"
	"github.com/goauthenntlm/goauthenntlm/pkg/config"
)

func TestParseAuthorization(t *testing.T) {
	tests := []struct {
		in      string
		scheme  config.Scheme
		token   string
		wantErr error // nil: no error; errAny: any error
	}{
		{"NTLM TlRMTVNTUAABAAAA", config.SchemeNTLM, "NTLMSSP\x00\x01\x00\x00\x00", nil},
		{"ntlm   TlRMTVNTUAABAAAA  ", config.SchemeNTLM, "NTLMSSP\x00\x01\x00\x00\x00", nil},
		{"Negotiate TlRMTVNTUAABAAAA", config.SchemeNegotiate, "NTLMSSP\x00\x01\x00\x00\x00", nil},
		{"Basic amRvZTpwOnc=", config.SchemeBasic, "jdoe:p:w", nil},
		{"Basic amRvZTpwOnc", config.SchemeBasic, "jdoe:p:w", nil}, // no padding
		{"NTLM", "", "", errNoToken},
		{"NTLM ", "", "", errNoToken},
		{"NTLM =", "", "", errNoToken}, // found by FuzzParseAuthorization
		{"Basic ==", "", "", errNoToken},
		{"Bearer abc", "", "", errUnknownScheme},
		{"", "", "", errUnknownScheme},
		{"NTLM !!!", "", "", errAny},
		{"NTLM " + strings.Repeat("A", 100000), "", "", errAny},
	}
	for _, tt := range tests {
		c, err := parseAuthorization(tt.in)
		name := tt.in
		if len(name) > 40 {
			name = name[:40]
		}
		switch {
		case tt.wantErr == nil && err != nil:
			t.Errorf("%q: %v", name, err)
		case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
			t.Errorf("%q: error %v, want %v", name, err, tt.wantErr)
		case tt.wantErr == nil && (c.scheme != tt.scheme || string(c.token) != tt.token):
			t.Errorf("%q: got %s %q", name, c.scheme, c.token)
		}
	}
}

var errAny = errors.New("any error")

// No error message may repeat the header: it carries credentials.
func TestParseAuthorizationErrorsHideTheHeader(t *testing.T) {
	for _, h := range []string{"Basic c2VjcmV0OnBhc3N3b3Jk!", "NTLM c2VjcmV0OnBhc3N3b3Jk!"} {
		_, err := parseAuthorization(h)
		if err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
			t.Errorf("%q: %v", h, err)
		}
	}
}

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{"NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAA=", "Basic amRvZTpw", "Negotiate YIIB", "NTLM", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		c, err := parseAuthorization(h)
		if err != nil {
			return
		}
		if len(c.token) > maxToken || len(c.token) == 0 {
			t.Fatalf("token of %d bytes accepted", len(c.token))
		}
		_ = isRawNTLM(c.token)
	})
}

func TestExportGroups(t *testing.T) {
	e := &adgroup.Entry{Groups: []adgroup.Group{{SAM: "WebUsers"}, {SAM: "Domain Users"}, {SAM: "bad|name"}, {CN: "no sam"}}}
	if got, want := exportGroups(e), "|WebUsers|Domain Users|"; got != want {
		t.Errorf("exportGroups = %q, want %q", got, want)
	}
	if got := exportGroups(&adgroup.Entry{Unknown: true}); got != "|" {
		t.Errorf("unknown user: %q", got)
	}
	if got := exportGroups(nil); got != "|" {
		t.Errorf("nil: %q", got)
	}
}

func TestIsRawNTLM(t *testing.T) {
	if !isRawNTLM([]byte("NTLMSSP\x00\x01")) || isRawNTLM([]byte{0x60, 0x82}) || isRawNTLM(bytes.Repeat([]byte{0}, 3)) {
		t.Error("isRawNTLM")
	}
}
