package adgroup

import (
	"errors"
	"testing"
)

// FuzzDecodeEntry feeds arbitrary bytes to the cache file decoder, which
// reads files another process (or damage) may have written. It must not
// panic, must wrap ErrCorrupt on every rejection, and whatever it accepts
// must belong to the requested user and survive a re-encode unchanged.
// Seeds live in testdata/fuzz/FuzzDecodeEntry.
func FuzzDecodeEntry(f *testing.F) {
	f.Add([]byte(`{"v":1,"user":"jdoe","domain":"EXAMPLE","fetched":"2026-05-01T12:00:00Z","unknown":false,"groups":[{"sam":"WebUsers","cn":"WebUsers","dn":"CN=WebUsers,CN=Users,DC=example,DC=test"}]}`), "jdoe", "EXAMPLE")
	f.Fuzz(func(t *testing.T, data []byte, user, domain string) {
		e, err := decodeEntry(data, user, domain)
		if err != nil {
			if e != nil || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeEntry = %v, %v", e, err)
			}
			return
		}
		if e == nil || e.User == "" || e.Fetched.IsZero() || (e.Unknown && len(e.Groups) > 0) {
			t.Fatalf("accepted invalid entry %+v", e)
		}
		enc, err := encodeEntry(e)
		if err != nil {
			t.Fatalf("accepted entry does not encode: %v", err)
		}
		e2, err := decodeEntry(enc, user, domain)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if e2.User != e.User || e2.Domain != e.Domain || !e2.Fetched.Equal(e.Fetched) || e2.Unknown != e.Unknown || len(e2.Groups) != len(e.Groups) {
			t.Fatalf("round trip changed %+v to %+v", e, e2)
		}
		for i := range e.Groups {
			if e.Groups[i] != e2.Groups[i] {
				t.Fatalf("group %d: %+v != %+v", i, e.Groups[i], e2.Groups[i])
			}
		}
	})
}
