package sdnotify

import (
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

func TestNotify(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := Notify("READY=1"); err != nil {
		t.Errorf("without NOTIFY_SOCKET: %v, want nil", err)
	}

	path := filepath.Join(t.TempDir(), "notify")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	if err := Notify("RELOADING=1"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := l.Read(buf)
	if err != nil || string(buf[:n]) != "RELOADING=1" {
		t.Errorf("read %q, %v; want RELOADING=1", buf[:n], err)
	}
}

// Files takes the descriptors meant for this process only, and leaves no
// LISTEN_ variable behind for a child to take.
func TestFiles(t *testing.T) {
	for _, tt := range []struct {
		name, pid, fds string
		want           int
		err            bool
	}{
		{"none", "", "", 0, false},
		{"another process's", "1", "1", 0, false},
		{"ours, none passed", strconv.Itoa(os.Getpid()), "0", 0, false},
		{"ours, two", strconv.Itoa(os.Getpid()), "2", 2, false},
		{"ours, nonsense", strconv.Itoa(os.Getpid()), "x", 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LISTEN_PID", tt.pid)
			t.Setenv("LISTEN_FDS", tt.fds)
			t.Setenv("LISTEN_FDNAMES", "a:b")
			files, err := Files()
			if len(files) != tt.want || (err != nil) != tt.err {
				t.Errorf("Files() = %d files, %v; want %d, error %v", len(files), err, tt.want, tt.err)
			}
			for i, f := range files {
				// Not ours to close: whatever the test binary has there.
				runtime.SetFinalizer(f, nil)
				if f.Fd() != uintptr(3+i) {
					t.Errorf("file %d has descriptor %d", i, f.Fd())
				}
			}
			for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
				if _, ok := os.LookupEnv(k); ok {
					t.Errorf("%s still set", k)
				}
			}
		})
	}
}
