package main

import (
	"io"
	"os"

	"github.com/spf13/pflag"
)

// cliEnv carries the process's streams and the global flags shared by every
// client command.
type cliEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	url            string // --url or GF_URL
	token          string // --token or GF_TOKEN
	output         string // -o/--output: table, json or yaml
	data           string // --data: where to find a local server's admin.token
	dashdash       bool   // the command's arguments came after "--"
}

// globalFlags registers the flags every command accepts. GF_URL and
// GF_TOKEN are read when a command connects (fromEnvironment), not here,
// so that help never prints a token as a flag's default.
func (e *cliEnv) globalFlags(fs *pflag.FlagSet) {
	fs.StringVar(&e.url, "url", e.url, "control plane URL (env GF_URL; default: DATA/gf.addr, else "+defaultServerURL+")")
	fs.StringVar(&e.token, "token", e.token, "API token (env GF_TOKEN; default: DATA/admin.token)")
	fs.StringVarP(&e.output, "output", "o", firstNonEmpty(e.output, outTable), "output format: table, json or yaml")
	fs.StringVar(&e.data, "data", firstNonEmpty(e.data, "gf-data"), "data directory (server state; the CLI reads admin.token and gf.addr from it)")
}

// fromEnvironment fills --url and --token from GF_URL and GF_TOKEN when
// the command line left them empty.
func (e *cliEnv) fromEnvironment() {
	e.url = firstNonEmpty(e.url, os.Getenv("GF_URL"))
	e.token = firstNonEmpty(e.token, os.Getenv("GF_TOKEN"))
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
