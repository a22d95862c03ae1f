package main

import (
	"flag"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// binder declares flags bound straight to the fields of the component
// Configs, so that a setting has one source: the flag's default is the
// field's value when it is bound (the component's DefaultConfig), and
// setting the flag (command line, REWIND_* or the YAML file, see
// parseFlags) sets every field it names. A flag that feeds two components
// (--segment-duration, --max-stream-series, ...) names both fields, so
// they cannot drift apart.
type binder struct {
	fs *flag.FlagSet
	// targets: flag name -> the fields it sets, for the test that every
	// flag reaches the fields it names.
	targets map[string][]reflect.Value
}

func newBinder(fs *flag.FlagSet) *binder {
	return &binder{fs: fs, targets: map[string][]reflect.Value{}}
}

// fieldsValue is a flag.Value setting every field in ps.
type fieldsValue[T any] struct {
	ps     []*T
	parse  func(string) (T, error)
	format func(T) string
}

func (v *fieldsValue[T]) Set(s string) error {
	x, err := v.parse(s)
	if err != nil {
		return err
	}
	for _, p := range v.ps {
		*p = cloneValue(x)
	}
	return nil
}

func (v *fieldsValue[T]) String() string {
	if v == nil || len(v.ps) == 0 {
		return ""
	}
	return v.format(*v.ps[0])
}

// IsBoolFlag lets a bool flag stand alone (--s3-path-style).
func (v *fieldsValue[T]) IsBoolFlag() bool {
	var z T
	_, ok := any(z).(bool)
	return ok
}

// cloneValue gives each field its own copy of a list.
func cloneValue[T any](x T) T {
	rv := reflect.ValueOf(&x).Elem()
	if rv.Kind() == reflect.Slice && !rv.IsNil() {
		c := reflect.MakeSlice(rv.Type(), rv.Len(), rv.Len())
		reflect.Copy(c, rv)
		rv.Set(c)
	}
	return x
}

// bindParsed declares flag name over the fields ps with its own parser;
// every field starts from the first one's value.
func bindParsed[T any](b *binder, name, usage string, parse func(string) (T, error), format func(T) string, ps ...*T) {
	if len(ps) == 0 {
		panic("bind " + name + ": no field")
	}
	for _, p := range ps {
		b.targets[name] = append(b.targets[name], reflect.ValueOf(p))
		// The first field's value is the flag's default, for all of them
		// (a cmd-level listen address that the origin derives from, too).
		*p = cloneValue(*ps[0])
	}
	b.fs.Var(&fieldsValue[T]{ps: ps, parse: parse, format: format}, name, usage)
}

// settable are the plain field types a flag binds to.
type settable interface {
	string | bool | int | int64 | float64 | time.Duration | []string
}

// bind declares flag name over the fields ps, parsed as their type.
func bind[T settable](b *binder, name, usage string, ps ...*T) {
	bindParsed(b, name, usage, parsePlain[T], formatPlain[T], ps...)
}

func parsePlain[T settable](s string) (T, error) {
	var x T
	var err error
	switch p := any(&x).(type) {
	case *string:
		*p = s
	case *bool:
		*p, err = strconv.ParseBool(s)
	case *int:
		*p, err = strconv.Atoi(s)
	case *int64:
		*p, err = strconv.ParseInt(s, 10, 64)
	case *float64:
		*p, err = strconv.ParseFloat(s, 64)
	case *time.Duration:
		*p, err = time.ParseDuration(s)
	case *[]string:
		*p = splitList(s)
	}
	if err != nil {
		// strconv's errors repeat the input; say what was wanted.
		return x, fmt.Errorf("%q is not a valid %s", s, reflect.TypeOf(x))
	}
	return x, nil
}

func formatPlain[T settable](x T) string {
	switch v := any(x).(type) {
	case []string:
		return strings.Join(v, ",")
	case time.Duration:
		return v.String()
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return fmt.Sprint(x)
}

// splitList reads a comma-separated list; blanks are dropped.
func splitList(s string) []string {
	var l []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			l = append(l, p)
		}
	}
	return l
}

// bindList declares a comma-separated list flag whose items parse into T.
func bindList[T any](b *binder, name, usage string, parse func(string) (T, error), format func(T) string, ps ...*[]T) {
	bindParsed(b, name, usage, func(s string) ([]T, error) {
		var out []T
		for _, item := range splitList(s) {
			x, err := parse(item)
			if err != nil {
				return nil, err
			}
			out = append(out, x)
		}
		return out, nil
	}, func(l []T) string {
		parts := make([]string, len(l))
		for i, x := range l {
			parts[i] = format(x)
		}
		return strings.Join(parts, ",")
	}, ps...)
}
