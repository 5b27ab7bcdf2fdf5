package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decodeStrict decodes the YAML document b over *out (a pointer to a
// struct whose fields have yaml tags), keeping the values of absent keys.
//
// It is stricter than yaml.Decoder with KnownFields(true) and says more
// when it refuses: unknown keys, duplicate keys and values of the wrong
// kind are all reported, each as a *ConfigError naming the field's YAML
// path and its line. It also returns the line of every field present, by
// YAML path, so that later checks (Validate) can point at the line too.
//
// An empty document (or one holding only comments or null) decodes to
// nothing: every field keeps its value.
func decodeStrict(b []byte, out any) (map[string]int, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string]int{}, nil
		}
		return nil, &ConfigError{Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, &ConfigError{Line: more.Line, Msg: "more than one YAML document (one config per file)"}
	}
	d := &strictDecoder{lines: map[string]int{}}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	d.decode("", root, reflect.ValueOf(out).Elem())
	return d.lines, errors.Join(d.errs...)
}

type strictDecoder struct {
	lines map[string]int // YAML path -> line
	errs  []error
}

// maxErrors bounds the problems reported for one file.
const maxErrors = 20

func (d *strictDecoder) fail(path string, line int, format string, args ...any) {
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

// decode decodes n into v, which is addressable. path is n's YAML path.
func (d *strictDecoder) decode(path string, n *yaml.Node, v reflect.Value) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // "key:" with no value: keep the default
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(path, n, v)
	case reflect.Slice:
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
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(path, n.Line, "want a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int:
		var i int
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			d.fail(path, n.Line, "want an integer, got %s", describe(n))
			return
		}
		v.SetInt(int64(i))
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.fail(path, n.Line, "want true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	default:
		panic(fmt.Sprintf("daemon: decodeStrict: field %s has unsupported kind %v", path, v.Kind()))
	}
}

func (d *strictDecoder) decodeStruct(path string, n *yaml.Node, v reflect.Value) {
	t := v.Type()
	keys := make([]string, 0, t.NumField())
	index := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		keys = append(keys, name)
		index[name] = i
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
		if !ok {
			d.fail(p, k.Line, "unknown key (want one of: %s)", strings.Join(keys, ", "))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(p, k.Line, "duplicate key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		d.lines[p] = k.Line
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
