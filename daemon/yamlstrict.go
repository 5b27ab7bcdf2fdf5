package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decodeStrict decodes the YAML document b over *out (a pointer to a
// struct whose fields have yaml tags), keeping the values of absent keys.
//
// yaml.v3 parses the document into a yaml.Node and decodes every value
// (Node.Decode: numbers, strings, durations, lists of them). What it lacks
// is done here, by walking the mappings: an unknown key is reported with
// its YAML path and the keys allowed there, a duplicate key with the line
// of the first one, and a value of the wrong kind (a quoted number, yes or
// on for a boolean, which YAML 1.1 readers take as true) with what was
// wanted. Every problem is reported, as a *ConfigError naming the field's
// YAML path and its line, not only the first one.
//
// It also returns the line of every field present, by YAML path, so that
// later checks (Validate) can point at the line too, and the set of
// fields that could not be decoded, whose other checks are moot.
//
// An empty document (or one holding only comments or null) decodes to
// nothing: every field keeps its value.
//
// sections are the extra keys of the top-level mapping, each decoded
// into its value (a pointer to a struct): the transports' sections.
func decodeStrict(b []byte, out any, sections map[string]any) (lines map[string]int, bad map[string]bool, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string]int{}, nil, nil
		}
		return nil, nil, &ConfigError{Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, nil, &ConfigError{Line: more.Line, Msg: "more than one YAML document (one config per file)"}
	}
	d := &strictDecoder{lines: map[string]int{}, bad: map[string]bool{}, sections: sections}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	d.decode("", root, reflect.ValueOf(out).Elem())
	return d.lines, d.bad, errors.Join(d.errs...)
}

type strictDecoder struct {
	lines    map[string]int  // YAML path -> line
	bad      map[string]bool // YAML paths whose value could not be decoded
	errs     []error
	sections map[string]any // extra top-level keys: pointers to decode into
}

// maxErrors bounds the problems reported for one file.
const maxErrors = 20

func (d *strictDecoder) fail(path string, line int, format string, args ...any) {
	d.bad[path] = true
	switch {
	case len(d.errs) < maxErrors:
		d.errs = append(d.errs, &ConfigError{Field: path, Line: line, Msg: fmt.Sprintf(format, args...)})
	case len(d.errs) == maxErrors:
		d.errs = append(d.errs, &ConfigError{Line: line, Msg: "too many errors, stopping here"})
	}
}

// describe names what n is, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

var durationType = reflect.TypeFor[time.Duration]()

// decode decodes n into v, which is addressable. path is n's YAML path.
func (d *strictDecoder) decode(path string, n *yaml.Node, v reflect.Value) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // "key:" with no value: keep the default
	}
	switch {
	case v.Kind() == reflect.Struct:
		d.decodeStruct(path, n, v)
		return
	case v.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(path, n.Line, "want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.lines[p] = item.Line
			d.decode(p, item, s.Index(i))
		}
		v.Set(s)
		return
	}
	// A scalar: yaml.v3 decodes it, once its kind is the one wanted.
	want, tag := "a string", ""
	switch {
	case v.Type() == durationType:
		want, tag = `a duration with a unit, like "1s", "500ms" or "24h"`, "!!str"
	case v.Kind() == reflect.Bool:
		want, tag = "true or false", "!!bool"
	case v.CanInt() || v.CanUint():
		want, tag = "an integer", "!!int"
	}
	if n.Kind != yaml.ScalarNode || (tag != "" && n.ShortTag() != tag) {
		d.fail(path, n.Line, "want %s, got %s", want, describe(n))
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.fail(path, n.Line, "want %s, got %s", want, describe(n))
	}
}

func (d *strictDecoder) decodeStruct(path string, n *yaml.Node, v reflect.Value) {
	t := v.Type()
	keys := make([]string, 0, t.NumField())
	index := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		keys = append(keys, name)
		index[name] = i
	}
	var extra map[string]any
	if path == "" {
		extra = d.sections
		names := make([]string, 0, len(extra))
		for name := range extra {
			names = append(names, name)
		}
		slices.Sort(names)
		keys = append(keys, names...)
	}
	if n.Kind != yaml.MappingNode {
		d.fail(path, n.Line, "want a mapping with keys %s, got %s", strings.Join(keys, ", "), describe(n))
		return
	}
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(path, k.Line, "a key is %s, want a name", describe(k))
			continue
		}
		fi, ok := index[k.Value]
		section, isSection := extra[k.Value]
		if !ok && !isSection {
			d.fail(p, k.Line, "unknown key (want one of: %s)", strings.Join(keys, ", "))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(p, k.Line, "duplicate key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		d.lines[p] = k.Line
		if isSection {
			d.decode(p, val, reflect.ValueOf(section).Elem())
			continue
		}
		d.decode(p, val, v.Field(fi))
	}
}

// lineOf returns the line of the YAML path field, or of its nearest parent
// present in lines, or 0.
func lineOf(lines map[string]int, field string) int {
	for field != "" {
		if l, ok := lines[field]; ok {
			return l
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			return 0
		}
		field = field[:i]
	}
	return 0
}
