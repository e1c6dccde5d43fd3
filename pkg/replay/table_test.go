package replay

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

var ctx = context.Background()

func key(i int) Key { return sha256.Sum256([]byte(fmt.Sprint("authenticator ", i))) }

// clock is a settable time for Options.Now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestTableReplay(t *testing.T) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	tb := New(Options{Slots: 1024, Now: c.now})
	if err := tb.Add(ctx, key(1), "jdoe", c.t.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := tb.Add(ctx, key(1), "jdoe", c.t.Add(time.Minute)); !errors.Is(err, ErrReplay) {
		t.Fatalf("again: %v, want ErrReplay", err)
	}
	// Another account cannot make a key new either.
	if err := tb.Add(ctx, key(1), "alice", c.t.Add(time.Minute)); !errors.Is(err, ErrReplay) {
		t.Fatalf("as another account: %v, want ErrReplay", err)
	}
	c.t = c.t.Add(time.Minute)
	if err := tb.Add(ctx, key(1), "jdoe", c.t.Add(time.Minute)); err != nil {
		t.Fatalf("once expired: %v", err)
	}
	if tb.Len() != 1 {
		t.Fatalf("%d in use, want 1", tb.Len())
	}
	tb.Close()
	if err := tb.Add(ctx, key(2), "jdoe", c.t.Add(time.Minute)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// The counts stay those of the slots: random adds at random times keep
// live equal to the slots in use and each principal's count to its slots,
// and everything is freed once expired.
func TestTableAccounting(t *testing.T) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	tb := New(Options{Slots: 256, Now: c.now})
	rnd := uint64(1)
	next := func(n uint64) uint64 { rnd = rnd*6364136223846793005 + 1442695040888963407; return (rnd >> 33) % n }
	for i := range 20000 {
		c.t = c.t.Add(50 * time.Millisecond)
		tb.Add(ctx, key(int(next(3000))), fmt.Sprint("u", next(12)), c.t.Add(time.Duration(next(600))*time.Second))
		if i%97 != 0 {
			continue
		}
		used, per := 0, map[uint64]int32{}
		for j := range tb.nslots {
			if s := tb.slot(j); until(s) != 0 {
				used++
				per[binary.LittleEndian.Uint64(s[16:24])]++
			}
		}
		if used != tb.live || len(per) != len(tb.held) || used > tb.full {
			t.Fatalf("step %d: %d slots used, live %d (full %d); %d principals, %d counted", i, used, tb.live, tb.full, len(per), len(tb.held))
		}
		for ph, n := range per {
			if tb.held[ph] != n {
				t.Fatalf("step %d: a principal holds %d slots, counted %d", i, n, tb.held[ph])
			}
		}
	}
	c.t = c.t.Add(time.Hour)
	tb.sweep(c.t.UnixNano(), tb.nslots)
	if tb.live != 0 || len(tb.held) != 0 {
		t.Fatalf("after expiry: live %d, %d principals", tb.live, len(tb.held))
	}
}

// Under pressure the heaviest account is refused (Heavy) and the others
// are not; past 7/8 everyone is.
func TestTablePressure(t *testing.T) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	tb := New(Options{Slots: 4096, Now: c.now})
	until := c.t.Add(time.Minute)
	k := 0
	add := func(who string) error { k++; return tb.Add(ctx, key(k), who, until) }
	for i := range 100 {
		if err := add(fmt.Sprint("light", i)); err != nil {
			t.Fatal(err)
		}
	}
	var busy *BusyError
	for {
		err := add("heavy")
		if err == nil {
			continue
		}
		if !errors.As(err, &busy) || !busy.Heavy || tb.Len() < tb.pressure {
			t.Fatalf("heavy at %d of %d: %v", tb.Len(), tb.nslots, err)
		}
		break
	}
	// The light ones log in until the table is full, then nobody does.
	for i := 0; ; i++ {
		err := add(fmt.Sprint("light", i%100))
		if err == nil {
			continue
		}
		if !errors.As(err, &busy) || busy.Heavy || tb.Len() < tb.nslots*3/4 {
			t.Fatalf("light at %d of %d: %v", tb.Len(), tb.nslots, err)
		}
		break
	}
}

// The file keeps what was added across a restart (Close, Open), and a
// key replayed after it is refused; expired entries are not kept.
func TestFileRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay")
	c := &clock{time.Unix(1_800_000_000, 0)}
	tb, err := Open(path, Options{Slots: 1024, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.Add(ctx, key(1), "jdoe", c.t.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := tb.Add(ctx, key(2), "jdoe", c.t.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{Now: c.now}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a second Open of a file in use: %v", err)
	}
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != headerSize+1024*slotSize {
		t.Fatalf("file %v, %v", fi, err)
	}
	c.t = c.t.Add(2 * time.Second)
	tb, err = Open(path, Options{Slots: 4096, Now: c.now}) // keeps its size
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	if tb.Slots() != 1024 || tb.Len() != 1 {
		t.Fatalf("reopened: %d slots, %d in use; want 1024, 1", tb.Slots(), tb.Len())
	}
	if err := tb.Add(ctx, key(1), "jdoe", c.t.Add(time.Minute)); !errors.Is(err, ErrReplay) {
		t.Fatalf("replayed after the restart: %v", err)
	}
	if err := tb.Add(ctx, key(2), "jdoe", c.t.Add(time.Minute)); err != nil {
		t.Fatalf("expired before the restart: %v", err)
	}
}

// Files another user could have written, or that are no replay file, are
// refused with what to do, and never overwritten.
func TestFileRefused(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	tb, err := Open(good, Options{Slots: 64})
	if err != nil {
		t.Fatal(err)
	}
	tb.Close()
	write := func(name string, b []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	goodBytes, _ := os.ReadFile(good)
	link := filepath.Join(dir, "link")
	os.Symlink(good, link)
	for _, tc := range []struct{ name, path, want string }{
		{"group-writable", write("gw", goodBytes, 0o620), "writable by group or others"},
		{"world-writable", write("ww", goodBytes, 0o606), "writable by group or others"},
		{"symbolic link", link, "symbolic link"},
		{"another file", write("keytab", []byte("\x05\x02 not a replay file"), 0o600), "not a GoAuthenNTLM replay file"},
		{"truncated", write("short", goodBytes[:headerSize+100], 0o600), "truncated"},
		{"a directory", dir, "is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := os.ReadFile(tc.path)
			tb, err := Open(tc.path, Options{})
			if err == nil {
				tb.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
			if cerr := Check(tc.path); cerr == nil || !strings.Contains(cerr.Error(), tc.want) {
				t.Errorf("Check: %v, want %q", cerr, tc.want)
			}
			if after, _ := os.ReadFile(tc.path); string(after) != string(before) {
				t.Error("the file was changed")
			}
		})
	}
	if err := Check(good); err != nil {
		t.Errorf("Check of a good file: %v", err)
	}
	if err := Check(filepath.Join(dir, "new")); err != nil {
		t.Errorf("Check of a file to make: %v", err)
	}
	// A file whose header is zeros (a crash while it was made) is made anew.
	zero := write("zero", make([]byte, 10000), 0o600)
	tb, err = Open(zero, Options{Slots: 64})
	if err != nil {
		t.Fatal(err)
	}
	tb.Close()
}

// A file with slots torn by a power cut (until far in the future) does
// not keep them.
func TestFileTornSlots(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay")
	c := &clock{time.Unix(1_800_000_000, 0)}
	tb, err := Open(path, Options{Slots: 64, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	tb.Close()
	b, _ := os.ReadFile(path)
	for i := range 64 {
		s := b[headerSize+i*slotSize:]
		copy(s, "garbage garbage!")
		binary.LittleEndian.PutUint64(s[24:], uint64(c.t.Add(1000*time.Hour).UnixNano()))
	}
	os.WriteFile(path, b, 0o600)
	tb, err = Open(path, Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	if tb.Len() != 0 {
		t.Fatalf("%d torn slots kept", tb.Len())
	}
}

// BenchmarkTableLoad is the cache alone at 1,000 logins a second spread
// over 2,000 accounts for twice max_clock_skew (5m: 600,000 logins, each
// kept until its time plus the skew), in the default table kept in a
// file: none may be refused. It reports the slots in use at the end, the
// refusals, and the heap and RSS the table took.
func BenchmarkTableLoad(b *testing.B) {
	const skew = 5 * time.Minute
	const rate, accounts = 1000, 2000
	logins := int(2 * skew / time.Second * rate)
	var rss0 int64 = rssKiB()
	for range b.N {
		c := &clock{time.Unix(1_800_000_000, 0)}
		tb, err := Open(filepath.Join(b.TempDir(), "replay"), Options{Now: c.now})
		if err != nil {
			b.Fatal(err)
		}
		names := make([]string, accounts)
		for i := range names {
			names[i] = fmt.Sprintf("S-1-5-21-1-2-3-%d", 1000+i)
		}
		refused := 0
		b.ResetTimer()
		for i := range logins {
			c.t = c.t.Add(time.Second / rate)
			// A client clock up to the skew off either way.
			off := time.Duration(i%601-300) * time.Second
			if err := tb.Add(ctx, key(i), names[i%accounts], c.t.Add(off+skew)); err != nil {
				refused++
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(refused), "refused")
		b.ReportMetric(float64(tb.Len()), "live")
		b.ReportMetric(float64(rssKiB()-rss0)/1024, "rss-MiB")
		if refused > 0 {
			b.Fatalf("%d of %d logins refused", refused, logins)
		}
		tb.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*logins), "ns/login")
}

// BenchmarkAdd is one Add in a table kept in a file, half full, of keys
// and account names made beforehand.
func BenchmarkAdd(b *testing.B) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	tb, err := Open(filepath.Join(b.TempDir(), "replay"), Options{Now: c.now})
	if err != nil {
		b.Fatal(err)
	}
	defer tb.Close()
	for i := range DefaultSlots / 2 {
		tb.Add(ctx, key(-i-1), "warm", c.t.Add(time.Hour))
	}
	const n = 1 << 16
	keys, names := make([]Key, n), make([]string, 2000)
	for i := range keys {
		keys[i] = key(i)
	}
	for i := range names {
		names[i] = fmt.Sprintf("S-1-5-21-1-2-3-%d", 1000+i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// Past n keys, the clock moves on an hour: the table empties.
		if i%n == 0 {
			c.t = c.t.Add(time.Hour)
		}
		if err := tb.Add(ctx, keys[i%n], names[i%len(names)], c.t.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// rssKiB is this process's resident set (VmRSS), 0 where unknown.
func rssKiB() int64 {
	if runtime.GOOS != "linux" {
		return 0
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			var n int64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &n)
			return n
		}
	}
	return 0
}
