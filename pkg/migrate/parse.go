// Package migrate turns an Apache configuration written for the old NTLM
// modules (PyAuthenNTLM2, Apache::AuthenNTLM, Apache2::AuthenNTLM::Cookie)
// into GoAuthenNTLM's: a conf.toml for ntlm-fcgi-authorizer, the old
// blocks rewritten for Apache 2.4 and mod_authnz_fcgi, and a report that
// says, for each old directive and with its file:line, what it became or
// why it has no equivalent.
//
// The parser reads Apache's configuration syntax (directives, sections,
// line continuations, quoting as ap_getword_conf does it, Include and
// IncludeOptional) and nothing else; it does not know which directives
// exist. The translation knows the old modules' options and refuses to
// guess: what it cannot carry over is reported, and the outputs are then
// made to fail their checks (apache2 -t, ntlm-fcgi-authorizer -check)
// rather than mean something else than the old configuration.
package migrate

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
)

// Pos is where a directive was written.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	switch {
	case p.File == "":
		return "(all blocks)"
	case p.Line == 0:
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Directive is one configuration directive, or a section (<Location ...>)
// with the directives inside it.
type Directive struct {
	// Name as written ("PerlSetVar"; "Location" for <Location ...>).
	Name string
	// Args as ap_getword_conf splits them (quotes removed).
	Args []string
	// Raw is the logical line as written (continuations joined, leading
	// blanks removed): kept directives are written back exactly so.
	Raw string
	Pos Pos

	// Section is true for <Name ...> ... </Name>; Children are its body
	// (with included files spliced in) and EndRaw its closing line.
	Section  bool
	Children []*Directive
	EndRaw   string

	// Via is the Include or IncludeOptional that brought d's file in (nil
	// in a file named on the command line); its own Via leads outwards.
	// What came through an Include is kept by reference, never copied.
	Via *Directive
}

// Is reports whether d is the directive or section named name
// (case-insensitive, as Apache compares them).
func (d *Directive) Is(name string) bool { return strings.EqualFold(d.Name, name) }

// Parser reads configuration files. Paths are absolute, slash-separated,
// and looked up in FS without their leading slash (os.DirFS("/") for the
// real file system, fstest.MapFS in tests).
type Parser struct {
	FS fs.FS
	// ServerRoot resolves relative Include paths. Empty: a ServerRoot
	// directive in the files, else the first file's directory.
	ServerRoot string
	// MaxDepth bounds nested Includes (default 16); MaxFiles the files
	// read in all (default 1000); MaxBytes each file's size (default 8 MiB).
	MaxDepth, MaxFiles, MaxBytes int

	files    int
	root     string
	includes []Finding
}

// SyntaxError is configuration text the parser cannot read.
type SyntaxError struct {
	Pos Pos
	Msg string
}

func (e *SyntaxError) Error() string { return e.Pos.String() + ": " + e.Msg }

// Parse reads the files in order, following Include and IncludeOptional,
// and returns their top-level directives. Includes that are missing or
// matched nothing are returned as findings (Apache would refuse a missing
// Include, and the report must say so); unreadable syntax is an error.
func (p *Parser) Parse(files ...string) ([]*Directive, []Finding, error) {
	if p.MaxDepth == 0 {
		p.MaxDepth = 16
	}
	if p.MaxFiles == 0 {
		p.MaxFiles = 1000
	}
	if p.MaxBytes == 0 {
		p.MaxBytes = 8 << 20
	}
	p.root = p.ServerRoot
	if p.root == "" && len(files) > 0 {
		p.root = path.Dir(files[0])
	}
	var out []*Directive
	for _, f := range files {
		ds, err := p.parseFile(f, nil, nil)
		if err != nil {
			return nil, p.includes, err
		}
		if path.Base(f) == ".htaccess" {
			// Its directives apply as a <Directory> of its directory does;
			// written back as one, or pasted into the file again.
			dir := path.Dir(path.Clean(f))
			sec := &Directive{Name: "Directory", Args: []string{dir}, Raw: "<Directory " + apacheQuote(dir) + ">",
				EndRaw: "</Directory>", Section: true, Children: ds, Pos: Pos{f, 1}}
			p.includes = append(p.includes, Finding{Pos: sec.Pos, Level: Note,
				What: "an .htaccess file: read as " + sec.Raw + "; its rewritten block can go back into the file without the <Directory> lines"})
			ds = []*Directive{sec}
		}
		out = append(out, ds...)
	}
	return out, p.includes, nil
}

func (p *Parser) read(name string) ([]byte, error) {
	rel := strings.TrimPrefix(path.Clean(name), "/")
	if rel == "" {
		rel = "."
	}
	// Apache reads regular files only (and /dev/null): a FIFO would
	// block here forever and a device such as /dev/zero never end.
	st, err := fs.Stat(p.FS, rel)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() && path.Clean(name) != "/dev/null" {
		return nil, fmt.Errorf("%s: not a regular file (%s)", name, st.Mode().Type())
	}
	f, err := p.FS.Open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(p.MaxBytes)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > p.MaxBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, p.MaxBytes)
	}
	return b, nil
}

// directiveName is what Apache's directive and section names look like.
// A line that does not start with one is not configuration: the file is
// refused at that line and its text is never repeated (an Include of
// /etc/shadow must not print the hashes in an error).
var directiveName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

func notConfig(pos Pos) error {
	return &SyntaxError{pos, "not Apache configuration (a directive or section name is letters, digits, _ and -): is this file meant to be included? Its text is not shown"}
}

// parseFile parses one file; stack holds the files including it, to
// refuse include loops, and via the Include that names it.
func (p *Parser) parseFile(name string, stack []string, via *Directive) ([]*Directive, error) {
	name = path.Clean(name)
	for _, s := range stack {
		if s == name {
			return nil, fmt.Errorf("%s: included from itself (%s)", name, strings.Join(append(stack, name), " → "))
		}
	}
	if len(stack) >= p.MaxDepth {
		return nil, fmt.Errorf("%s: includes nested deeper than %d", name, p.MaxDepth)
	}
	p.files++
	if p.files > p.MaxFiles {
		return nil, fmt.Errorf("%s: more than %d files included", name, p.MaxFiles)
	}
	data, err := p.read(name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	// Apache skips a UTF-8 byte order mark at the start of a file.
	lines := logicalLines(name, strings.TrimPrefix(string(data), "\ufeff"))
	stack = append(stack, name)
	top := &Directive{Section: true}
	open := []*Directive{top}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		cur := open[len(open)-1]
		if n, err := p.opaque(lines, i); err != nil {
			return nil, err
		} else if n > 0 {
			i += n - 1
			continue
		}
		switch {
		case strings.HasPrefix(l.text, "</"):
			nm := strings.TrimSpace(strings.TrimSuffix(l.text[2:], ">"))
			if !directiveName.MatchString(nm) {
				return nil, notConfig(l.pos)
			}
			if !strings.HasSuffix(l.text, ">") {
				return nil, &SyntaxError{l.pos, fmt.Sprintf("</%s: a closing section needs >", nm)}
			}
			if len(open) == 1 {
				return nil, &SyntaxError{l.pos, fmt.Sprintf("</%s> without an open section", nm)}
			}
			if !strings.EqualFold(nm, cur.Name) {
				return nil, &SyntaxError{l.pos, fmt.Sprintf("</%s> closes <%s> of line %d", nm, cur.Name, cur.Pos.Line)}
			}
			cur.EndRaw = l.text
			open = open[:len(open)-1]
		case strings.HasPrefix(l.text, "<"):
			inner := strings.TrimSuffix(l.text[1:], ">")
			words := splitWords(inner)
			if len(words) == 0 || words[0] == "" {
				return nil, &SyntaxError{l.pos, "empty section name"}
			}
			if !directiveName.MatchString(words[0]) {
				return nil, notConfig(l.pos)
			}
			if !strings.HasSuffix(l.text, ">") {
				return nil, &SyntaxError{l.pos, fmt.Sprintf("<%s: a section line must end with >", words[0])}
			}
			d := &Directive{Name: words[0], Args: words[1:], Raw: l.text, Pos: l.pos, Section: true, Via: via}
			cur.Children = append(cur.Children, d)
			open = append(open, d)
		default:
			words := splitWords(l.text)
			if words[0] == "" {
				return nil, &SyntaxError{l.pos, "empty directive name"}
			}
			if !directiveName.MatchString(words[0]) {
				return nil, notConfig(l.pos)
			}
			d := &Directive{Name: words[0], Args: words[1:], Raw: l.text, Pos: l.pos, Via: via}
			if d.Is("ServerRoot") && len(d.Args) == 1 && p.ServerRoot == "" && len(open) == 1 {
				p.root = d.Args[0]
			}
			if (d.Is("Include") || d.Is("IncludeOptional")) && len(d.Args) == 1 {
				sub, err := p.include(d, stack)
				if err != nil {
					return nil, err
				}
				cur.Children = append(cur.Children, sub...)
				continue
			}
			cur.Children = append(cur.Children, d)
		}
	}
	if len(open) > 1 {
		c := open[len(open)-1]
		return nil, &SyntaxError{c.Pos, fmt.Sprintf("<%s> is never closed", c.Name)}
	}
	return top.Children, nil
}

// include resolves one Include/IncludeOptional as Apache does: relative
// to ServerRoot, wildcards allowed, a directory meaning the files in it
// (sorted), IncludeOptional silent when nothing matches.
func (p *Parser) include(d *Directive, stack []string) ([]*Directive, error) {
	optional := d.Is("IncludeOptional")
	pat := d.Args[0]
	if !path.IsAbs(pat) {
		pat = path.Join(p.root, pat)
	}
	pat = path.Clean(pat)
	rel := strings.TrimPrefix(pat, "/")
	var matches []string
	if strings.ContainsAny(rel, "*?[") {
		m, err := fs.Glob(p.FS, rel)
		if err != nil {
			return nil, &SyntaxError{d.Pos, fmt.Sprintf("%s %s: %v", d.Name, d.Args[0], err)}
		}
		matches = m
	} else if _, err := fs.Stat(p.FS, rel); err == nil {
		matches = []string{rel}
	}
	if len(matches) == 0 {
		if !optional {
			p.includes = append(p.includes, Finding{Pos: d.Pos, Directive: d.Raw, Level: Problem,
				What: "matches no file (Apache would refuse to start); its directives are not translated"})
		} else {
			p.includes = append(p.includes, Finding{Pos: d.Pos, Directive: d.Raw, Level: Note,
				What: "matches no file; nothing included"})
		}
		return nil, nil
	}
	sort.Strings(matches)
	var out []*Directive
	for _, m := range matches {
		files, err := p.expandDir(m)
		if err != nil {
			return nil, &SyntaxError{d.Pos, err.Error()}
		}
		for _, f := range files {
			sub, err := p.parseFile("/"+f, stack, d)
			if err != nil {
				var se *SyntaxError
				if errors.As(err, &se) {
					return nil, err
				}
				return nil, &SyntaxError{d.Pos, err.Error()}
			}
			out = append(out, sub...)
		}
	}
	return out, nil
}

// expandDir returns name, or the regular files under it when it is a
// directory, in name order.
func (p *Parser) expandDir(name string) ([]string, error) {
	st, err := fs.Stat(p.FS, name)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{name}, nil
	}
	var files []string
	err = fs.WalkDir(p.FS, name, func(f string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() {
			files = append(files, f)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// opaque skips what mod_perl reads in place of directives, starting at
// lines[i]: a <Perl> section (Perl code, to </Perl>), POD (=pod or =back
// to =cut, or to an "=over to apache" line) and everything after
// __END__. None of it is configuration the translation could read, and
// Perl code may hold anything (a password in a string), so none of it is
// parsed, copied or shown: it is reported once, with its lines, as a
// NOTE. It returns how many lines were skipped (0: lines[i] is not one).
// mod_lua has no such section (its code lives in files named by
// directives), nor has mod_python.
func (p *Parser) opaque(lines []line, i int) (int, error) {
	l := lines[i]
	note := func(n int, what string) (int, error) {
		last := lines[i+n-1].pos.Line
		p.includes = append(p.includes, Finding{Pos: l.pos, Level: Note,
			What: fmt.Sprintf("lines %d-%d: not read: %s; not copied into any output", l.pos.Line, last, what)})
		return n, nil
	}
	lower := strings.ToLower(l.text)
	switch {
	case lower == "<perl>" || strings.HasPrefix(lower, "<perl ") || strings.HasPrefix(lower, "<perl\t"):
		// mod_perl reads the lines up to one starting with </Perl>
		// itself (modperl_cmd_perl): whatever they hold.
		for j := i + 1; j < len(lines); j++ {
			if strings.HasPrefix(strings.ToLower(lines[j].text), "</perl>") {
				return note(j-i+1, "Perl code (a <Perl> section); review it by hand if it configures authentication")
			}
		}
		return 0, &SyntaxError{l.pos, "<Perl> is never closed (its text is not shown)"}
	case lower == "=pod" || strings.HasPrefix(lower, "=pod ") || lower == "=back" || strings.HasPrefix(lower, "=back "):
		// modperl_cmd_pod: up to =cut, or to an =over naming apache or
		// httpd (configuration follows); to the end of the file if neither.
		j := i + 1
		for ; j < len(lines); j++ {
			t := lines[j].text
			if t == "=cut" {
				break
			}
			if strings.HasPrefix(t, "=over") && (strings.Contains(t, "apache") || strings.Contains(t, "httpd")) {
				break // the =over line is read too
			}
		}
		if j == len(lines) {
			j--
		}
		return note(j-i+1, "POD (documentation)")
	case l.text == "=cut":
		return 0, &SyntaxError{l.pos, "=cut without =pod"}
	case l.text == "__END__":
		p.includes = append(p.includes, Finding{Pos: l.pos, Level: Note,
			What: "not read: everything after __END__ (mod_perl stops reading the file there); not copied into any output"})
		return len(lines) - i, nil
	}
	return 0, nil
}

type line struct {
	pos  Pos
	text string
}

// logicalLines splits a file as ap_cfg_getline does: a trailing backslash
// joins the next line, leading and trailing blanks go, and blank lines and
// lines whose first character is # are skipped.
func logicalLines(file, data string) []line {
	var out []line
	phys := strings.Split(strings.ReplaceAll(data, "\r\n", "\n"), "\n")
	for i := 0; i < len(phys); i++ {
		start := i
		text := strings.TrimRight(phys[i], " \t\r\f\v")
		for strings.HasSuffix(text, `\`) && i+1 < len(phys) {
			i++
			text = strings.TrimSuffix(text, `\`) + strings.TrimRight(phys[i], " \t\r\f\v")
		}
		text = strings.TrimLeft(text, " \t\r\f\v")
		if text == "" || text[0] == '#' {
			continue
		}
		out = append(out, line{Pos{file, start + 1}, text})
	}
	return out
}

// splitWords splits a line as ap_getword_conf does: blanks separate words;
// a word starting with " or ' runs to the matching quote; inside it a
// backslash before that quote or before a backslash stands for the second
// character, and outside quotes a doubled backslash stands for one.
func splitWords(s string) []string {
	var words []string
	for {
		s = strings.TrimLeft(s, " \t\r\f\v")
		if s == "" {
			return words
		}
		var q byte
		if s[0] == '"' || s[0] == '\'' {
			q = s[0]
			s = s[1:]
		}
		var b strings.Builder
		i := 0
		for ; i < len(s); i++ {
			c := s[i]
			if c == '\\' && i+1 < len(s) && (s[i+1] == '\\' || (q != 0 && s[i+1] == q)) {
				b.WriteByte(s[i+1])
				i++
				continue
			}
			if (q != 0 && c == q) || (q == 0 && strings.IndexByte(" \t\r\f\v", c) >= 0) {
				break
			}
			b.WriteByte(c)
		}
		words = append(words, b.String())
		if q != 0 && i < len(s) {
			i++ // the closing quote
		}
		s = s[i:]
	}
}
