package migrate

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func TestSplitWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`PerlAddVar ntdomain "EXAMPLE  dc1 dc2"`, []string{"PerlAddVar", "ntdomain", "EXAMPLE  dc1 dc2"}},
		{`Require user EXAMPLE\jdoe`, []string{"Require", "user", `EXAMPLE\jdoe`}},
		{`Require user EXAMPLE\\jdoe`, []string{"Require", "user", `EXAMPLE\jdoe`}},
		{`AuthName "say \"hi\""`, []string{"AuthName", `say "hi"`}},
		{`AuthName 'it''s'`, []string{"AuthName", "it", "s"}},
		{`AuthName "a\b"`, []string{"AuthName", `a\b`}},
		{`AuthName "open`, []string{"AuthName", "open"}},
		{"a\tb  c", []string{"a", "b", "c"}},
		{`x "" y`, []string{"x", "", "y"}},
	} {
		if got := splitWords(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitWords(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func parseMap(t *testing.T, files map[string]string, first string) ([]*Directive, []Finding, error) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys[strings.TrimPrefix(name, "/")] = &fstest.MapFile{Data: []byte(body)}
	}
	p := &Parser{FS: fsys}
	return p.Parse(first)
}

func TestParseStructure(t *testing.T) {
	ds, _, err := parseMap(t, map[string]string{"/etc/a.conf": "# comment\n" +
		"ServerName x\n" +
		"<Location /a>\n" +
		"    Require user \\\n" +
		"        jdoe bob\n" +
		"  <IfModule mod_perl.c>\n" +
		"    PerlSetVar x y\n" +
		"  </IfModule>\n" +
		"</location>\n"}, "/etc/a.conf")
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || !ds[1].Section || !ds[1].Is("location") {
		t.Fatalf("top level: %+v", ds)
	}
	loc := ds[1]
	if loc.Pos.Line != 3 || len(loc.Children) != 2 {
		t.Fatalf("location: %+v", loc)
	}
	req := loc.Children[0]
	if req.Pos.Line != 4 || !reflect.DeepEqual(req.Args, []string{"user", "jdoe", "bob"}) {
		t.Errorf("continued line: %+v", req)
	}
	if c := loc.Children[1]; c.Children[0].Pos.Line != 7 || c.EndRaw != "</IfModule>" {
		t.Errorf("nested: %+v", c)
	}
}

func TestParseIncludes(t *testing.T) {
	files := map[string]string{
		"/srv/httpd.conf":     "ServerRoot /srv\nInclude conf.d/*.conf\nIncludeOptional none/*.conf\n<VirtualHost *:80>\nInclude sites\n</VirtualHost>\nInclude missing.conf\n",
		"/srv/conf.d/b.conf":  "B 1\n",
		"/srv/conf.d/a.conf":  "A 1\n",
		"/srv/conf.d/skip.x":  "X 1\n",
		"/srv/sites/one.conf": "<Location /one>\nOne\n</Location>\n",
		"/srv/sites/two.conf": "Two\n",
	}
	ds, fs, err := parseMap(t, files, "/srv/httpd.conf")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
	}
	if want := []string{"ServerRoot", "A", "B", "VirtualHost"}; !reflect.DeepEqual(names, want) {
		t.Errorf("top level %q, want %q (sorted glob, non-matching names left out)", names, want)
	}
	vh := ds[3]
	if len(vh.Children) != 2 || vh.Children[0].Pos.File != "/srv/sites/one.conf" || vh.Children[1].Name != "Two" {
		t.Errorf("directory include inside a section: %+v", vh.Children)
	}
	if len(fs) != 2 || fs[0].Level != Note || fs[1].Level != Problem || fs[1].Pos.Line != 7 {
		t.Errorf("findings: %v", fs)
	}
}

func TestParseErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		files map[string]string
		want  string
	}{
		"unclosed":   {map[string]string{"/a": "<Location /x>\nA\n"}, "/a:1: <Location> is never closed"},
		"mismatch":   {map[string]string{"/a": "<Location /x>\n</Directory>\n"}, "/a:2: </Directory> closes <Location>"},
		"stray":      {map[string]string{"/a": "</Location>\n"}, "without an open section"},
		"no bracket": {map[string]string{"/a": "<Location /x\n</Location>\n"}, "must end with >"},
		"loop":       {map[string]string{"/a": "Include /b\n", "/b": "Include /a\n"}, "included from itself"},
		"self":       {map[string]string{"/a": "Include /a\n"}, "included from itself"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := parseMap(t, tc.files, "/a")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// A file that is not configuration (Include /etc/shadow, a key) is
// refused at its first line, and the error does not repeat its text.
func TestParseRefusesNonConfig(t *testing.T) {
	for name, body := range map[string]string{
		"shadow":   "root:$6$S3KRIT:19000:0:99999:7:::\n",
		"pem":      "-----BEGIN PRIVATE KEY-----\nS3KRIT\n",
		"xml":      "<?xml version=\"1.0\"?>\n<pw>S3KRIT</pw>\n",
		"closing":  "<Location /x>\n</S3KRIT:x>\n",
		"later":    "ServerName x\nuser=S3KRIT\n",
		"with BOM": "\ufeffS3KRIT:x\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := parseMap(t, map[string]string{"/a": "<Location /a>\nInclude /b\n</Location>\n", "/b": body}, "/a")
			if err == nil || !strings.Contains(err.Error(), "/b:") || !strings.Contains(err.Error(), "not Apache configuration") || strings.Contains(err.Error(), "S3KRIT") {
				t.Errorf("err = %v", err)
			}
		})
	}
	// A byte order mark before real configuration is skipped, as Apache does.
	if _, _, err := parseMap(t, map[string]string{"/a": "\ufeffServerName x\n"}, "/a"); err != nil {
		t.Errorf("BOM: %v", err)
	}
}

func TestParseBounds(t *testing.T) {
	// A chain of 40 distinct files: refused at the depth bound, not by
	// running out of stack or time.
	files := map[string]string{}
	for i := 0; i < 40; i++ {
		files["/f"+strings.Repeat("x", i)] = "Include /f" + strings.Repeat("x", i+1) + "\n"
	}
	_, _, err := parseMap(t, files, "/f")
	if err == nil || !strings.Contains(err.Error(), "deeper than 16") {
		t.Errorf("err = %v", err)
	}
	// Fan-out: each file includes the next level twice by glob.
	files = map[string]string{}
	for i := 0; i < 12; i++ {
		for _, s := range []string{"a", "b"} {
			files["/l"+string(rune('a'+i))+"/"+s] = "Include /l" + string(rune('a'+i+1)) + "/*\n"
		}
	}
	files["/top"] = "Include /la/*\n"
	_, _, err = parseMap(t, files, "/top")
	var se *SyntaxError
	if err == nil || !errors.As(err, &se) || !strings.Contains(err.Error(), "more than 1000 files") {
		t.Errorf("fan-out: err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("<Location /a>\nPythonAuthenHandler pyntlm\nRequire user a,b\n</Location>\n")
	f.Add("A \"b\\\" c\" 'd'\\\n e\n<X y>\n</X>\n")
	f.Add("Include /a\n")
	f.Fuzz(func(t *testing.T, data string) {
		ds, _, err := parseMap(t, map[string]string{"/a": data}, "/a")
		if err != nil {
			return
		}
		lines := strings.Count(data, "\n") + 1
		var walk func([]*Directive)
		walk = func(ds []*Directive) {
			for _, d := range ds {
				if d.Pos.Line < 1 || d.Pos.Line > lines || d.Name == "" {
					t.Fatalf("bad directive %+v", d)
				}
				walk(d.Children)
			}
		}
		walk(ds)
	})
}
