package config

import (
	"cmp"
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"

	"github.com/BurntSushi/toml"
)

// decodeEach decodes data into c key by key, so that a file with several
// values of the wrong type gets all of them reported, not just the first
// (toml.Decode stops there). Only used once toml.Decode has failed: the
// usual path decodes in one go. A syntax error still stops everything, as
// nothing after it can be trusted.
func decodeEach(path string, data []byte, c *Config) []error {
	var top map[string]toml.Primitive
	md, err := toml.Decode(string(data), &top)
	if err != nil {
		return []error{decodeError(path, err)}
	}
	d := eachDecoder{md: &md, path: path, data: data}
	d.decodeStruct(nil, top, reflect.ValueOf(c).Elem())
	slices.SortStableFunc(d.errs, func(a, b error) int {
		return cmp.Compare(a.(*Error).Line, b.(*Error).Line)
	})
	return d.errs
}

type eachDecoder struct {
	md   *toml.MetaData
	path string
	data []byte
	errs []error
}

func (d *eachDecoder) fail(err error) { d.errs = append(d.errs, decodeError(d.path, err)) }

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// decodeStruct decodes each tagged field of rv that m holds, descending
// into tables and arrays of tables, and reports the keys of m that no field
// takes. (Decoding a table into a map marks all its keys as decoded, so
// MetaData.Undecoded cannot tell here.)
func (d *eachDecoder) decodeStruct(table toml.Key, m map[string]toml.Primitive, rv reflect.Value) {
	t := rv.Type()
	known := map[string]bool{}
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("toml")
		if tag == "" {
			continue
		}
		known[tag] = true
		if p, ok := m[tag]; ok {
			d.decodeValue(with(table, tag), p, rv.Field(i))
		}
	}
	for k := range m {
		if !known[k] {
			key := with(table, k)
			d.errs = append(d.errs, &Error{File: d.path, Line: lineOf(d.data, key), Msg: fmt.Sprintf("unknown key %q", key.String())})
		}
	}
}

func (d *eachDecoder) decodeValue(key toml.Key, p toml.Primitive, rv reflect.Value) {
	md := d.md
	isTable := func(t reflect.Type) bool {
		return t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(textUnmarshaler)
	}
	switch {
	case isTable(rv.Type()):
		var m map[string]toml.Primitive
		if err := md.PrimitiveDecode(p, &m); err != nil {
			d.fail(err)
			return
		}
		d.decodeStruct(key, m, rv)
		return
	case rv.Kind() == reflect.Slice && isTable(rv.Type().Elem()):
		var arr []toml.Primitive
		if err := md.PrimitiveDecode(p, &arr); err != nil {
			d.fail(err)
			return
		}
		rv.Set(reflect.MakeSlice(rv.Type(), len(arr), len(arr)))
		for i := range arr {
			d.decodeValue(key, arr[i], rv.Index(i))
		}
		return
	}
	if err := md.PrimitiveDecode(p, rv.Addr().Interface()); err != nil {
		d.fail(err)
	}
}

// typeError is how BurntSushi/toml words a type mismatch; it has no error
// type for it, so the line is read back from the text.
var typeError = regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key "([^"]*)"\): (.*)$`)

// decodeError turns a TOML decoder error into an *Error with file:line.
func decodeError(path string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		msg := pe.Message
		if pe.LastKey != "" {
			msg = pe.LastKey + ": " + msg
		}
		return &Error{File: path, Line: pe.Position.Line, Msg: msg}
	}
	if m := typeError.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: path, Line: line, Msg: m[2] + ": " + m[3]}
	}
	return &Error{File: path, Msg: err.Error()}
}

func with(k toml.Key, name string) toml.Key {
	return append(k[:len(k):len(k)], name)
}
