package engine

import (
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
)

// TestCopyJobCoversEveryField sets each field of core.Job (and of its
// Spec) in turn and checks that a record, fresh or reused after a job
// with that field set, ends up equal to the submission: a field that
// neither copyPlain copies nor plainJob checks would be lost.
func TestCopyJobCoversEveryField(t *testing.T) {
	var variants []core.Job
	fill := func(f reflect.Value) bool {
		switch f.Kind() {
		case reflect.String:
			f.SetString("x")
		case reflect.Int, reflect.Int64:
			f.SetInt(7)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		case reflect.Map:
			f.Set(reflect.MakeMap(f.Type()))
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		case reflect.Struct:
			if f.Type() == reflect.TypeOf(time.Time{}) {
				f.Set(reflect.ValueOf(t0))
				return true
			}
			return false
		default:
			t.Fatalf("field kind %v: extend the test", f.Kind())
		}
		return true
	}
	n := reflect.TypeOf(core.Job{}).NumField()
	for i := 0; i < n; i++ {
		var j core.Job
		f := reflect.ValueOf(&j).Elem().Field(i)
		if f.Type() == reflect.TypeOf(core.JobSpec{}) {
			for k := 0; k < f.NumField(); k++ {
				var js core.Job
				if fill(reflect.ValueOf(&js.Spec).Elem().Field(k)) {
					variants = append(variants, js)
				}
			}
			continue
		}
		if fill(f) {
			variants = append(variants, j)
		}
	}
	if len(variants) < 40 {
		t.Fatalf("only %d variants: the test lost its point", len(variants))
	}
	plain := core.Job{ID: 1, Project: "p", Org: "o", User: "u", State: core.StatePending, SubmitTime: t0}
	for i := range variants {
		for _, before := range []*core.Job{nil, &plain, &variants[(i+1)%len(variants)]} {
			var r job
			if before != nil {
				r.setJob(before)
			}
			src := variants[i]
			r.setJob(&src)
			if diff := cmp.Diff(src, r.Job); diff != "" {
				t.Fatalf("variant %d after %v: record differs from the submission:\n%s", i, before != nil, diff)
			}
			// And a plain job after it.
			r.setJob(&plain)
			if diff := cmp.Diff(plain, r.Job); diff != "" {
				t.Fatalf("plain job after variant %d: record differs:\n%s", i, diff)
			}
		}
	}
}
