package tmpl

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// Sprig's arithmetic turns what is not a number into 0 (add 9 "x" is 9) and
// reads "0755" as octal. kbrun's versions refuse what is not a number and
// read decimal text as decimal, so that a wrong var fails the render instead
// of reaching the cluster as a wrong value.
func strictNumbers(m map[string]any) {
	m["add"] = func(args ...any) (int64, error) {
		var sum int64
		for _, a := range args {
			n, err := toInt("add", a)
			if err != nil {
				return 0, err
			}
			sum += n
		}
		return sum, nil
	}
	m["add1"] = func(a any) (int64, error) {
		n, err := toInt("add1", a)
		return n + 1, err
	}
	m["sub"] = intOp("sub", func(a, b int64) (int64, error) { return a - b, nil })
	m["div"] = intOp("div", func(a, b int64) (int64, error) {
		if b == 0 {
			return 0, fmt.Errorf("div: division by zero")
		}
		return a / b, nil
	})
	m["mod"] = intOp("mod", func(a, b int64) (int64, error) {
		if b == 0 {
			return 0, fmt.Errorf("mod: division by zero")
		}
		return a % b, nil
	})
	m["mul"] = func(a any, rest ...any) (int64, error) {
		p, err := toInt("mul", a)
		for _, r := range rest {
			if err != nil {
				break
			}
			var n int64
			n, err = toInt("mul", r)
			p *= n
		}
		return p, err
	}
	m["max"] = fold("max", func(a, b int64) bool { return b > a })
	m["min"] = fold("min", func(a, b int64) bool { return b < a })
	m["atoi"] = func(s string) (int, error) {
		n, err := toInt("atoi", s)
		return int(n), err
	}
	m["int"] = func(a any) (int, error) {
		n, err := toInt("int", a)
		return int(n), err
	}
	m["int64"] = func(a any) (int64, error) { return toInt("int64", a) }
	m["float64"] = func(a any) (float64, error) { return toFloat("float64", a) }
	for name, op := range map[string]func(a, b float64) float64{
		"addf": func(a, b float64) float64 { return a + b },
		"subf": func(a, b float64) float64 { return a - b },
		"mulf": func(a, b float64) float64 { return a * b },
		"divf": func(a, b float64) float64 { return a / b },
	} {
		m[name] = func(a any, rest ...any) (float64, error) {
			acc, err := toFloat(name, a)
			for _, r := range rest {
				if err != nil {
					break
				}
				var f float64
				f, err = toFloat(name, r)
				acc = op(acc, f)
			}
			return acc, err
		}
	}
}

func intOp(name string, op func(a, b int64) (int64, error)) func(a, b any) (int64, error) {
	return func(a, b any) (int64, error) {
		x, err := toInt(name, a)
		if err != nil {
			return 0, err
		}
		y, err := toInt(name, b)
		if err != nil {
			return 0, err
		}
		return op(x, y)
	}
}

func fold(name string, better func(a, b int64) bool) func(a any, rest ...any) (int64, error) {
	return func(a any, rest ...any) (int64, error) {
		best, err := toInt(name, a)
		for _, r := range rest {
			if err != nil {
				break
			}
			var n int64
			n, err = toInt(name, r)
			if better(best, n) {
				best = n
			}
		}
		return best, err
	}
}

// toInt accepts Go integers, whole floats and decimal integer text.
func toInt(fn string, v any) (int64, error) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if rv.Uint() > math.MaxInt64 {
			return 0, fmt.Errorf("%s: %d is too large", fn, rv.Uint())
		}
		return int64(rv.Uint()), nil
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, fmt.Errorf("%s: %v is not a whole number", fn, f)
		}
		return int64(f), nil
	case reflect.String:
		n, err := strconv.ParseInt(strings.TrimSpace(rv.String()), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q is not a whole number", fn, rv.String())
		}
		return n, nil
	}
	return 0, fmt.Errorf("%s: %s is not a number", fn, Describe(v))
}

func toFloat(fn string, v any) (float64, error) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.String:
		f, err := strconv.ParseFloat(strings.TrimSpace(rv.String()), 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q is not a number", fn, rv.String())
		}
		return f, nil
	}
	n, err := toInt(fn, v)
	return float64(n), err
}
