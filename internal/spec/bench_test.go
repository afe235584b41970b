package spec

import "testing"

// BenchmarkParseJSON measures one job spec of the shape gf bench api and
// a batch submission send, parsed and validated as the API does for every
// job of a batch (POST /api/v1/jobs:batch).
//
//	go test -run '^$' -bench ParseJSON -benchmem ./internal/spec
func BenchmarkParseJSON(b *testing.B) {
	cases := map[string]string{
		"bench": `{"name":"gf-bench","command":["true"],"begin":"2027-12-08T03:52:17"}`,
		"full": `{"name":"train","command":["python","train.py","--epochs","3"],"accelerators":8,"model":"h100",` +
			`"nodes":2,"walltime":"4h","residency":["EU"],"env":{"A":"1","B":"2"},"project":"p1","workdir":"/scratch/w"}`,
	}
	for name, body := range cases {
		b.Run(name, func(b *testing.B) {
			data := []byte(body)
			if _, err := ParseJSON(data); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseJSON(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkJSONNode compares the two readers of a valid JSON spec into
// nodes: the lexer ParseJSON uses and the json.Decoder it used before
// (still used for invalid JSON), in the same run.
//
//	go test -run '^$' -bench JSONNode -benchmem ./internal/spec
func BenchmarkJSONNode(b *testing.B) {
	data := []byte(`{"name":"gf-bench","command":["true"],"begin":"2027-12-08T03:52:17"}`)
	for _, fast := range []bool{true, false} {
		name := "decoder"
		if fast {
			name = "lexer"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if fast {
					_, err = jsonNode(data, false) // json.Valid, then the lexer
				} else {
					_, err = jsonNodeFrom(data, false, false)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
