package spec

import (
	"strings"
	"testing"
)

func TestDatasetsAndTopology(t *testing.T) {
	s, err := Parse("job.yaml", []byte("command: [\"true\"]\ndatasets: [common-crawl, eu-law]\ntopology: block\n"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(s.Datasets, ",") != "common-crawl,eu-law" || s.Topology != "block" {
		t.Errorf("got datasets %v topology %q", s.Datasets, s.Topology)
	}
	for in, want := range map[string]string{
		"command: [\"true\"]\ntopology: ring\n":   "job.yaml:2: topology: want block, pod or any",
		"command: [\"true\"]\ndatasets: [\"\"]\n": "datasets[0]: must not be empty",
		"command: [\"true\"]\ndatasets: 7\n":      "job.yaml:2: datasets:",
	} {
		_, err := Parse("job.yaml", []byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}
