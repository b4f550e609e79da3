package main

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"email-alert/internal/devkeys"
	"email-alert/ratelimit"
)

// Local development defaults. They are accepted only while PUBLIC_URL
// points at this machine, so a deployment that forgets a secret fails at
// start instead of running with a value published here.
//
//nolint:gosec // published development values, refused outside local setups
const (
	devAPIToken           = "dev-api-token"
	devAccountEventsToken = "dev-account-events-token"
	devOIDCAddr           = "127.0.0.1:3099"
	devOIDCClientID       = "email-alert-dev"
)

// config is the whole environment of the service, parsed and checked.
type config struct {
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

	RateLimitPerAddress []ratelimit.Limit
	RateLimitPerClient  []ratelimit.Limit

	// AddressRetention is how long an inactive subscriber's address is kept.
	AddressRetention time.Duration
	// WorkerConcurrency is how many jobs a worker runs at once, and
	// WorkerPriorities the weight of each queue (events, email, maintenance).
	WorkerConcurrency int
	WorkerPriorities  map[string]int

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

// configErrors lists every bad variable, so one start shows them all.
type configErrors []string

func (e configErrors) Error() string {
	sort.Strings(e)
	return "configuration: " + strings.Join(e, "; ")
}

// parseConfig reads the configuration through getenv (os.Getenv in main).
func parseConfig(getenv func(string) string) (*config, error) {
	var problems configErrors
	get := func(name, fallback string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return fallback
	}
	bad := func(name, format string, args ...any) {
		problems = append(problems, name+" "+fmt.Sprintf(format, args...))
	}
	c := &config{}

	c.DatabaseURL = get("DATABASE_URL", "postgres:///email_alert?sslmode=disable")
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		bad("DATABASE_URL", "must be a postgres:// URL")
	}
	c.RedisURL = get("REDIS_URL", "redis://127.0.0.1:6379/0")
	redisOpt, err := asynq.ParseRedisURI(c.RedisURL)
	if err != nil {
		bad("REDIS_URL", "must be a redis://, rediss:// or redis-sentinel:// URL")
	}
	c.Redis = redisOpt

	c.APIAddr = get("API_ADDR", "127.0.0.1:3088")
	c.FrontendAddr = get("FRONTEND_ADDR", "127.0.0.1:3000")
	c.MetricsAddr = get("METRICS_ADDR", "")
	for name, addr := range map[string]string{"API_ADDR": c.APIAddr, "FRONTEND_ADDR": c.FrontendAddr, "METRICS_ADDR": c.MetricsAddr} {
		if addr == "" && name == "METRICS_ADDR" {
			continue
		}
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			bad(name, "must be host:port, e.g. 127.0.0.1:3000")
		}
	}

	publicURL := get("PUBLIC_URL", "http://localhost:3000")
	c.PublicURL, err = parseBaseURL(publicURL)
	if err != nil {
		bad("PUBLIC_URL", "%v", err)
		c.PublicURL = &url.URL{Scheme: "http", Host: "localhost"}
	}
	c.Local = isLoopbackHost(c.PublicURL.Hostname())
	// devDefault is fallback on a local setup and "" (required) elsewhere.
	required := map[string]bool{}
	devDefault := func(name, fallback string) string {
		v := get(name, "")
		if v == "" && c.Local {
			return fallback
		}
		if v == "" {
			required[name] = true
		}
		return v
	}

	tokens := devDefault("API_TOKENS", devAPIToken)
	c.APITokensAreDefault = getenv("API_TOKENS") == "" && c.Local
	for _, t := range strings.Split(tokens, ",") {
		if t = strings.TrimSpace(t); t != "" {
			c.APITokens = append(c.APITokens, t)
		}
	}
	if len(c.APITokens) == 0 && !required["API_TOKENS"] {
		bad("API_TOKENS", "must list at least one token")
	}
	for _, t := range c.APITokens {
		if len(t) < 8 {
			bad("API_TOKENS", "has a token shorter than 8 characters")
			break
		}
	}
	c.AccountEventsToken = devDefault("ACCOUNT_EVENTS_TOKEN", devAccountEventsToken)

	devIssuer := "http://" + devOIDCAddr + "/"
	c.OIDCIssuerURL = devDefault("OIDC_ISSUER_URL", devIssuer)
	c.OIDCClientID = devDefault("OIDC_CLIENT_ID", devOIDCClientID)
	c.OIDCPrivateKeyFile = get("OIDC_PRIVATE_KEY_FILE", "")
	c.OIDCClientSecret = get("OIDC_CLIENT_SECRET", "")
	switch {
	case c.OIDCPrivateKeyFile != "":
		pemBytes, err := os.ReadFile(c.OIDCPrivateKeyFile)
		if err == nil {
			c.OIDCPrivateKey, err = devkeys.ParseRSAPrivateKey(pemBytes)
		}
		if err != nil {
			bad("OIDC_PRIVATE_KEY_FILE", "must name a readable PEM RSA private key (%v)", err)
		}
	case c.OIDCClientSecret != "":
	case c.Local:
		c.OIDCPrivateKey, _ = devkeys.ClientKey() // embedded, parsed by its tests
	default:
		bad("OIDC_PRIVATE_KEY_FILE", "or OIDC_CLIENT_SECRET is required when PUBLIC_URL is not on this machine")
	}
	c.OIDCScopes = strings.Fields(get("OIDC_SCOPES", "openid email"))
	if !slices.Contains(c.OIDCScopes, "openid") {
		bad("OIDC_SCOPES", "must include openid")
	}
	if vtr := get("OIDC_VTR", `["Cl.Cm"]`); vtr != "none" {
		if err := json.Unmarshal([]byte(vtr), &c.OIDCVTR); err != nil || len(c.OIDCVTR) == 0 {
			bad("OIDC_VTR", `must be a JSON array of strings such as ["Cl.Cm"], or none`)
		}
	}
	c.OIDCRedirectURL = get("OIDC_REDIRECT_URL", c.PublicURL.JoinPath("sign-in", "callback").String())
	c.OIDCPostLogoutRedirectURL = get("OIDC_POST_LOGOUT_REDIRECT_URL", c.PublicURL.JoinPath("signed-out").String())

	c.AccountEventsIssuer = devDefault("ACCOUNT_EVENTS_ISSUER", devIssuer)
	c.AccountEventsJWKS = devDefault("ACCOUNT_EVENTS_JWKS_URL", devIssuer+".well-known/jwks.json")
	c.AccountEventsAud = devDefault("ACCOUNT_EVENTS_AUDIENCE", c.PublicURL.String())

	for name, value := range map[string]string{
		"OIDC_ISSUER_URL": c.OIDCIssuerURL, "OIDC_REDIRECT_URL": c.OIDCRedirectURL,
		"OIDC_POST_LOGOUT_REDIRECT_URL": c.OIDCPostLogoutRedirectURL,
		"ACCOUNT_EVENTS_JWKS_URL":       c.AccountEventsJWKS,
	} {
		if value != "" && !isHTTPURL(value) {
			bad(name, "must be an http(s) URL")
		}
	}

	if c.RateLimitPerAddress, err = ratelimit.Parse(get("RATE_LIMIT_PER_ADDRESS", "4/minute,11/hour")); err != nil {
		bad("RATE_LIMIT_PER_ADDRESS", "%v", err)
	}
	if c.RateLimitPerClient, err = ratelimit.Parse(get("RATE_LIMIT_PER_CLIENT", "60/minute")); err != nil {
		bad("RATE_LIMIT_PER_CLIENT", "%v", err)
	}

	if days, err := strconv.Atoi(get("ADDRESS_RETENTION_DAYS", "28")); err != nil || days < 1 {
		bad("ADDRESS_RETENTION_DAYS", "must be a whole number of days, at least 1")
	} else {
		c.AddressRetention = time.Duration(days) * 24 * time.Hour
	}
	if n, err := strconv.Atoi(get("WORKER_CONCURRENCY", "10")); err != nil || n < 1 || n > 1000 {
		bad("WORKER_CONCURRENCY", "must be a whole number from 1 to 1000")
	} else {
		c.WorkerConcurrency = n
	}
	if c.WorkerPriorities, err = parsePriorities(get("WORKER_QUEUE_PRIORITIES", "events=6,email=3,maintenance=1")); err != nil {
		bad("WORKER_QUEUE_PRIORITIES", "%v", err)
	}

	if c.GovukWebsiteRoot, err = parseBaseURL(get("GOVUK_WEBSITE_ROOT", "https://www.gov.uk")); err != nil {
		bad("GOVUK_WEBSITE_ROOT", "%v", err)
	}
	if t, err := time.Parse("15:04", get("DIGEST_TIME", "08:00")); err != nil {
		bad("DIGEST_TIME", "must be a time of day such as 08:00 (Europe/London)")
	} else {
		c.DigestHour, c.DigestMinute = t.Hour(), t.Minute()
	}

	c.EmailDelivery = get("EMAIL_DELIVERY", "log")
	c.SMTPURL = get("SMTP_URL", "")
	c.NotifyAPIKey = get("NOTIFY_API_KEY", "")
	c.NotifyBaseURL = get("NOTIFY_BASE_URL", "https://api.notifications.service.gov.uk")
	c.NotifyTemplateID = get("NOTIFY_TEMPLATE_ID", "")
	c.EmailFrom = get("EMAIL_FROM", "GOV.UK emails <noreply@localhost>")
	switch c.EmailDelivery {
	case "log":
	case "smtp":
		if u, err := url.Parse(c.SMTPURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			bad("SMTP_URL", "must be an smtp:// or smtps:// URL when EMAIL_DELIVERY is smtp")
		}
	case "notify":
		if c.NotifyAPIKey == "" {
			bad("NOTIFY_API_KEY", "is required when EMAIL_DELIVERY is notify")
		}
		if _, err := uuid.Parse(c.NotifyTemplateID); err != nil {
			bad("NOTIFY_TEMPLATE_ID", "must be the template's id (a UUID) when EMAIL_DELIVERY is notify")
		}
		if !isHTTPURL(c.NotifyBaseURL) {
			bad("NOTIFY_BASE_URL", "must be an http(s) URL")
		}
	default:
		bad("EMAIL_DELIVERY", "must be log, smtp or notify")
	}

	for name := range required {
		bad(name, "is required when PUBLIC_URL is not on this machine")
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return c, nil
}

// queueKinds are the worker's queues, each named <namespace>:<kind>.
var queueKinds = []string{"events", "email", "maintenance"}

// optionalQueueWeights are the queues of alert jobs (content-change
// fan-outs and digest runs; alerts_high for priority "high" content), with
// the weight each gets unless WORKER_QUEUE_PRIORITIES names it.
var optionalQueueWeights = map[string]int{"alerts": 2, "alerts_high": 8}

// parsePriorities reads "events=6,email=3,maintenance=1": a weight for
// every queue (asynq takes work from each in proportion).
func parsePriorities(raw string) (map[string]int, error) {
	priorities := map[string]int{}
	for _, part := range strings.Split(raw, ",") {
		name, weight, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(weight)
		_, optional := optionalQueueWeights[name]
		if !ok || err != nil || n < 1 || (!slices.Contains(queueKinds, name) && !optional) {
			return nil, fmt.Errorf("must be weights like events=6,email=3,maintenance=1")
		}
		priorities[name] = n
	}
	for _, kind := range queueKinds {
		if priorities[kind] == 0 {
			return nil, fmt.Errorf("must give a weight to each of %s", strings.Join(queueKinds, ", "))
		}
	}
	for kind, weight := range optionalQueueWeights {
		if priorities[kind] == 0 {
			priorities[kind] = weight
		}
	}
	return priorities, nil
}

// parseBaseURL accepts an absolute http(s) URL with a host and nothing
// after the path.
func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("must be an absolute http(s) URL such as https://www.gov.uk")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, errors.New("must not have a query, fragment or user")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

func isHTTPURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
