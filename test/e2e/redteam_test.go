package e2e

import (
	"strings"
	"testing"
)

// Attacks found by the red team (round of issues 11-18), each as it was
// made against the real stack.

// A client must not be able to make the DC look failed: Samba answers
// STATUS_REQUEST_NOT_ACCEPTED (a DC failure, which counts towards marking
// the DC down) to a login whose user ends in '@' and whose domain is
// empty. No password is needed, so three such requests marked the DC
// down for everyone.
func TestNoDCFailureFromClientNames(t *testing.T) {
	s := loadStack(t)
	off := s.logOffset(t)
	for _, user := range []string{"zzz@", "@", "jdoe@"} {
		for i := 0; i < 4; i++ {
			if code := basicCode(t, s, user, "x"); code != 401 {
				t.Errorf("Basic as %q: %d, want 401", user, code)
			}
		}
		last := lastAnswer(curl(t, "-i", "--ntlm", "-u", user+":x", s.url("/private/whoami")))
		if !strings.HasPrefix(last, "HTTP/1.1 401") {
			t.Errorf("NTLM as %q: want 401, got:\n%s", user, last)
		}
	}
	log, _ := s.logSince(t, off)
	if strings.Contains(log, "failed to check a login") || strings.Contains(log, "marked down") {
		t.Errorf("client-chosen names counted against the DC:\n%s", log)
	}
	if code, body := get(t, ntlmClient(nil), s.url("/private/whoami"), `EXAMPLE\jdoe`, users["jdoe"]); code != 200 || body != "jdoe" {
		t.Errorf("jdoe afterwards: %d %q", code, body)
	}
}
