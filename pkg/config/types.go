package config

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// The value types below implement encoding.TextUnmarshaler so that the
// TOML decoder itself reports a bad value with its line number.

// Duration is a time.Duration written as "30s", "5m", "3h".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (write it like \"30s\", \"5m\" or \"3h\")", b)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// LogLevel is a slog level named debug, info, warn or error.
type LogLevel slog.Level

func (l *LogLevel) UnmarshalText(b []byte) error {
	var v slog.Level
	switch strings.ToLower(string(b)) {
	case "debug":
		v = slog.LevelDebug
	case "info":
		v = slog.LevelInfo
	case "warn", "warning":
		v = slog.LevelWarn
	case "error":
		v = slog.LevelError
	default:
		return fmt.Errorf("log_level %q: use debug, info, warn or error", b)
	}
	*l = LogLevel(v)
	return nil
}

// Level returns l as a slog.Level.
func (l LogLevel) Level() slog.Level { return slog.Level(l) }

// LogFormat is how log lines are written.
type LogFormat string

const (
	LogText LogFormat = "text" // logfmt: time=... level=INFO msg=... key=value
	LogJSON LogFormat = "json" // one JSON object per line
)

func (f *LogFormat) UnmarshalText(b []byte) error {
	switch v := LogFormat(strings.ToLower(string(b))); v {
	case LogText, LogJSON:
		*f = v
		return nil
	}
	return fmt.Errorf("log_format %q: use text or json", b)
}

// Scheme is an HTTP authentication scheme the authorizer can offer.
type Scheme string

const (
	SchemeNTLM      Scheme = "ntlm"
	SchemeNegotiate Scheme = "negotiate"
	SchemeBasic     Scheme = "basic"
)

func (s *Scheme) UnmarshalText(b []byte) error {
	switch v := Scheme(strings.ToLower(string(b))); v {
	case SchemeNTLM, SchemeNegotiate, SchemeBasic:
		*s = v
		return nil
	}
	return fmt.Errorf("scheme %q: use ntlm, negotiate or basic", b)
}

// ChannelBinding is how Extended Protection treats a login's TLS channel
// binding (MsvAvChannelBindings); the names are IIS's Off, Accept and
// Required.
type ChannelBinding string

const (
	// ChannelBindingDefault (channel_binding not set) checks a new login
	// over HTTPS as when-sent, with its target name only where
	// auth.server_names lists the site's names (a client reaching the site
	// by a ServerAlias would otherwise be refused on upgrade); over plain
	// HTTP it is off, and so it is for a connection's later requests and
	// the login cookie. Clients that send no binding are not affected; one
	// bound to another certificate (a login relayed from another TLS
	// server) is refused.
	ChannelBindingDefault ChannelBinding = ""
	// ChannelBindingOff checks neither binding nor target name.
	ChannelBindingOff ChannelBinding = "off"
	// ChannelBindingWhenSent checks a binding the client sent, and the
	// target name it sent; a client that sends none logs in.
	ChannelBindingWhenSent ChannelBinding = "when-sent"
	// ChannelBindingRequired also refuses, over HTTPS, a login without a
	// binding, and over plain HTTP one with a binding.
	ChannelBindingRequired ChannelBinding = "required"
)

// ParseChannelBinding reads a channel_binding value (also what Apache's
// CHANNEL_BINDING variable holds per location).
func ParseChannelBinding(s string) (ChannelBinding, error) {
	switch v := ChannelBinding(strings.ToLower(strings.TrimSpace(s))); v {
	case ChannelBindingOff, ChannelBindingWhenSent, ChannelBindingRequired:
		return v, nil
	}
	return "", fmt.Errorf("channel_binding %q: use off, when-sent or required", s)
}

func (c *ChannelBinding) UnmarshalText(b []byte) error {
	v, err := ParseChannelBinding(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// NameFormat is the form of REMOTE_USER.
type NameFormat string

const (
	NameSAM   NameFormat = "sam"   // jdoe
	NameLogon NameFormat = "logon" // EXAMPLE\jdoe
	NameUPN   NameFormat = "upn"   // jdoe@example.test
)

func (f *NameFormat) UnmarshalText(b []byte) error {
	switch v := NameFormat(strings.ToLower(string(b))); v {
	case NameSAM, NameLogon, NameUPN:
		*f = v
		return nil
	}
	return fmt.Errorf("name_format %q: use sam, logon or upn", b)
}

// lineOf finds the line that defines key, for messages about keys the TOML
// decoder accepted but we refuse. BurntSushi/toml keeps key positions
// private, so this is a small scan of the file: good enough to point a
// person at the right line, and 0 when it cannot tell.
func lineOf(data []byte, key toml.Key) int {
	if len(key) == 0 {
		return 0
	}
	table, name := strings.Join(key[:len(key)-1], "."), key[len(key)-1]
	cur := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			h := strings.Trim(line, "[] \t")
			if i := strings.IndexByte(h, '#'); i >= 0 {
				h = strings.Trim(h[:i], "[] \t")
			}
			cur = h
			if cur == strings.Join(key, ".") {
				return n
			}
			continue
		}
		if cur != table {
			continue
		}
		if k, _, ok := strings.Cut(line, "="); ok && strings.Trim(strings.TrimSpace(k), `"'`) == name {
			return n
		}
	}
	return 0
}

// headerLine finds the line of the i-th [[table]] header.
func headerLine(data []byte, table string, i int) int {
	sc := bufio.NewScanner(bytes.NewReader(data))
	seen := 0
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[[") && strings.TrimSpace(strings.Trim(strings.SplitN(line, "#", 2)[0], "[] \t")) == table {
			if seen == i {
				return n
			}
			seen++
		}
	}
	return 0
}

// domainKeyLine finds key in the i-th [[domain]] table; its header line
// when the key is not written there.
func domainKeyLine(data []byte, i int, key string) int {
	start := headerLine(data, "domain", i)
	if start == 0 {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		if n <= start {
			continue
		}
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			break
		}
		if k, _, ok := strings.Cut(line, "="); ok && strings.Trim(strings.TrimSpace(k), `"'`) == key {
			return n
		}
	}
	return start
}
