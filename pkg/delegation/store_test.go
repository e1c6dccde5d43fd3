package delegation

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goauthenntlm/goauthenntlm/pkg/ccache"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/types"
)

// dir makes a directory as the Store wants it, with this process's group
// standing in for the application's.
func dir(t *testing.T) string {
	d := filepath.Join(t.TempDir(), "cc")
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o710|fs.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	return d
}

var gid = strconv.Itoa(os.Getegid())

func jdoe() ccache.Principal {
	return ccache.Principal{Realm: "EXAMPLE.TEST", Name: types.NewPrincipalName(1, "jdoe")}
}

func tgt(end time.Time) []ccache.Credential {
	return []ccache.Credential{{
		Client: jdoe(), Server: ccache.Principal{Realm: "EXAMPLE.TEST", Name: types.NewPrincipalName(2, "krbtgt/EXAMPLE.TEST")},
		Key: types.EncryptionKey{KeyType: 18, KeyValue: make([]byte, 32)}, AuthTime: end.Add(-time.Hour), StartTime: end.Add(-time.Hour), EndTime: end,
		Flags: 0x40000000, Ticket: []byte{0x61, 0x00},
	}}
}

func TestCheckDir(t *testing.T) {
	g := os.Getegid()
	for _, tc := range []struct {
		name string
		make func(t *testing.T) string
		want string
	}{
		{"good", dir, ""},
		{"relative", func(t *testing.T) string { return "cc" }, "absolute"},
		{"missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "none") }, "install -d"},
		{"others read", func(t *testing.T) string { d := dir(t); os.Chmod(d, 0o715|fs.ModeSetgid); return d }, "open to other users"},
		{"group writes", func(t *testing.T) string { d := dir(t); os.Chmod(d, 0o770|fs.ModeSetgid); return d }, "writable by its group"},
		{"not setgid", func(t *testing.T) string { d := dir(t); os.Chmod(d, 0o710); return d }, "not setgid"},
		{"link", func(t *testing.T) string {
			d := dir(t)
			l := filepath.Join(t.TempDir(), "link")
			os.Symlink(d, l)
			return l
		}, "not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckDir(tc.make(t), g, os.Geteuid())
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	if err := CheckDir(dir(t), g+1, os.Geteuid()); err == nil || !strings.Contains(err.Error(), "not delegation.app_group") {
		t.Errorf("other group: %v", err)
	}
}

func TestStoreLifetime(t *testing.T) {
	d := dir(t)
	// A file an earlier run left, and someone else's file, which stays.
	os.WriteFile(filepath.Join(d, filePrefix+"old"), nil, 0o600)
	os.WriteFile(filepath.Join(d, "other"), nil, 0o600)
	s, err := Open(Options{Dir: d, Group: gid, Max: 2, Idle: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d, filePrefix+"old")); !os.IsNotExist(err) {
		t.Error("the earlier run's file is still there")
	}
	if _, err := os.Stat(filepath.Join(d, "other")); err != nil {
		t.Error("a file not the Store's was removed")
	}
	now := time.Now()
	p1, err := s.Write(jdoe(), tgt(now.Add(time.Hour)), now)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(p1)
	if err != nil || fi.Mode().Perm() != 0o640 || func() bool { _, g, ok := fileOwner(fi); return !ok || g != os.Getegid() }() {
		t.Fatalf("file %v %v", fi.Mode(), err)
	}
	cc, err := credentials.LoadCCache(p1)
	if err != nil || cc.GetClientPrincipalName().PrincipalNameString() != "jdoe" {
		t.Fatalf("read back: %v", err)
	}
	p2, err := s.Write(jdoe(), tgt(now.Add(2*time.Minute)), now)
	if err != nil || p2 == p1 {
		t.Fatalf("second file %q: %v", p2, err)
	}
	if _, err := s.Write(jdoe(), tgt(now.Add(time.Hour)), now); !errors.Is(err, ErrFull) {
		t.Fatalf("over max: %v", err)
	}
	if !s.Use(p1, now.Add(50*time.Second)) || !s.Use(p2, now.Add(50*time.Second)) || s.Use(filepath.Join(d, "other"), now) {
		t.Fatal("Use")
	}
	// p2's ticket ends at +2m: gone then though used; p1 stays while used.
	s.Sweep(now.Add(100 * time.Second))
	s.Use(p1, now.Add(100*time.Second))
	if s.Use(p2, now.Add(2*time.Minute)) {
		t.Error("a file whose ticket ended is handed out")
	}
	s.Sweep(now.Add(2 * time.Minute))
	if _, err := os.Stat(p2); !os.IsNotExist(err) || s.Len() != 1 {
		t.Errorf("ended file: %v, %d held", err, s.Len())
	}
	// Idle for more than a minute: gone.
	s.Sweep(now.Add(100*time.Second + 61*time.Second))
	if _, err := os.Stat(p1); !os.IsNotExist(err) || s.Use(p1, now.Add(162*time.Second)) {
		t.Errorf("idle file: %v", err)
	}
	p3, _ := s.Write(jdoe(), tgt(now.Add(time.Hour)), now)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p3); !os.IsNotExist(err) {
		t.Error("Close left a file")
	}
}

// A file planted at a would-be path (a link to a file the daemon can
// write) is never written through.
func TestStoreNoFollow(t *testing.T) {
	d := dir(t)
	s, err := Open(Options{Dir: d, Group: gid})
	if err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("keep"), 0o600)
	p := filepath.Join(d, filePrefix+"planted")
	os.Symlink(victim, p)
	if err := s.create(p, []byte("overwritten")); err == nil {
		t.Fatal("wrote through a link")
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Fatalf("victim now %q", b)
	}
}

// One account cannot fill the directory: every new connection of a
// delegating client (Apache closes idle ones after seconds) wrote one more
// file, so one user looping over new connections, or a few busy browsers,
// took all of max_ccaches within the idle time and every other user's
// login got no credentials (ErrFull). Past PerUser files the account's
// least recently used one makes room (fails on the old code: ErrFull for
// both).
func TestStoreOneAccountCannotFillIt(t *testing.T) {
	s, err := Open(Options{Dir: dir(t), Group: gid, Max: 20, PerUser: 4, Idle: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	mallory := ccache.Principal{Realm: "EXAMPLE.TEST", Name: types.NewPrincipalName(1, "mallory")}
	var paths []string
	for i := range 30 {
		creds := tgt(now.Add(time.Hour))
		creds[0].Client = mallory
		p, err := s.Write(mallory, creds, now.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatalf("mallory's file %d: %v", i, err)
		}
		paths = append(paths, p)
		if i == 26 {
			// A file in use (a connection still open) is not the one to go.
			s.Use(paths[26], now.Add(30*time.Second))
		}
	}
	// The same account in another case is the same account.
	upper := ccache.Principal{Realm: "example.test", Name: types.NewPrincipalName(1, "MALLORY")}
	if _, err := s.Write(upper, tgt(now.Add(time.Hour)), now.Add(31*time.Second)); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 4 {
		t.Errorf("%d files held, want mallory's 4", s.Len())
	}
	if _, err := os.Stat(paths[0]); !os.IsNotExist(err) || s.Use(paths[0], now.Add(31*time.Second)) {
		t.Errorf("mallory's oldest file is still there: %v", err)
	}
	if !s.Use(paths[29], now.Add(31*time.Second)) || !s.Use(paths[26], now.Add(31*time.Second)) {
		t.Error("mallory's newest and most recently used files went")
	}
	if _, err := s.Write(jdoe(), tgt(now.Add(time.Hour)), now.Add(31*time.Second)); err != nil {
		t.Fatalf("jdoe after mallory: %v", err)
	}
}

// A burst of one account's logins past PerUser leaves no file on disk
// that the Store does not hold: a file being written is never the one
// that makes room (removed before it existed, it was made afterwards and
// left to nobody until the next start, one more per race).
func TestStoreBurstLeavesNoOrphan(t *testing.T) {
	d := dir(t)
	s, err := Open(Options{Dir: d, Group: gid, PerUser: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				s.Write(jdoe(), tgt(now.Add(time.Hour)), now)
			}
		}()
	}
	wg.Wait()
	ents, err := os.ReadDir(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != s.Len() || s.Len() > 2 {
		t.Fatalf("%d files in the directory, %d held (at most 2)", len(ents), s.Len())
	}
}
