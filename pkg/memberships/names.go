package memberships

import (
	"errors"
	"fmt"
	"strings"
)

// ParseNames reads a list of required groups as Apache's configuration
// gives it: the rest of a "Require external-group" line (which
// mod_authnz_external passes on as written, quotes included), or the value
// of REQUIRED_GROUPS. There is one rule, so that no input can match a
// group by a part of its name:
//
//   - a value without quotes is one name, blanks included:
//     Web Users names the group "Web Users", never "Web" or "Users";
//   - several names are each put in double or single quotes, separated by
//     blanks: "Web Users" "PowerUsers". In a value that has quotes, a word
//     outside them is an error, since it would be read as a name of its
//     own.
//
// Blanks around a name are not part of it. Group names (sAMAccountName)
// cannot contain quotes, so no name needs escaping; a DN is written as it
// is. An empty list is an error.
func ParseNames(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("no group named")
	}
	if !strings.ContainsAny(s, `"'`) {
		return []string{s}, nil
	}
	var names []string
	for rest := s; ; {
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			break
		}
		q := rest[0]
		if q != '"' && q != '\'' {
			w, _, _ := strings.Cut(rest, " ")
			return nil, fmt.Errorf("group list %q: %q is not in quotes: when one name is quoted, quote every name", s, w)
		}
		end := strings.IndexByte(rest[1:], q)
		if end < 0 {
			return nil, fmt.Errorf("group list %q: unterminated quote", s)
		}
		name := strings.TrimSpace(rest[1 : 1+end])
		if name == "" {
			return nil, fmt.Errorf("group list %q: empty name", s)
		}
		if strings.ContainsAny(name, `"'`) {
			return nil, fmt.Errorf("group list %q: a quote inside a name (group names cannot hold one)", s)
		}
		names = append(names, name)
		rest = rest[2+end:]
		if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
			return nil, fmt.Errorf("group list %q: no blank after a quoted name", s)
		}
	}
	return names, nil
}
