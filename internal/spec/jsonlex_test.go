package spec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// jsonLexCases are valid JSON texts that exercise what the lexer must
// read as the Decoder does: escapes, surrogate pairs, bytes that are not
// UTF-8, numbers in every form, nesting, white space and lines, and the
// limits jsonReader applies on the way.
var jsonLexCases = map[string]string{
	"bench":          `{"name":"gf-bench","command":["true"],"begin":"2027-12-08T03:52:17"}`,
	"escapes":        `{"command":["a\"b","c\\d","\/x","\n\t\r\b\f","\u00e9\u20ac","\ud83d\ude00","\ud800"]}`,
	"not utf-8":      "{\"name\":\"a\xffb\",\"command\":[\"\xc3\"]}",
	"utf-8":          `{"name":"größe €","command":["日本"]}`,
	"numbers":        `{"accelerators":8,"nodes":-1,"walltime":1.5e3,"a":0.25,"b":1E+2,"c":-0,"d":12345678901234567890}`,
	"literals":       `{"requeue":true,"x":false,"y":null,"env":{}}`,
	"nested":         `{"a":[[1,[2,{"b":[]}]],{}],"c":{"d":{"e":"f"}}}`,
	"lines":          "{\n  \"command\": [\n    \"x\",\n\t\"y\"\r\n  ],\n\n  \"accelerators\" :\n 2 }\n",
	"top scalar":     `"just a string"`,
	"top list":       ` [1, "two", true] `,
	"duplicate keys": `{"command":["x"],"command":["y"]}`,
	"empty key":      `{"":1}`,
	"deep":           `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
	"long env":       longEnv(),
}

func longEnv() string {
	env := map[string]string{}
	for i := range 300 {
		env["K"+string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
	}
	b, _ := json.Marshal(map[string]any{"command": []string{"x"}, "env": env})
	return string(b)
}

// The lexer gives the node tree (and the error) the Decoder gives, for
// every valid text here and in testdata, with lines and without.
func TestJSONLexerMatchesDecoder(t *testing.T) {
	cases := map[string][]byte{}
	for name, text := range jsonLexCases {
		cases[name] = []byte(text)
	}
	files, _ := filepath.Glob("testdata/specs/*.json")
	if len(files) == 0 {
		t.Fatal("no testdata/specs/*.json")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if json.Valid(data) { // an invalid file goes to the Decoder
			cases[f] = data
		}
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if !json.Valid(data) {
				t.Fatal("not valid JSON: the lexer never reads it")
			}
			for _, lines := range []bool{false, true} {
				want, werr := jsonNodeFrom(data, lines, false)
				got, gerr := jsonNodeFrom(data, lines, true)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("lines %v: tree differs (-decoder +lexer):\n%s", lines, diff)
				}
				if errText(werr) != errText(gerr) {
					t.Errorf("lines %v: error %q, the Decoder's %q", lines, errText(gerr), errText(werr))
				}
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzJSONLexer holds the lexer to the Decoder on any valid JSON.
func FuzzJSONLexer(f *testing.F) {
	for _, text := range jsonLexCases {
		f.Add([]byte(text))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		for _, lines := range []bool{false, true} {
			want, werr := jsonNodeFrom(data, lines, false)
			got, gerr := jsonNodeFrom(data, lines, true)
			if diff := cmp.Diff(want, got); diff != "" || errText(werr) != errText(gerr) {
				t.Fatalf("lines %v: lexer differs from the Decoder (-decoder +lexer):\n%s\nerrors %q / %q", lines, diff, errText(werr), errText(gerr))
			}
		}
	})
}

// isoDate reads what the isoTime regexp matches, and only that, to the
// same numbers.
func TestISODateMatchesRegexp(t *testing.T) {
	atoi := func(x string) int { n, _ := strconv.Atoi(x); return n }
	cases := []string{"2027-12-08t03:52:17", "2027-12-08t03:52", "2027-12-08", "2027-02-30", "0000-00-00t99:99:99",
		"2027-12-08t03:52:1", "2027-12-08t03:5", "2027-12-08 03:52:17", "2027-12-08T03:52:17", "2027-12-8", "27-12-08",
		"2027-12-08t03:52:17z", "2027-12-08t03-52-17", "2027/12/08", "２０２７-12-08", "2027-12-08t03:52:1x", "abcd-ef-gh", "",
		"now+1hour", "16:00", "12/24", "2027-12-08t", "2027-12-08t03:52:", "-027-12-08"}
	for _, v := range cases {
		y, mo, d, h, mi, sec, ok := isoDate(v)
		m := isoTime.FindStringSubmatch(v)
		if ok != (m != nil) {
			t.Errorf("%q: isoDate ok %v, regexp matched %v", v, ok, m != nil)
			continue
		}
		if ok {
			want := [6]int{atoi(m[1]), atoi(m[2]), atoi(m[3]), atoi(m[5]), atoi(m[6]), atoi(m[8])}
			if got := [6]int{y, mo, d, h, mi, sec}; got != want {
				t.Errorf("%q: isoDate %v, regexp %v", v, got, want)
			}
		}
	}
}
