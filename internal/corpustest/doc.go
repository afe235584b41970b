// Package corpustest holds issue 13's acceptance run, and only tests: every
// batch script of internal/spec/testdata/corpus (written in the style of the
// user guides of EuroHPC sites) is submitted with `gf submit` from its own
// submit directory, as a user would, to a real `gf serve` whose federation has
// a local site and a site driven by the test Slurm, and the harness checks
// what each job saw and left behind: its end state, its output files' names
// and places, the SLURM_* variables it printed, its working directory, its
// allocation, and the order in which arrays and dependent jobs ran.
// See README.md.
package corpustest
