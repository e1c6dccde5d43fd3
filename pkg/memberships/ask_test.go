package memberships

import (
	"errors"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"
)

func TestAsk(t *testing.T) {
	sock := filepath.Join(t.TempDir(), SocketName)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			user, groups, err := ReadQuestion(c)
			switch {
			case err != nil:
			case user == "silent":
				// Says nothing until the asker gives up (or for 30 s).
				c.SetReadDeadline(time.Now().Add(30 * time.Second))
				io.Copy(io.Discard, c)
			case user == "broken":
				WriteAnswer(c, false, errors.New("LDAP down\nsecond line"))
			default:
				WriteAnswer(c, user == "jdoe" && groups == `"Web Editors"`, nil)
			}
			c.Close()
		}
	}()
	if m, err := Ask(sock, "jdoe", `"Web Editors"`, time.Second); !m || err != nil {
		t.Errorf("jdoe: %v %v", m, err)
	}
	if m, err := Ask(sock, "alice", `"Web Editors"`, time.Second); m || err != nil {
		t.Errorf("alice: %v %v", m, err)
	}
	if _, err := Ask(sock, "broken", "x", time.Second); !errors.Is(err, ErrAuthorizer) {
		t.Errorf("an error answer: %v", err)
	}
	start := time.Now()
	// Only an Ask that ignored its timeout waits 30 s for the server.
	if _, err := Ask(sock, "silent", "x", 200*time.Millisecond); err == nil || time.Since(start) > 20*time.Second {
		t.Errorf("silent authorizer: %v after %v", err, time.Since(start))
	}
	if _, err := Ask(filepath.Join(t.TempDir(), "none"), "jdoe", "x", time.Second); err == nil || errors.Is(err, ErrAuthorizer) {
		t.Errorf("no socket: %v", err)
	}
	if _, err := Ask(sock, "jdoe\nWebUsers", "x", time.Second); err == nil {
		t.Error("a user with a line break was sent")
	}
}
