// Package config reads the service's environment into a Config, checked
// whole: one start names every bad variable at once.
//
// Every variable is one row of the options table (options.go): its name,
// its default, whether that default holds only on a local setup, whether
// it is a secret, what it means, and how it is read. Parse walks the
// table; the README's configuration table is generated from it
// (`go generate ./internal/config`), and a test fails when the two differ.
package config

//go:generate go run ./gendoc -readme ../../README.md

import (
	"crypto/rsa"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"email-alert/ratelimit"
)

// Local development defaults. They are accepted only while PUBLIC_URL
// points at this machine, so a deployment that forgets a secret fails at
// start instead of running with a value published here.
//
//nolint:gosec // published development values, refused outside local setups
const (
	DevAPIToken            = "dev-api-token"
	DevAccountEventsToken  = "dev-account-events-token"
	DevNotifyCallbackToken = "dev-notify-callback-token"
	devOIDCAddr            = "127.0.0.1:3099"
	devOIDCClientID        = "email-alert-dev"
)

// Config is the whole environment of the service, parsed and checked.
type Config struct {
	DatabaseURL  string
	RedisURL     string
	Redis        asynq.RedisConnOpt
	APIAddr      string
	FrontendAddr string
	// MetricsAddr, when set, is where a lone worker serves /metrics (api
	// and frontend serve it on their own listeners).
	MetricsAddr string
	PublicURL   *url.URL
	// Local is true when PUBLIC_URL is on this machine: development
	// defaults are allowed and cookies need not be Secure.
	Local bool

	APITokens           []string
	APITokensAreDefault bool
	AccountEventsToken  string
	NotifyCallbackToken string
	AccountEventsIssuer string
	AccountEventsJWKS   string
	AccountEventsAud    string

	OIDCIssuerURL             string
	OIDCClientID              string
	OIDCPrivateKeyFile        string
	OIDCPrivateKey            *rsa.PrivateKey // private_key_jwt; nil: OIDCClientSecret
	OIDCClientSecret          string
	OIDCScopes                []string
	OIDCVTR                   []string // nil: send no vtr and skip the vot check
	OIDCRedirectURL           string
	OIDCPostLogoutRedirectURL string
	// OneLoginAccountURL is where "change it in your GOV.UK One Login"
	// points: the provider's own account page.
	OneLoginAccountURL string

	RateLimitPerAddress []ratelimit.Limit
	RateLimitPerClient  []ratelimit.Limit
	// TrustedProxies are the CIDRs of the CDN and load balancers whose
	// ClientIPHeader is believed; empty: the TCP peer is the client.
	TrustedProxies []string
	ClientIPHeader string

	// AddressRetention is how long an inactive subscriber's address is kept.
	AddressRetention time.Duration
	// WorkerConcurrency is how many jobs a worker runs at once, and
	// WorkerPriorities the rank of each queue: the worker serves them in
	// strict order, highest first (email before everything, bulk last).
	WorkerConcurrency int
	WorkerPriorities  map[string]int
	// EmailRateLimit is how many emails every worker together hands the
	// provider; nil (EMAIL_RATE_LIMIT=none): no limit.
	EmailRateLimit *ratelimit.Limit

	// GovukWebsiteRoot is the base of content links in alert emails, and
	// DigestHour:DigestMinute the time of digest runs (Europe/London).
	GovukWebsiteRoot         *url.URL
	DigestHour, DigestMinute int

	EmailDelivery    string
	SMTPURL          string
	NotifyAPIKey     string
	NotifyBaseURL    string
	NotifyTemplateID string
	EmailFrom        string
}

// errorList lists every bad variable, so one start shows them all.
type errorList []string

func (e errorList) Error() string {
	sort.Strings(e)
	return "configuration: " + strings.Join(e, "; ")
}

// Parse reads the configuration through getenv (os.Getenv in main): each
// option in the table's order, so a default may follow the options above
// it. A value is trimmed of spaces; a blank one is unset.
func Parse(getenv func(string) string) (*Config, error) {
	r := &reading{Config: &Config{}, getenv: getenv}
	var problems errorList
	for _, o := range options {
		v, ok := o.value(r)
		if !ok {
			problems = append(problems, o.name+" is required when PUBLIC_URL is not on this machine")
			continue
		}
		if err := o.set(r, v); err != nil {
			problems = append(problems, o.name+" "+err.Error())
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return r.Config, nil
}

// reading is a Config being read, with what later defaults need from
// options that are not in it.
type reading struct {
	*Config
	getenv func(string) string
	// devOIDCAddr is DEV_OIDC_ADDR, where the local identity provider runs.
	devOIDCAddr string
}

// devIssuer is the issuer URL of the local identity provider (dev-oidc).
func (r *reading) devIssuer() string { return "http://" + r.devOIDCAddr + "/" }

// value is o's value: the variable's, else its default. ok is false when
// the variable is required: unset, with a default only for local setups,
// on a setup that is not local.
func (o *option) value(r *reading) (v string, ok bool) {
	if v := strings.TrimSpace(r.getenv(o.name)); v != "" {
		return v, true
	}
	if o.localOnly && !r.Local {
		return "", false
	}
	if o.derive != nil {
		return o.derive(r), true
	}
	return o.fallback, true
}
