//go:build unix

package migrate

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Hostile input: an Include of something that is not a regular file. A
// FIFO blocked the tool forever and /dev/zero read until memory ran out;
// Apache itself refuses both ("not a regular file"), /dev/null excepted.
func TestParseIncludesOnlyRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.conf")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for name, body := range map[string]string{
		"fifo.conf":      "", // made above
		"via-fifo.conf":  "Include " + fifo + "\n",
		"devnull.conf":   "Include /dev/null\nServerName x\n",
		"glob-fifo.conf": "Include " + dir + "/fi*.conf\n",
	} {
		if body != "" {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	parse := func(file string) error {
		done := make(chan error, 1)
		go func() {
			_, _, err := (&Parser{FS: os.DirFS("/")}).Parse(file)
			done <- err
		}()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: still parsing after 20 s (blocked on a FIFO?)", file)
			return nil
		}
	}
	for _, f := range []string{"fifo.conf", "via-fifo.conf", "glob-fifo.conf"} {
		if err := parse(filepath.Join(dir, f)); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: err = %v, want not a regular file", f, err)
		}
	}
	if err := parse(filepath.Join(dir, "devnull.conf")); err != nil {
		t.Errorf("Include /dev/null: %v", err)
	}
}
