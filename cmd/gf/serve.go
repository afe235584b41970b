package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gigafactory/gigafactory/internal/api"
	"github.com/gigafactory/gigafactory/internal/config"
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/daemon"
	"github.com/gigafactory/gigafactory/internal/driver"
	"github.com/gigafactory/gigafactory/internal/driver/local"
	"github.com/gigafactory/gigafactory/internal/driver/sim"
	"github.com/gigafactory/gigafactory/internal/driver/slurm"
	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/meter"
	"github.com/gigafactory/gigafactory/internal/portal"
	"github.com/gigafactory/gigafactory/internal/store"
)

// serveCommand runs Gigafactory itself.
func serveCommand(env *cliEnv) *cobra.Command {
	o := &serveOptions{}
	cmd := newCommand(env, "serve", "run the control plane (embedded SQLite in --data, local executor by default)", o.run)
	o.flags(cmd.Flags())
	o.audit.flags(cmd)
	return cmd
}

type serveOptions struct {
	listen    string
	config    string
	storeDSN  string
	virtual   int
	network   string
	logLevel  string
	logFormat string
	rate      float64
	burst     int
	oidc      api.OIDC
	secret    string // --oidc-client-secret: the portal's client secret (confidential client); "": public, PKCE alone
	audit     auditServeOptions
	id        string // --controller-id
	clock     clockOptions
}

func (o *serveOptions) flags(fs *pflag.FlagSet) {
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address to serve the API on (port 0 picks a free one; the URL is written to DATA/gf.addr)")
	fs.StringVar(&o.config, "config", "", "federation config (YAML); default: one local site for this machine")
	fs.StringVar(&o.storeDSN, "store", "", "store DSN: postgres://... for PostgreSQL; default: SQLite in DATA/gf.db")
	fs.IntVar(&o.virtual, "virtual-accelerators", 0, "virtual accelerators of the default local site when no GPU is found (default 8)")
	fs.StringVar(&o.network, "network", "", "a built-in network instead of --config: eu (the EU reference network, simulated sites)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "text (key=value) or json (one object a line)")
	fs.Float64Var(&o.rate, "rate-limit", api.DefaultRate, "API requests per second each token may make, sustained (0 = no limit)")
	fs.IntVar(&o.burst, "rate-burst", api.DefaultBurst, "API requests each token may make at once above --rate-limit")
	fs.StringVar(&o.oidc.Issuer, "oidc-issuer", "", "accept ID tokens of this OpenID provider (issuer URL) as bearer tokens: federated login, gf login")
	fs.StringVar(&o.oidc.Audience, "oidc-client-id", "", "with --oidc-issuer: the client id the tokens must be issued to (their audience), which gf login uses")
	fs.StringVar(&o.oidc.UsernameClaim, "oidc-username-claim", api.DefaultUsernameClaim, "with --oidc-issuer: the claim that names a user at their first login (sub when absent)")
	fs.StringVar(&o.oidc.OrgClaim, "oidc-org-claim", api.DefaultOrgClaim, "with --oidc-issuer: the claim naming the user's home organisation")
	fs.StringVar(&o.secret, "oidc-client-secret", "", "with --oidc-issuer: the client secret of the portal's browser login, for a confidential client (default: none, a public client with PKCE)")
	fs.StringVar(&o.id, "controller-id", "", "this controller's name among several sharing one PostgreSQL (gf controllers); default HOST:DATA-DIRECTORY")
	fs.StringToStringVar(&o.oidc.OrgMap, "oidc-org-map", nil, "with --oidc-issuer: organisation claim values to gf organisations, e.g. cnr.it=cnr,uni-lj.si=uni-lj (default: the value itself)")
	o.clock.flags(fs)
}

func (o *serveOptions) run(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) > 0 {
		return errUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %v", err)
	}
	hopts := &slog.HandlerOptions{Level: level}
	var log *slog.Logger
	switch o.logFormat {
	case "text":
		log = slog.New(slog.NewTextHandler(env.stderr, hopts))
	case "json":
		log = slog.New(slog.NewJSONHandler(env.stderr, hopts))
	default:
		return fmt.Errorf("--log-format %q: want text or json", o.logFormat)
	}
	if (o.oidc.Issuer == "") != (o.oidc.Audience == "") {
		return fmt.Errorf("--oidc-issuer and --oidc-client-id go together")
	}
	if o.secret != "" && o.oidc.Issuer == "" {
		return fmt.Errorf("--oidc-client-secret needs --oidc-issuer")
	}
	if o.oidc.Issuer != "" && !strings.HasPrefix(o.oidc.Issuer, "https://") && !strings.HasPrefix(o.oidc.Issuer, "http://127.0.0.1") && !strings.HasPrefix(o.oidc.Issuer, "http://localhost") {
		return fmt.Errorf("--oidc-issuer %q: want an https:// URL (http only on loopback)", o.oidc.Issuer)
	}
	if o.rate < 0 || o.burst < 1 {
		return fmt.Errorf("--rate-limit must not be negative and --rate-burst must be at least 1")
	}
	dir := env.data
	// The lock comes first: a second server on this directory must not
	// open the store, tighten modes or write admin.token.
	release, err := lockDataDir(dir)
	if err != nil {
		return err
	}
	defer release()
	if err := secureDataDir(dir); err != nil {
		return err
	}
	cfg, err := o.loadConfig()
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings {
		log.Info("config", "note", w)
	}
	vc, err := o.clock.clock(cfg.Sites, time.Now)
	if err != nil {
		return err
	}
	now := time.Now // the daemon's and the sim drivers' clock
	if vc != nil {
		now = vc.Now
		log.Info("virtual clock", "epoch", vc.epoch.Format(time.RFC3339Nano), "wall_start", vc.start.UTC().Format(time.RFC3339Nano), "speed", vc.speed, "step", vc.step)
	}
	metering, err := meter.FromYAML(cfg.File, cfg.Metering)
	if err != nil {
		return err
	}
	engineCfg, err := cfg.Engine()
	if err != nil {
		return err
	}
	dsn := o.storeDSN
	if dsn == "" {
		dsn = "sqlite:" + filepath.Join(dir, "gf.db")
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	keyMsg, err := o.audit.startAudit(ctx, st, dir, cfg, firstNonEmpty(o.config, o.network, "default"))
	if err != nil {
		return err
	}
	tokenMsg, err := bootstrap(ctx, st, dir, cfg)
	if err != nil {
		return err
	}
	drivers, closeDrivers, err := openDrivers(cfg.Sites, dir, now)
	if err != nil {
		return err
	}
	defer closeDrivers()
	d, err := daemon.New(daemon.Options{Store: st, Sites: cfg.Sites, Drivers: drivers, Engine: engineCfg, Routing: engine.LiveRouting(), Logger: log, Clock: now,
		Meter: metering,
		// Expired awards too: their projects' jobs wait saying so.
		Awards:        func(ctx context.Context) ([]core.Award, error) { return st.ListAwards(ctx, "") },
		ExchangeRates: exchangeRates(cfg), CanonicalModel: canonicalModel})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", o.listen, err)
	}
	url := "http://" + ln.Addr().String()
	if err := writeFileAtomic(filepath.Join(dir, addrFile), []byte(url+"\n"), 0o600); err != nil {
		return err
	}
	apiOpts := []api.Option{api.WithRateLimit(api.RateLimit{PerSecond: o.rate, Burst: o.burst})}
	if o.oidc.Issuer != "" {
		apiOpts = append(apiOpts, api.WithOIDC(o.oidc))
	}
	popts := portal.Options{Version: version, Log: log, TwinDir: filepath.Join(dir, "twin")}
	if o.oidc.Issuer != "" {
		popts.OIDC = &portal.OIDCLogin{Issuer: o.oidc.Issuer, ClientID: o.oidc.Audience, ClientSecret: o.secret}
	}
	web, err := portal.New(api.New(d, log, version, apiOpts...).Handler(), popts)
	if err != nil {
		return err
	}
	handler := web.Handler()
	srv := api.HTTPServer(handler, api.DefaultTimeouts(), log)
	// One controller leads (schedules, drives the sites); with SQLite,
	// whose data directory is locked, this one always does.
	lead := daemon.Leadership{ID: o.id, Address: url, Exclusive: st.Dialect() == store.SQLite}
	if lead.ID == "" {
		// Stable across restarts (so a restarted leader takes its lease
		// back at once) and unique: one controller per data directory.
		host, _ := os.Hostname()
		abs, err := filepath.Abs(dir)
		if err != nil {
			abs = dir
		}
		lead.ID = host + ":" + abs
	}
	loopCtx, stopLoop := context.WithCancel(context.Background())
	loopDone := make(chan struct{})
	loopErr := make(chan error, 1)
	go func() {
		defer close(loopDone)
		if err := d.RunElected(loopCtx, lead); err != nil {
			loopErr <- err
		}
	}()
	go o.audit.runAuditCheckpoints(loopCtx, st, log)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	total := 0
	for _, s := range cfg.Sites {
		total += s.Totals()
	}
	fmt.Fprintf(env.stdout, "Gigafactory %s serving %s (%d sites, %d accelerators; store %s)\n", version, url, len(cfg.Sites), total, st.Dialect())
	if tokenMsg != "" {
		fmt.Fprint(env.stdout, tokenMsg)
	}
	fmt.Fprint(env.stdout, keyMsg)
	log.Info("serving", "url", url, "data", dir)
	select {
	case <-ctx.Done():
	case err := <-loopErr:
		stopLoop()
		_ = srv.Close()
		return err
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			stopLoop()
			<-loopDone
			return err
		}
	}
	log.Info("shutting down")
	shCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shCtx)
	stopLoop()
	<-loopDone
	return nil
}

func (o *serveOptions) loadConfig() (*config.Config, error) {
	switch {
	case o.network != "" && o.config != "":
		return nil, errors.New("--network and --config exclude each other")
	case o.network == "eu":
		return config.EU(), nil
	case o.network != "":
		return nil, fmt.Errorf("--network %q: the only built-in network is eu", o.network)
	case o.config != "":
		return config.Load(o.config)
	}
	return config.Default(config.DefaultOptions{VirtualAccelerators: o.virtual}), nil
}

// openDrivers makes one driver per site that has compute; sim drivers
// read the time from now (the daemon's clock).
func openDrivers(sites []core.Site, dir string, now func() time.Time) (map[string]driver.Driver, func(), error) {
	drivers := map[string]driver.Driver{}
	closeAll := func() {
		for _, d := range drivers {
			if c, ok := d.(driver.Closer); ok {
				_ = c.Close()
			}
		}
	}
	for _, s := range sites {
		if len(s.Pools) == 0 {
			continue
		}
		switch s.Driver {
		case "local":
			opts, err := local.OptionsFromSite(s, dir)
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("site %s: %w", s.ID, err)
			}
			d, err := local.New(opts)
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("site %s: %w", s.ID, err)
			}
			drivers[s.ID] = d
		case "sim":
			drivers[s.ID] = sim.New(now)
		case "slurm":
			d, err := slurm.New(s)
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("site %s: %w", s.ID, err)
			}
			drivers[s.ID] = d
		default:
			closeAll()
			return nil, nil, fmt.Errorf("site %s: driver %q is not available in this build", s.ID, s.Driver)
		}
	}
	return drivers, closeAll, nil
}

// bootstrap creates, on first start, the administrator, its token and the
// organisation and project named default. It returns what to tell the user.
func bootstrap(ctx context.Context, st *store.DB, dir string, cfg *config.Config) (string, error) {
	tokenPath := filepath.Join(dir, "admin.token")
	done, err := st.GetMeta(ctx, "bootstrap_done")
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	if done == "" {
		now := time.Now().UTC()
		country := "LU"
		if len(cfg.Sites) > 0 && len(cfg.Sites[0].Country) == 2 {
			country = cfg.Sites[0].Country
		}
		for _, f := range []func() error{
			func() error {
				return st.CreateOrg(ctx, core.Org{Name: "default", Kind: core.OrgResearch, Country: country, CreatedAt: now})
			},
			func() error {
				return st.CreateProject(ctx, core.Project{Name: api.DefaultProject, Org: "default", Description: "created at first start", CreatedAt: now})
			},
			func() error {
				return st.CreateUser(ctx, core.User{Name: "admin", Org: "default", Role: core.RoleAdmin, CreatedAt: now})
			},
		} {
			if err := f(); err != nil && !errors.Is(err, store.ErrExists) {
				return "", fmt.Errorf("first start: %w", err)
			}
		}
		if _, err := st.AppendAudit(ctx, store.AuditEntry{Actor: "gf", Action: "bootstrap", Object: "org/default", Detail: "organisation, project and administrator created at first start"}); err != nil {
			return "", err
		}
	}
	if _, err := os.Stat(tokenPath); err == nil && done != "" {
		return "", nil
	}
	// A new admin.token replaces the old one: the tokens written there
	// before stop working, whoever copied them.
	old, err := st.ListTokens(ctx, "admin")
	if err != nil {
		return "", err
	}
	tok, hash := api.NewToken()
	if err := st.CreateToken(ctx, "admin", hash, adminTokenFile); err != nil {
		return "", err
	}
	if err := writeFileAtomic(tokenPath, []byte(tok+"\n"), 0o600); err != nil {
		return "", err
	}
	for _, t := range old {
		if t.Label != adminTokenFile {
			continue
		}
		if err := st.RevokeToken(ctx, t.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
		if _, err := st.AppendAudit(ctx, store.AuditEntry{Actor: "gf", Action: "token.revoke", Object: fmt.Sprintf("token/%d", t.ID), Detail: "admin.token written anew at start"}); err != nil {
			return "", err
		}
	}
	if err := st.SetMeta(ctx, "bootstrap_done", time.Now().UTC().Format(time.RFC3339)); err != nil {
		return "", err
	}
	abs, _ := filepath.Abs(tokenPath)
	return fmt.Sprintf("Administrator token written to %s (mode 0600). In this directory gf finds it by itself; elsewhere:\n  export GF_URL=<the URL above> GF_TOKEN=$(cat %s)\nThen: gf submit -- sh -c 'echo hello'; gf jobs; gf logs 1\n", abs, strings.TrimSpace(abs)), nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// exchangeRates are the config's exchange_rates over the defaults
// (config.DefaultExchangeRates: peak BF16 throughput relative to H100).
func exchangeRates(cfg *config.Config) map[string]float64 {
	r := config.DefaultExchangeRates()
	for m, v := range cfg.ExchangeRates {
		r[m] = v
	}
	return r
}

// canonicalModel names a model as config.CanonicalModel does, or as given.
func canonicalModel(m string) string {
	if c, ok := config.CanonicalModel(m); ok {
		return c
	}
	return m
}
