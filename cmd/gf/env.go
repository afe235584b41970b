package main

import (
	"flag"
	"io"
	"os"
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

// globalFlags registers the flags every command accepts.
func (e *cliEnv) globalFlags(fs *flag.FlagSet) {
	if fs.Lookup("url") != nil {
		return
	}
	fs.StringVar(&e.url, "url", firstNonEmpty(e.url, os.Getenv("GF_URL")), "control plane URL (env GF_URL)")
	fs.StringVar(&e.token, "token", firstNonEmpty(e.token, os.Getenv("GF_TOKEN")), "API token (env GF_TOKEN)")
	fs.StringVar(&e.output, "output", firstNonEmpty(e.output, "table"), "output format: table, json or yaml")
	fs.StringVar(&e.output, "o", firstNonEmpty(e.output, "table"), "short for --output")
	fs.StringVar(&e.data, "data", firstNonEmpty(e.data, "gf-data"), "data directory (server state; the CLI reads admin.token from it)")
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
