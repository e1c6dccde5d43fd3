package ntlmmsg

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"
)

// The LogValue methods make messages safe to hand to log/slog at debug
// level. They show what helps diagnose a failed handshake (flags, names,
// versions, TargetInfo) and, for responses, keys and the MIC, nothing but
// their lengths: those bytes allow offline password cracking or relaying.
// The String methods render the same view, so that a stray %v in a format
// string cannot leak them either.

// LogValue implements [slog.LogValuer].
func (m *Negotiate) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("type", TypeNegotiate.String()),
		slog.String("flags", m.Flags.String()),
		nameAttr("domain", m.Domain),
		nameAttr("workstation", m.Workstation),
		versionAttr(m.Version),
	)
}

// LogValue implements [slog.LogValuer].
func (m *Challenge) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("type", TypeChallenge.String()),
		slog.String("flags", m.Flags.String()),
		nameAttr("target_name", m.TargetName),
		versionAttr(m.Version),
		targetInfoAttr(m.TargetInfo),
	)
}

// LogValue implements [slog.LogValuer]. It, String and GoString have value
// receivers, unlike the other methods, so that a dereferenced copy of an
// Authenticate is redacted too.
func (m Authenticate) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("type", TypeAuthenticate.String()),
		slog.String("flags", m.Flags.String()),
		nameAttr("domain", m.Domain),
		nameAttr("user", m.User),
		nameAttr("workstation", m.Workstation),
		versionAttr(m.Version),
		slog.Int("lm_response_len", len(m.LmChallengeResponse)),
		slog.Int("nt_response_len", len(m.NtChallengeResponse)),
		slog.Bool("ntlmv2", m.NTLMv2()),
		slog.Int("session_key_len", len(m.EncryptedRandomSessionKey)),
		slog.Int("mic_len", len(m.MIC)),
	)
}

func (m *Negotiate) String() string     { return m.LogValue().String() }
func (m *Challenge) String() string     { return m.LogValue().String() }
func (m Authenticate) String() string   { return m.LogValue().String() }
func (m Authenticate) GoString() string { return m.String() }

// versionAttr renders an absent Version as "none" rather than dropping the
// key: slog handlers skip empty attributes but slog.Value.String does not.
func versionAttr(v *Version) slog.Attr {
	if v == nil {
		return slog.String("version", "none")
	}
	return slog.String("version", v.String())
}

// targetInfoAttr shows each AV pair by name. Nothing in TargetInfo is
// secret, but only names, flags and the timestamp are printed in full;
// binary values are summarised by length to keep lines short.
func targetInfoAttr(raw []byte) slog.Attr {
	if len(raw) == 0 {
		return slog.Group("target_info")
	}
	p, err := ParseAVPairs(raw)
	if err != nil {
		return slog.String("target_info", fmt.Sprintf("malformed (%d bytes)", len(raw)))
	}
	attrs := make([]any, 0, len(p))
	for _, av := range p {
		key := av.ID.String()
		switch {
		case av.ID.isName():
			s, err := decodeString(av.Value, true)
			if err != nil {
				s = fmt.Sprintf("malformed (%d bytes)", len(av.Value))
			}
			attrs = append(attrs, slog.String(key, s))
		case av.ID == MsvAvFlags && len(av.Value) == 4:
			attrs = append(attrs, slog.String(key, fmt.Sprintf("%#x", binary.LittleEndian.Uint32(av.Value))))
		case av.ID == MsvAvTimestamp && len(av.Value) == 8:
			attrs = append(attrs, slog.String(key, fromFiletime(binary.LittleEndian.Uint64(av.Value)).Format(time.RFC3339Nano)))
		default:
			attrs = append(attrs, slog.String(key, fmt.Sprintf("%d bytes", len(av.Value))))
		}
	}
	return slog.Group("target_info", attrs...)
}

// nameAttr logs a name from the peer, cut to 64 bytes: a message may carry
// names of up to 64 KiB, and a log is no place for them.
func nameAttr(key, s string) slog.Attr {
	const max = 64
	if len(s) > max {
		i := max
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i] + "…"
	}
	return slog.String(key, s)
}
