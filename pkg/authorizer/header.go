package authorizer

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/goauthenntlm/goauthenntlm/pkg/config"
)

// maxToken bounds a decoded token: NTLM messages are capped at 64 KiB by
// ntlmmsg, and nothing larger is worth decoding.
const maxToken = 64 << 10

var ntlmSignature = []byte("NTLMSSP\x00")

// credentials is a parsed Authorization header.
type credentials struct {
	scheme config.Scheme
	token  []byte // decoded; for Basic, "user:password"
	spnego bool   // token came out of a SPNEGO wrapper
}

var (
	errNoToken       = errors.New("no token after the scheme")
	errUnknownScheme = errors.New("unknown scheme")
)

// parseAuthorization splits "Scheme base64" (RFC 9110 section 11.6.2) and
// decodes the token. It never returns the header's text in an error: the
// header carries credentials.
func parseAuthorization(h string) (credentials, error) {
	h = strings.TrimSpace(h)
	name, tok, _ := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	var c credentials
	switch strings.ToLower(name) {
	case "ntlm":
		c.scheme = config.SchemeNTLM
	case "negotiate":
		c.scheme = config.SchemeNegotiate
	case "basic":
		c.scheme = config.SchemeBasic
	default:
		if len(name) > 32 {
			name = name[:32]
		}
		return c, fmt.Errorf("%w %q", errUnknownScheme, name)
	}
	if tok == "" {
		return c, errNoToken
	}
	if len(tok) > base64.StdEncoding.EncodedLen(maxToken) {
		return c, fmt.Errorf("%s token of %d bytes is too large", c.scheme, len(tok))
	}
	b, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		// Some clients leave out the padding.
		if b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(tok, "=")); err != nil {
			return c, fmt.Errorf("%s token is not base64", c.scheme)
		}
	}
	if len(b) == 0 {
		// "NTLM =" and the like: padding alone decodes to nothing.
		return c, errNoToken
	}
	c.token = b
	return c, nil
}

// isRawNTLM reports whether a Negotiate token is a bare NTLMSSP message
// rather than SPNEGO.
func isRawNTLM(b []byte) bool { return bytes.HasPrefix(b, ntlmSignature) }
