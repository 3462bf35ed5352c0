package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/discovery"
	"github.com/tokenkeeper/tokenkeeper/seal"
)

// Environment variables the command reads.
const (
	envConfigDir = "TOKENKEEPER_CONFIG_DIR" // overrides the config folder
	envProfile   = "TOKENKEEPER_PROFILE"    // the default profile
	envKeys      = "TOKENKEEPER_KEYS"       // seals the token cache (seal.EnvKeys)
)

// file is the config file: profiles by name.
type file struct {
	Profiles map[string]*profile `json:"profiles"`
}

// profile describes one credential. It holds no secret: secrets come from
// an environment variable or a file named here.
type profile struct {
	// Preset is "daxium", "transiteo" or "auth0"; Issuer is used instead
	// for any other OpenID Provider (discovery).
	Preset string `json:"preset,omitempty"`
	Issuer string `json:"issuer,omitempty"`
	// Domain is the Auth0 tenant domain.
	Domain   string `json:"domain,omitempty"`
	ClientID string `json:"client_id"`
	// Secret is where the client secret comes from.
	Secret secretRef `json:"secret,omitzero"`
	// Username and Password are Daxium's password grant.
	Username string    `json:"username,omitempty"`
	Password secretRef `json:"password,omitzero"`
	// RefreshToken is Transiteo's console refresh token.
	RefreshToken secretRef `json:"refresh_token,omitzero"`
	Scopes       []string  `json:"scopes,omitempty"`
	Audience     string    `json:"audience,omitempty"`
	// Login is how a token is obtained without a person: "password",
	// "client_credentials", "refresh_token"; empty means what the preset
	// implies, or none (interactive login with the login command).
	Login string `json:"login,omitempty"`
	// BaseURL points every endpoint of a preset at another server (a
	// test server, a proxy).
	BaseURL string `json:"base_url,omitempty"`
	// APIURL is an API endpoint the test command calls.
	APIURL string `json:"api_url,omitempty"`
	// JWKSURL is where info -verify gets the issuer's keys; empty means
	// the jwks_uri of the issuer's discovery document.
	JWKSURL string `json:"jwks_url,omitempty"`
	// IDTokenAlgs are the id_token signature algorithms info -verify
	// accepts; empty means discovery's, else RS256, PS256 and ES256.
	IDTokenAlgs []string `json:"id_token_algs,omitempty"`
}

// secretRef names where a secret is read: an environment variable or a
// file. The secret itself is never in the config.
type secretRef struct {
	Env  string `json:"env,omitempty"`
	File string `json:"file,omitempty"`
}

func (r secretRef) set() bool { return r.Env != "" || r.File != "" }

// read returns the secret, or a configError naming where it was looked
// for (never its value).
func (r secretRef) read(what string) (string, error) {
	switch {
	case r.Env != "":
		v, ok := os.LookupEnv(r.Env)
		if !ok || v == "" {
			return "", configErrorf("%s: environment variable %s is not set", what, r.Env)
		}
		return v, nil
	case r.File != "":
		b, err := os.ReadFile(r.File)
		if err != nil {
			return "", configErrorf("%s: cannot read file %s: %v", what, r.File, errors.Unwrap(err))
		}
		return strings.TrimSpace(string(b)), nil
	}
	return "", configErrorf("%s: no env or file given", what)
}

// configError is a problem with the config or the command line (exit 2).
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func configErrorf(format string, a ...any) error {
	return &configError{msg: fmt.Sprintf(format, a...)}
}

// configDir returns the command's folder: $TOKENKEEPER_CONFIG_DIR, or
// tokenkeeper in the user's config folder.
func configDir(flagDir string) (string, error) {
	if flagDir != "" {
		return flagDir, nil
	}
	if d := os.Getenv(envConfigDir); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", configErrorf("no config folder: %v (set %s)", err, envConfigDir)
	}
	return filepath.Join(d, "tokenkeeper"), nil
}

var profileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// loadProfile reads the named profile from dir/config.json.
func loadProfile(dir, name string) (*profile, error) {
	if !profileName.MatchString(name) {
		return nil, configErrorf("invalid profile name %q", name)
	}
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, configErrorf("no config file %s", path)
	}
	if err != nil {
		return nil, configErrorf("cannot read %s: %v", path, errors.Unwrap(err))
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, configErrorf("%s: %v", path, err)
	}
	p, ok := f.Profiles[name]
	if !ok || p == nil {
		return nil, configErrorf("unknown profile %q in %s", name, path)
	}
	return p, nil
}

// config builds the tokenkeeper.Config of the profile: a preset, or the
// issuer's metadata.
func (p *profile) config(ctx context.Context) (tokenkeeper.Config, error) {
	if p.ClientID == "" {
		return tokenkeeper.Config{}, configErrorf("profile has no client_id")
	}
	secret := ""
	if p.Secret.set() {
		s, err := p.Secret.read("client secret")
		if err != nil {
			return tokenkeeper.Config{}, err
		}
		secret = s
	}
	cfg, err := p.base(ctx, secret)
	if err != nil {
		return cfg, err
	}
	if secret == "" && p.Preset != "transiteo" {
		cfg.AuthStyle = tokenkeeper.AuthNone
	}
	cfg.UserAgent = "tokenkeeper-cli"
	return cfg, nil
}

func (p *profile) base(ctx context.Context, secret string) (tokenkeeper.Config, error) {
	var cfg tokenkeeper.Config
	switch p.Preset {
	case "daxium":
		cfg = tokenkeeper.DaxiumAir(p.ClientID, secret)
	case "transiteo":
		cfg = tokenkeeper.Transiteo(p.ClientID)
	case "auth0":
		if p.Domain == "" && p.BaseURL == "" {
			return cfg, configErrorf("auth0 profile has no domain")
		}
		cfg = tokenkeeper.Auth0(p.Domain, p.ClientID, secret)
	case "":
		if p.Issuer == "" {
			return cfg, configErrorf("profile has neither preset nor issuer")
		}
		md, err := p.metadata(ctx)
		if err != nil {
			return cfg, err
		}
		return md.Config(tokenkeeper.Config{ClientID: p.ClientID, ClientSecret: secret}), nil
	default:
		return cfg, configErrorf("unknown preset %q (daxium, transiteo, auth0)", p.Preset)
	}
	cfg.BaseURL = p.BaseURL
	return cfg, nil
}

// issuer returns the profile's issuer identifier: Issuer, or the Auth0
// tenant's (https://domain/, or the base URL with a slash).
func (p *profile) issuer() string {
	switch {
	case p.Issuer != "":
		return p.Issuer
	case p.Preset == "auth0" && p.BaseURL != "":
		return strings.TrimSuffix(p.BaseURL, "/") + "/"
	case p.Preset == "auth0":
		return "https://" + p.Domain + "/"
	}
	return ""
}

func (p *profile) metadata(ctx context.Context) (*discovery.Metadata, error) {
	iss := p.issuer()
	if iss == "" {
		return nil, configErrorf("profile has no issuer (needed for discovery and --verify)")
	}
	return discovery.Discover(ctx, iss, discovery.Options{})
}

// scope is the profile's scopes, space separated.
func (p *profile) scope() string { return strings.Join(p.Scopes, " ") }

// grantOptions are the scope and audience parameters of a grant.
func (p *profile) grantOptions() []tokenkeeper.GrantOption {
	var opts []tokenkeeper.GrantOption
	if s := p.scope(); s != "" {
		opts = append(opts, tokenkeeper.Param("scope", s))
	}
	if p.Audience != "" {
		opts = append(opts, tokenkeeper.Param("audience", p.Audience))
	}
	return opts
}

// loginKind is how the profile gets a token without a person.
func (p *profile) loginKind() string {
	if p.Login != "" {
		return p.Login
	}
	switch {
	case p.Preset == "daxium":
		return "password"
	case p.Preset == "transiteo":
		return "refresh_token"
	case p.Secret.set() && p.Audience != "":
		return "client_credentials"
	}
	return ""
}

// sourceConfig returns how a Source of the profile gets its first token.
func (p *profile) sourceConfig() (tokenkeeper.SourceConfig, error) {
	var sc tokenkeeper.SourceConfig
	switch p.loginKind() {
	case "":
	case "password":
		if p.Username == "" {
			return sc, configErrorf("password login: profile has no username")
		}
		pw, err := p.Password.read("password")
		if err != nil {
			return sc, err
		}
		sc.Login = tokenkeeper.PasswordGrant(p.Username, pw, p.grantOptions()...)
	case "client_credentials":
		sc.Login = tokenkeeper.ClientCredentialsGrant(p.grantOptions()...)
	case "refresh_token":
		rt, err := p.RefreshToken.read("refresh token")
		if err != nil {
			return sc, err
		}
		sc.Token = &tokenkeeper.Token{RefreshToken: rt}
	default:
		return sc, configErrorf("unknown login %q (password, client_credentials, refresh_token)", p.loginKind())
	}
	return sc, nil
}

// store returns the profile's token cache: dir/tokens/<name>.json, sealed
// with the keys of $TOKENKEEPER_KEYS when it is set.
func store(dir, name string) (*tokenkeeper.FileStore, error) {
	tokens := filepath.Join(dir, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return nil, fmt.Errorf("token cache: %w", err)
	}
	var opts tokenkeeper.FileStoreOptions
	if os.Getenv(envKeys) != "" {
		kp, err := seal.EnvKeys(envKeys)
		if err != nil {
			return nil, &configError{msg: err.Error()}
		}
		opts.Keys = kp
	}
	return tokenkeeper.NewFileStore(filepath.Join(tokens, name+".json"), opts)
}
