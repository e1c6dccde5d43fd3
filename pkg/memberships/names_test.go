package memberships

import (
	"strings"
	"testing"
)

func TestParseNames(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string // nil: an error
	}{
		{"WebUsers", []string{"WebUsers"}},
		{"  WebUsers  ", []string{"WebUsers"}},
		// Unquoted blanks never split: the whole value is one name.
		{"Web Users", []string{"Web Users"}},
		{"Remote Desktop Users", []string{"Remote Desktop Users"}},
		{"WebUsers PowerUsers", []string{"WebUsers PowerUsers"}},
		{"CN=Web Users,OU=Groups,DC=example,DC=test", []string{"CN=Web Users,OU=Groups,DC=example,DC=test"}},
		// Quoted: a list, as Apache's own configuration quoting reads it.
		{`"Web Users"`, []string{"Web Users"}},
		{`"Web Users" "PowerUsers"`, []string{"Web Users", "PowerUsers"}},
		{`'Web Users'  "Power Users"`, []string{"Web Users", "Power Users"}},
		{`"Web Users" 'CN=A B,DC=x'`, []string{"Web Users", "CN=A B,DC=x"}},
		{`" Web Users "`, []string{"Web Users"}},
		// A word outside quotes in a quoted list would be a name of its own.
		{`"Web Users" Power Users`, nil},
		{`WebUsers "Power Users"`, nil},
		{`"Web Users`, nil},
		{`"Web Users"x`, nil},
		{`""`, nil},
		{`"a" ""`, nil},
		{"", nil},
		{"   ", nil},
	} {
		got, err := ParseNames(tt.in)
		if tt.want == nil {
			if err == nil {
				t.Errorf("ParseNames(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("ParseNames(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// FuzzParseNames: whatever the input, no name holds a quote or is blank,
// and an unquoted input is never split.
func FuzzParseNames(f *testing.F) {
	for _, s := range []string{"Web Users", `"Web Users" "X"`, `'a' "b"`, `"`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		names, err := ParseNames(s)
		if err != nil {
			return
		}
		for _, n := range names {
			if n == "" || strings.TrimSpace(n) != n || (strings.ContainsAny(s, `"'`) && strings.ContainsAny(n, `"'`)) {
				t.Fatalf("ParseNames(%q) gave name %q", s, n)
			}
		}
		if !strings.ContainsAny(s, `"'`) && len(names) != 1 {
			t.Fatalf("unquoted %q split into %q", s, names)
		}
	})
}

func TestMemberOfAny(t *testing.T) {
	alice := &Entry{Groups: []Group{
		{SAM: "Domain Users", CN: "Domain Users", DN: "CN=Domain Users,CN=Users,DC=example,DC=test"},
		{SAM: "Users", CN: "Users", DN: "CN=Users,CN=Builtin,DC=example,DC=test"},
	}}
	jdoe := &Entry{Groups: []Group{
		{SAM: "Web Editors", CN: "Web Editors", DN: "CN=Web Editors,CN=Users,DC=example,DC=test"},
		{SAM: "WebUsers", CN: "Web Users CN", DN: "CN=Web Users CN,OU=X,DC=example,DC=test"},
	}}
	names := func(s string) []string {
		n, err := ParseNames(s)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tt := range []struct {
		e    *Entry
		line string
		want bool
	}{
		// The attacks of issue 13: a part of a name never matches.
		{alice, "Web Users", false},
		{alice, "Power Users", false},
		{alice, "Remote Desktop Users", false},
		{alice, `"Web Users" "Power Users"`, false},
		{alice, "Users", true},
		{alice, "users", true},
		{jdoe, "Web Editors", true},
		{jdoe, `"Web Editors"`, true},
		{jdoe, `"Outsiders" "web editors"`, true},
		{jdoe, "Web", false},
		{jdoe, "Editors", false},
		{jdoe, "WebUsers", true},
		// A CN alone never matches; a DN matches whole.
		{jdoe, "Web Users CN", false},
		{jdoe, "CN=Web Users CN,OU=X,DC=example,DC=test", true},
		{jdoe, "cn=web users cn,ou=x,dc=example,dc=test", true},
		{jdoe, "CN=Web Users CN", false},
		{jdoe, "OU=X,DC=example,DC=test", false},
		{&Entry{Unknown: true}, "Users", false},
		{nil, "Users", false},
	} {
		if got := tt.e.MemberOfAny(names(tt.line)); got != tt.want {
			t.Errorf("MemberOfAny(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
}
