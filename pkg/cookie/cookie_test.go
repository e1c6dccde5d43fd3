package cookie

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log"
	"net/http"
	"strings"
	"testing"
	"time"
)

var (
	secretA = bytes.Repeat([]byte("A"), 32)
	secretB = []byte("a different secret, long enough for HMAC")
	t0      = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func mustCodec(t testing.TB, name string, secrets ...[]byte) *Codec {
	t.Helper()
	c, err := NewCodec(name, 0, secrets)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func login(user, domain string) Login {
	return Login{User: user, Domain: domain, Issued: t0, Expires: t0.Add(8 * time.Hour)}
}

// sign builds an authentic cookie around an arbitrary payload, to reach the
// checks that run after the MAC.
func sign(c *Codec, payload []byte) string {
	return encoding.EncodeToString(c.appendTag(bytes.Clone(payload), c.keys[0].secret, "", payload))
}

// payloadOf lays out a payload by hand, independently of Encode.
func payloadOf(c *Codec, version byte, issued, expires int64, user, domain string) []byte {
	b := []byte{version}
	b = append(b, c.keys[0].id[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(issued))
	b = binary.BigEndian.AppendUint64(b, uint64(expires))
	b = binary.BigEndian.AppendUint16(b, uint16(len(user)))
	b = append(b, user...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(domain)))
	return append(b, domain...)
}

func TestRoundTrip(t *testing.T) {
	c := mustCodec(t, "ntlmlogin", secretA)
	tests := []struct{ name, user, domain string }{
		{"plain", "alice", "CORP"},
		{"dns domain", "bob", "corp.example.com"},
		{"empty domain", "local", ""},
		{"separators", "a;b=c", "x,y\"z\\"},
		{"unicode", "Jürgen Groß 😀", "ДОМЕН"},
		{"control chars", "nul\x00cr\rlf\n", "\t"},
		{"header injection attempt", "x\r\nSet-Cookie: evil=1", "d"},
		{"long", strings.Repeat("u", 300), strings.Repeat("d", 300)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := login(tt.user, tt.domain)
			v := c.Encode(in)
			if v == "" {
				t.Fatal("Encode returned \"\"")
			}
			if len(v) > MaxValueLen {
				t.Fatalf("value of %d bytes", len(v))
			}
			got, err := c.Decode(v, "", t0.Add(time.Hour))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got != in {
				t.Errorf("Decode = %+v, want %+v", got, in)
			}

			// The value survives the trip through Set-Cookie and Cookie
			// headers as a single, unaltered value.
			h := c.SetCookie(v, Options{Path: "/", Secure: true, HTTPOnly: true, SameSite: "Lax", MaxAge: time.Hour})
			if h == "" || strings.ContainsAny(h, "\r\n\x00") || !strings.HasPrefix(h, "ntlmlogin="+v+"; ") {
				t.Fatalf("SetCookie = %q", h)
			}
			sc, err := http.ParseSetCookie(h)
			if err != nil || sc.Name != "ntlmlogin" || sc.Value != v {
				t.Fatalf("ParseSetCookie(%q) = %+v, %v", h, sc, err)
			}
			if vals := FromHeader("a=1; ntlmlogin="+v+"; b=2", "ntlmlogin"); len(vals) != 1 || vals[0] != v {
				t.Fatalf("FromHeader = %q", vals)
			}
		})
	}
}

func TestTimesTruncatedToSeconds(t *testing.T) {
	c := mustCodec(t, "n", secretA)
	in := Login{User: "u", Issued: t0.Add(700 * time.Millisecond), Expires: t0.Add(time.Hour + 300*time.Millisecond)}
	got, err := c.Decode(c.Encode(in), "", t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Issued.Equal(t0) || !got.Expires.Equal(t0.Add(time.Hour)) {
		t.Errorf("times = %v, %v", got.Issued, got.Expires)
	}
}

// TestTamperEveryByte flips bits in every byte of the decoded value. The MAC
// covers version and key id too, so every change must be ErrBadMAC, never a
// parse error that would tell an attacker which field it hit.
func TestTamperEveryByte(t *testing.T) {
	c := mustCodec(t, "n", secretA)
	raw, err := encoding.DecodeString(c.Encode(login("alice", "CORP")))
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for _, bit := range []byte{0x01, 0x80} {
			b := bytes.Clone(raw)
			b[i] ^= bit
			_, err := c.Decode(encoding.EncodeToString(b), "", t0.Add(time.Minute))
			if !errors.Is(err, ErrBadMAC) {
				t.Errorf("byte %d ^ %#x: Decode = %v, want ErrBadMAC", i, bit, err)
			}
		}
	}
}

// TestTamperEveryChar edits the base64 text itself: no edit may yield a
// login; edits of the last character's unused bits are ErrMalformed.
func TestTamperEveryChar(t *testing.T) {
	c := mustCodec(t, "n", secretA)
	v := c.Encode(login("alice", "CORP"))
	for i := range len(v) {
		for _, r := range []byte{'A', 'B', 'z', '-', '_', '9'} {
			if v[i] == r {
				continue
			}
			w := v[:i] + string(r) + v[i+1:]
			_, err := c.Decode(w, "", t0.Add(time.Minute))
			if !errors.Is(err, ErrBadMAC) && !errors.Is(err, ErrMalformed) {
				t.Errorf("char %d -> %q: Decode = %v", i, r, err)
			}
		}
	}
	for n := range len(v) {
		if _, err := c.Decode(v[:n], "", t0.Add(time.Minute)); err == nil {
			t.Errorf("prefix of %d chars decodes", n)
		}
	}
}

func TestKeysAndNames(t *testing.T) {
	now := t0.Add(time.Minute)
	oldC := mustCodec(t, "n", secretA)
	v := oldC.Encode(login("alice", "CORP"))
	tests := []struct {
		name  string
		codec *Codec
		want  error
	}{
		{"same codec", oldC, nil},
		{"rotation keeps the old secret", mustCodec(t, "n", secretB, secretA), nil},
		{"old secret listed first", mustCodec(t, "n", secretA, secretB), nil},
		{"rotated out", mustCodec(t, "n", secretB), ErrBadMAC},
		{"wrong secret", mustCodec(t, "n", bytes.Repeat([]byte("B"), 32)), ErrBadMAC},
		{"other cookie name, same secret", mustCodec(t, "other", secretA), ErrBadMAC},
		{"name differing in case", mustCodec(t, "N", secretA), ErrBadMAC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.codec.Decode(v, "", now)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Decode = %+v, %v; want %v", got, err, tt.want)
			}
			if err != nil && got != (Login{}) {
				t.Errorf("Login %+v returned with error", got)
			}
		})
	}

	// A new cookie from the rotated codec is signed with the new secret:
	// the old codec cannot read it.
	newC := mustCodec(t, "n", secretB, secretA)
	if _, err := oldC.Decode(newC.Encode(login("alice", "CORP")), "", now); !errors.Is(err, ErrBadMAC) {
		t.Errorf("old codec on new cookie: %v, want ErrBadMAC", err)
	}
}

// A wrong secret with the key id of the right one must still fail: the key
// id selects a key, it authenticates nothing.
func TestKeyIDIsNotAuthentication(t *testing.T) {
	c := mustCodec(t, "n", secretA)
	forger := &Codec{name: "n", keys: []key{{id: KeyID(secretA), secret: secretB}}}
	if _, err := c.Decode(forger.Encode(login("admin", "CORP")), "", t0.Add(time.Minute)); !errors.Is(err, ErrBadMAC) {
		t.Errorf("Decode = %v, want ErrBadMAC", err)
	}
}

func TestValidityWindow(t *testing.T) {
	c := mustCodec(t, "n", secretA)
	in := login("alice", "CORP") // [t0, t0+8h)
	v := c.Encode(in)
	tests := []struct {
		name string
		now  time.Time
		want error
	}{
		{"at issue", t0, nil},
		{"within skew before issue", t0.Add(-IssuedSkew), nil},
		{"beyond skew before issue", t0.Add(-IssuedSkew - time.Second), ErrExpired},
		{"far future issue", t0.Add(-24 * time.Hour), ErrExpired},
		{"last second", in.Expires.Add(-time.Second), nil},
		{"last nanosecond", in.Expires.Add(-1), nil},
		{"at expiry", in.Expires, ErrExpired},
		{"after expiry", in.Expires.Add(time.Second), ErrExpired},
		{"year later", t0.AddDate(1, 0, 0), ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Decode(v, "", tt.now)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("Decode at %v = %v, want %v", tt.now, err, tt.want)
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	c := mustCodec(t, "n", secretA)
	good := c.Encode(login("alice", "CORP"))
	i, e := t0.Unix(), t0.Add(time.Hour).Unix()
	tests := []struct {
		name, value string
		want        error
	}{
		{"empty", "", ErrMalformed},
		{"too long", strings.Repeat("A", MaxValueLen+1), ErrMalformed},
		{"not base64", "!!!!", ErrMalformed},
		{"padding", good + "=", ErrMalformed},
		{"standard alphabet", strings.Repeat("+/", 30), ErrMalformed},
		{"newline inside", good[:10] + "\n" + good[10:], ErrMalformed},
		{"space inside", good[:10] + " " + good[10:], ErrMalformed},
		{"quoted", `"` + good + `"`, ErrMalformed},
		{"impossible base64 length", good[:4*((len(good)-1)/4)+1], ErrMalformed},
		{"truncated below header and tag", good[:40], ErrMalformed},
		{"header and tag only", encoding.EncodeToString(make([]byte, headerLen+tagLen)), ErrBadMAC},

		// Authentic payloads our encoder never produces.
		{"version 3", sign(c, payloadOf(c, 3, i, e, "u", "d")), ErrMalformed},
		{"version 1", sign(c, payloadOf(c, 1, i, e, "u", "d")), ErrMalformed},
		{"version 0", sign(c, payloadOf(c, 0, i, e, "u", "d")), ErrMalformed},
		{"no fields", sign(c, payloadOf(c, Version, i, e, "u", "d")[:headerLen]), ErrMalformed},
		{"cut in times", sign(c, payloadOf(c, Version, i, e, "u", "d")[:headerLen+10]), ErrMalformed},
		{"cut in domain", sign(c, payloadOf(c, Version, i, e, "u", "dom")[:headerLen+16+2+1+2+1]), ErrMalformed},
		{"trailing byte", sign(c, append(payloadOf(c, Version, i, e, "u", "d"), 0)), ErrMalformed},
		{"empty user", sign(c, payloadOf(c, Version, i, e, "", "d")), ErrMalformed},
		{"user not UTF-8", sign(c, payloadOf(c, Version, i, e, "\xff", "d")), ErrMalformed},
		{"domain not UTF-8", sign(c, payloadOf(c, Version, i, e, "u", "\xc3")), ErrMalformed},
		{"expires equals issued", sign(c, payloadOf(c, Version, i, i, "u", "d")), ErrMalformed},
		{"expires before issued", sign(c, payloadOf(c, Version, e, i, "u", "d")), ErrMalformed},
		{"issued before 1970", sign(c, payloadOf(c, Version, -1, e, "u", "d")), ErrMalformed},
		{"expires after 9999", sign(c, payloadOf(c, Version, i, maxUnix+1, "u", "d")), ErrMalformed},
		{"hand-built is fine", sign(c, payloadOf(c, Version, i, e, "u", "d")), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Decode(tt.value, "", t0.Add(time.Minute))
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Decode = %+v, %v; want %v", got, err, tt.want)
			}
			// The value must never leak into the error text.
			if err != nil && len(tt.value) > 8 && strings.Contains(err.Error(), tt.value) {
				t.Errorf("error %q contains the cookie value", err)
			}
		})
	}
}

// The hand-built layout and Encode agree byte for byte: the format in the
// package comment is the format on the wire.
func TestLayout(t *testing.T) {
	c := mustCodec(t, "n", secretA)
	l := login("alice", "CORP")
	want := sign(c, payloadOf(c, Version, l.Issued.Unix(), l.Expires.Unix(), l.User, l.Domain))
	if got := c.Encode(l); got != want {
		t.Errorf("Encode = %s, want %s", got, want)
	}
	// HMAC input, computed the long way.
	raw, _ := encoding.DecodeString(want)
	payload := raw[:len(raw)-tagLen]
	m := append([]byte(macLabel+"\x01n\x00\x00\x00\x00\x00"), payload...)
	if !bytes.Equal(raw[len(raw)-tagLen:], hmacSHA256(secretA, m)) {
		t.Error("tag is not HMAC-SHA256(secret, label || len(name) || name || generation || len(browser) || browser || payload)")
	}
}

func TestEncodeRejects(t *testing.T) {
	c := mustCodec(t, "n", secretA)
	tests := []struct {
		name string
		l    Login
	}{
		{"empty user", login("", "CORP")},
		{"user not UTF-8", login("\xff", "CORP")},
		{"domain not UTF-8", login("u", "\xff")},
		{"expires equals issued", Login{User: "u", Issued: t0, Expires: t0}},
		{"expires within the same second", Login{User: "u", Issued: t0, Expires: t0.Add(999 * time.Millisecond)}},
		{"expires before issued", Login{User: "u", Issued: t0, Expires: t0.Add(-time.Hour)}},
		{"zero Issued", Login{User: "u", Expires: t0}},
		{"issued before 1970", Login{User: "u", Issued: time.Unix(-1, 0), Expires: t0}},
		{"expires after 9999", Login{User: "u", Issued: t0, Expires: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"value too long", login(strings.Repeat("u", 800), "")},
		{"user over 64 KiB", login(strings.Repeat("u", 70000), "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v := c.Encode(tt.l); v != "" {
				t.Errorf("Encode = %q, want \"\"", v)
			}
		})
	}
}

func TestNewCodec(t *testing.T) {
	tests := []struct {
		name    string
		cname   string
		secrets [][]byte
		ok      bool
	}{
		{"one secret", "login", [][]byte{secretA}, true},
		{"two secrets", "login", [][]byte{secretA, secretB}, true},
		{"no secret", "login", nil, false},
		{"short secret", "login", [][]byte{secretA[:31]}, false},
		{"short second secret", "login", [][]byte{secretA, []byte("short")}, false},
		{"same secret twice", "login", [][]byte{secretA, bytes.Clone(secretA)}, false},
		{"empty name", "", [][]byte{secretA}, false},
		{"name with space", "a b", [][]byte{secretA}, false},
		{"name with semicolon", "a;b", [][]byte{secretA}, false},
		{"name with equals", "a=b", [][]byte{secretA}, false},
		{"non-ASCII name", "lögin", [][]byte{secretA}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCodec(tt.cname, 0, tt.secrets)
			if (err == nil) != tt.ok {
				t.Fatalf("NewCodec = %v, %v", c, err)
			}
			if err != nil && strings.Contains(err.Error(), string(secretA)) {
				t.Errorf("error %q contains the secret", err)
			}
			if c != nil && c.Name() != tt.cname {
				t.Errorf("Name = %q", c.Name())
			}
		})
	}
}

// NewCodec copies the secrets: a caller zeroing or reusing its buffer must
// not change what the Codec signs with.
func TestNewCodecCopiesSecrets(t *testing.T) {
	s := bytes.Clone(secretA)
	c := mustCodec(t, "n", s)
	v := c.Encode(login("alice", "CORP"))
	clear(s)
	if _, err := c.Decode(v, "", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := mustCodec(t, "n", secretA).Decode(c.Encode(login("bob", "")), "", t0); err != nil {
		t.Fatalf("codec changed its secret: %v", err)
	}
}

func TestKeyID(t *testing.T) {
	h := sha256.Sum256(secretA)
	if id := KeyID(secretA); !bytes.Equal(id[:], h[:4]) {
		t.Errorf("KeyID = %x, want %x", id, h[:4])
	}
	raw, _ := encoding.DecodeString(mustCodec(t, "n", secretB, secretA).Encode(login("u", "")))
	if id := KeyID(secretB); !bytes.Equal(raw[1:5], id[:]) {
		t.Errorf("cookie key id %x, want the first secret's %x", raw[1:5], id)
	}
}

func TestParseSecret(t *testing.T) {
	key32 := bytes.Repeat([]byte{0xfb, 0xff, 0x00, 0x3e}, 8) // '+', '/', '-' and '_' in base64
	key48 := bytes.Repeat([]byte{0x01}, 48)
	text := "correct horse battery staple, and then some"
	hex64 := hex.EncodeToString(key32)
	hexDecoded, _ := base64.StdEncoding.DecodeString(hex64)
	tests := []struct {
		name string
		in   string
		want []byte // nil: error
	}{
		{"std base64", base64.StdEncoding.EncodeToString(key32), key32},
		{"std base64 unpadded", base64.RawStdEncoding.EncodeToString(key32), key32},
		{"url base64", base64.URLEncoding.EncodeToString(key32), key32},
		{"url base64 unpadded", base64.RawURLEncoding.EncodeToString(key32), key32},
		{"base64 with newline and spaces", "  " + base64.StdEncoding.EncodeToString(key48) + "\n", key48},
		{"base64 with CRLF", base64.StdEncoding.EncodeToString(key48) + "\r\n", key48},
		{"text", text + "\n", []byte(text)},
		{"text of exactly 32", strings.Repeat("x", 31) + "!", []byte(strings.Repeat("x", 31) + "!")},
		{"unicode text", "päßwörd päßwörd päßwörd!", []byte("päßwörd päßwörd päßwörd!")},
		{"hex is read as base64", hex64, hexDecoded},
		// 40 base64 characters decode to 30 bytes: too short as a key,
		// long enough as text.
		{"short base64 taken as text", strings.Repeat("abcd", 10), []byte(strings.Repeat("abcd", 10))},
		{"short base64", base64.StdEncoding.EncodeToString(key32[:16]), nil},
		{"short text", "too short", nil},
		{"31 bytes", strings.Repeat("x", 30) + "!", nil},
		{"empty", "", nil},
		{"whitespace only", " \n\t\n", nil},
		{"two lines", text + "\n" + text, nil},
		{"two base64 lines", base64.StdEncoding.EncodeToString(key32) + "\n" + base64.StdEncoding.EncodeToString(key32), nil},
		{"NUL inside", text + "\x00" + text, nil},
		{"not UTF-8", text + "\xff", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSecret([]byte(tt.in))
			if tt.want == nil {
				if err == nil {
					t.Fatalf("ParseSecret = %x, want an error", got)
				}
				if len(tt.in) > 8 && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
					t.Errorf("error %q contains the secret", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("ParseSecret = %x, %v; want %x", got, err, tt.want)
			}
			if _, err := NewCodec("n", 0, [][]byte{got}); err != nil {
				t.Errorf("NewCodec refuses a parsed secret: %v", err)
			}
		})
	}
}

func TestFromHeader(t *testing.T) {
	tests := []struct {
		name, header, cname string
		want                []string
	}{
		{"absent", "a=1; b=2", "login", nil},
		{"empty header", "", "login", nil},
		{"empty name", "login=x", "", nil},
		{"only", "login=abc", "login", []string{"abc"}},
		{"among others", "a=1; login=abc; b=2", "login", []string{"abc"}},
		{"no spaces", "a=1;login=abc;b=2", "login", []string{"abc"}},
		{"extra spaces", "  a=1 ;   login=abc  ;b=2  ", "login", []string{"abc"}},
		{"empty pairs", ";; login=abc;;", "login", []string{"abc"}},
		{"duplicates in order", "login=path; a=1; login=root", "login", []string{"path", "root"}},
		{"quoted", `login="abc"`, "login", []string{"abc"}},
		{"empty value", "login=", "login", nil},
		{"empty value then real", "login=; login=abc", "login", []string{"abc"}},
		{"prefix name", "xlogin=1; login2=2", "login", nil},
		{"case sensitive", "Login=1", "login", nil},
		{"invalid neighbour", "bad name=1; login=abc; c=\"unterminated", "login", []string{"abc"}},
		{"invalid value skipped", "login=a\\b; login=good", "login", []string{"good"}},
		{"no equals", "login; login=abc", "login", []string{"abc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromHeader(tt.header, tt.cname)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("FromHeader(%q, %q) = %q, want %q", tt.header, tt.cname, got, tt.want)
			}
		})
	}
}

func TestSetCookie(t *testing.T) {
	c := mustCodec(t, "login", secretA)
	const v = "AbC-_9"
	tests := []struct {
		name  string
		value string
		o     Options
		want  string
	}{
		{"session cookie", v, Options{}, "login=AbC-_9"},
		{"everything", v, Options{Path: "/", Domain: "example.com", MaxAge: time.Hour, Secure: true, HTTPOnly: true, SameSite: "Lax"},
			"login=AbC-_9; Path=/; Domain=example.com; Max-Age=3600; HttpOnly; Secure; SameSite=Lax"},
		{"strict, lower case", v, Options{SameSite: "strict"}, "login=AbC-_9; SameSite=Strict"},
		{"none with secure", v, Options{SameSite: "None", Secure: true}, "login=AbC-_9; Secure; SameSite=None"},
		{"leading dot domain", v, Options{Domain: ".example.com"}, "login=AbC-_9; Domain=example.com"},
		{"sub-second max age rounds up", v, Options{MaxAge: 500 * time.Millisecond}, "login=AbC-_9; Max-Age=1"},
		{"delete", "", Options{Path: "/", MaxAge: -1}, "login=; Path=/; Max-Age=0"},
		{"expires", v, Options{Expires: t0, MaxAge: time.Hour}, "login=AbC-_9; Expires=Sun, 01 Mar 2026 12:00:00 GMT; Max-Age=3600"},

		{"value with semicolon", "a;b", Options{}, ""},
		{"value with space", "a b", Options{}, ""},
		{"value with equals", "YQ==", Options{}, ""},
		{"value with CRLF", "a\r\nSet-Cookie: x=1", Options{}, ""},
		{"path with semicolon", v, Options{Path: "/;Domain=evil"}, ""},
		{"path with newline", v, Options{Path: "/\n"}, ""},
		{"bad domain", v, Options{Domain: "exa mple.com"}, ""},
		{"domain with semicolon", v, Options{Domain: "a.com;x"}, ""},
		{"unknown samesite", v, Options{SameSite: "Sometimes"}, ""},
		{"none without secure", v, Options{SameSite: "None"}, ""},
		{"expires before 1601", v, Options{Expires: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)}, ""},
	}
	// net/http's Cookie.String logs about values it rewrites; SetCookie
	// must refuse them before that.
	var logged bytes.Buffer
	defer log.SetOutput(log.Writer())
	log.SetOutput(&logged)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.SetCookie(tt.value, tt.o)
			if got != tt.want {
				t.Errorf("SetCookie = %q, want %q", got, tt.want)
			}
			if got != "" {
				if _, err := http.ParseSetCookie(got); err != nil {
					t.Errorf("ParseSetCookie(%q): %v", got, err)
				}
			}
		})
	}
	if logged.Len() > 0 {
		t.Errorf("net/http logged: %s", logged.String())
	}
}

// A login cookie verifies only next to the browser value it was issued
// with (a planted or copied cookie alone proves nothing), and only under
// the generation it was issued in (raising it revokes every cookie).
func TestBrowserAndGeneration(t *testing.T) {
	gen0 := mustCodec(t, "n", secretA)
	gen1, err := NewCodec("n", 1, [][]byte{secretA})
	if err != nil {
		t.Fatal(err)
	}
	l := login("alice", "CORP")
	l.Browser = "browser-of-alice"
	v := gen0.Encode(l)
	now := t0.Add(time.Minute)
	tests := []struct {
		name    string
		codec   *Codec
		browser string
		want    error
	}{
		{"same browser, same generation", gen0, "browser-of-alice", nil},
		{"another browser", gen0, "browser-of-bob", ErrBadMAC},
		{"another browser, same length", gen0, "browser-of-alicE", ErrBadMAC},
		{"no browser value", gen0, "", ErrBadMAC},
		{"browser value with a byte more", gen0, "browser-of-alice\x00", ErrBadMAC},
		{"next generation", gen1, "browser-of-alice", ErrBadMAC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.codec.Decode(v, tt.browser, now)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Decode = %+v, %v; want %v", got, err, tt.want)
			}
			if err == nil && got != l {
				t.Fatalf("Decode = %+v, want %+v", got, l)
			}
		})
	}
}
