package memberships

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// SocketName is the Unix socket, in the cache directory, on which the
// authorizer answers ntlm-group-check's questions the cache cannot: the
// authorizer asks the directory, writes the entry, and answers. It accepts
// only the users it is configured to serve (SO_PEERCRED), so the socket
// may be world-writable, as connecting to it requires.
const SocketName = ".ask.sock"

// The exchange, one per connection: the question is two lines, exactly
// what mod_authnz_external gives ntlm-group-check ("user\ngroups\n"); the
// answer is one line, "member", "not-member", or "error: why".
const (
	answerMember    = "member"
	answerNotMember = "not-member"
	answerError     = "error: "
	// maxQuestion bounds a question: a user name and a Require line.
	maxQuestion = 64 << 10
)

// ErrAuthorizer wraps an error the authorizer answered with (as opposed to
// not being reachable).
var ErrAuthorizer = errors.New("authorizer")

// Ask asks the authorizer listening on socket whether user is in any of
// the groups (a list as ParseNames reads it), waiting at most timeout.
func Ask(socket, user, groups string, timeout time.Duration) (member bool, err error) {
	conn, err := dialUnix(socket, timeout)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if err := WriteQuestion(conn, user, groups); err != nil {
		return false, err
	}
	line, err := bufio.NewReader(io.LimitReader(conn, 4096)).ReadString('\n')
	if err != nil {
		return false, fmt.Errorf("reading the answer: %w", err)
	}
	line = strings.TrimSuffix(line, "\n")
	switch {
	case line == answerMember:
		return true, nil
	case line == answerNotMember:
		return false, nil
	case strings.HasPrefix(line, answerError):
		return false, fmt.Errorf("%w: %s", ErrAuthorizer, strings.TrimPrefix(line, answerError))
	}
	return false, fmt.Errorf("unexpected answer %q", line)
}

// WriteQuestion sends a question. Neither part may hold a line break.
func WriteQuestion(w io.Writer, user, groups string) error {
	if strings.ContainsAny(user, "\r\n") || strings.ContainsAny(groups, "\r\n") {
		return errors.New("line break in user or groups")
	}
	_, err := io.WriteString(w, user+"\n"+groups+"\n")
	return err
}

// ReadQuestion reads a question as WriteQuestion sent it.
func ReadQuestion(r io.Reader) (user, groups string, err error) {
	br := bufio.NewReader(io.LimitReader(r, maxQuestion))
	if user, err = br.ReadString('\n'); err != nil {
		return "", "", fmt.Errorf("reading the user: %w", err)
	}
	if groups, err = br.ReadString('\n'); err != nil {
		return "", "", fmt.Errorf("reading the groups: %w", err)
	}
	return strings.TrimSuffix(user, "\n"), strings.TrimSuffix(groups, "\n"), nil
}

// WriteAnswer sends the answer to a question: err, if not nil, else
// member.
func WriteAnswer(w io.Writer, member bool, err error) error {
	line := answerNotMember
	switch {
	case err != nil:
		line = answerError + strings.NewReplacer("\r", " ", "\n", " ").Replace(err.Error())
	case member:
		line = answerMember
	}
	_, werr := io.WriteString(w, line+"\n")
	return werr
}
