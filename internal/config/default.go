package config

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/spec"
)

// DefaultCountry is the country of the default local site when neither
// DefaultOptions.Country nor $GF_COUNTRY says otherwise: Luxembourg, seat
// of the EuroHPC Joint Undertaking. Any choice is arbitrary; this one is at
// least the federation's administrative home. It only sets the grid carbon
// intensity and what residency constraints the local site satisfies.
const DefaultCountry = "LU"

// DefaultVirtualAccelerators is how many virtual accelerators the local
// site offers on a machine without a working nvidia-smi.
const DefaultVirtualAccelerators = 8

// VirtualModel is the model name of virtual accelerators.
const VirtualModel = "virtual"

// DefaultOptions tune Default. The zero value probes the real machine.
type DefaultOptions struct {
	// VirtualAccelerators is used when no GPU is found; 0 means
	// DefaultVirtualAccelerators.
	VirtualAccelerators int
	// Country of the local site; "" means $GF_COUNTRY, then DefaultCountry.
	Country string
	// Hostname names the pool; "" means os.Hostname().
	Hostname string
	// NvidiaSMI returns the output of
	// `nvidia-smi --query-gpu=index,name --format=csv,noheader`; nil runs
	// it. Tests inject canned output or an error.
	NvidiaSMI func() (string, error)
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
}

// Default returns a config with one site, "local", for this machine: the
// GPUs nvidia-smi lists (model from the first GPU's name), or else
// VirtualAccelerators virtual ones, as one pool of one node named after the
// host, run by the local driver.
func Default(opts DefaultOptions) *Config {
	c := &Config{File: "(default)"}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	country := opts.Country
	if country == "" {
		country = getenv("GF_COUNTRY")
	}
	if country == "" {
		country = DefaultCountry
	}
	if norm, ok := spec.NormalizeCountry(country); ok {
		country = norm
	} else {
		c.Warnings = append(c.Warnings, fmt.Sprintf("country %q is not an ISO 3166-1 alpha-2 code; using %s", country, DefaultCountry))
		country = DefaultCountry
	}

	host := opts.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	pool := core.Pool{
		Name:          poolName(host),
		Nodes:         1,
		CPUsPerNode:   runtime.NumCPU(),
		MemMiBPerNode: memMiB(),
	}
	smi := opts.NvidiaSMI
	if smi == nil {
		smi = runNvidiaSMI
	}
	out, err := smi()
	names := parseNvidiaSMI(out)
	switch {
	case err == nil && len(names) > 0:
		pool.Model = names[0]
		pool.AccelPerNode = len(names)
		for _, n := range names[1:] {
			if n != names[0] {
				c.Warnings = append(c.Warnings, fmt.Sprintf("mixed GPU models (%s and %s); the local pool advertises %s for all", names[0], n, names[0]))
				break
			}
		}
		if info, ok := LookupAccelerator(pool.Model); ok {
			pool.PowerW = info.TDPW
		}
	default:
		pool.Model = VirtualModel
		pool.AccelPerNode = opts.VirtualAccelerators
		if pool.AccelPerNode <= 0 {
			pool.AccelPerNode = DefaultVirtualAccelerators
		}
	}
	s := core.Site{
		ID:      "local",
		Name:    "This machine (" + host + ")",
		Kind:    core.SiteLocal,
		Country: country,
		Driver:  "local",
		Pools:   []core.Pool{pool},
		PUE:     DefaultPUE,
	}
	fillDefaults(&s, true, false)
	c.Sites = []core.Site{s}
	return c
}

// runNvidiaSMI asks the NVIDIA driver for the GPUs of this machine.
func runNvidiaSMI() (string, error) {
	path, err := exec.LookPath("nvidia-smi")
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--query-gpu=index,name", "--format=csv,noheader").Output()
	return string(out), err
}

// parseNvidiaSMI reads "0, NVIDIA H100 80GB HBM3" lines into GPU names in
// index order; lines that do not fit are skipped.
func parseNvidiaSMI(out string) []string {
	var names []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		idx, name, ok := strings.Cut(sc.Text(), ",")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.TrimSpace(idx) == "" {
			continue
		}
		names = append(names, name)
	}
	return names
}

// poolName turns a host name into a valid pool name.
func poolName(host string) string {
	host, _, _ = strings.Cut(strings.ToLower(host), ".")
	var b strings.Builder
	for _, r := range host {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		}
	}
	s := strings.TrimLeft(b.String(), "-_")
	if len(s) > 63 {
		s = s[:63]
	}
	if s == "" {
		return "localhost"
	}
	return s
}

// memMiB reads the machine's memory from /proc/meminfo; 0 where unknown.
func memMiB() int {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int
		if n, _ := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kb); n == 1 {
			return kb / 1024
		}
	}
	return 0
}
