package app

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
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
	redisOpt, err := parseRedisURL(c.RedisURL)
	if err != nil {
		bad("REDIS_URL", "%v", err)
	}
	c.Redis = redisOpt

	c.APIAddr = get("API_ADDR", "127.0.0.1:3088")
	c.FrontendAddr = get("FRONTEND_ADDR", "127.0.0.1:3000")
	c.MetricsAddr = get("METRICS_ADDR", "")
	// dev-oidc listens on DEV_OIDC_ADDR: the local defaults follow it.
	devOIDC := get("DEV_OIDC_ADDR", devOIDCAddr)
	for name, addr := range map[string]string{
		"API_ADDR": c.APIAddr, "FRONTEND_ADDR": c.FrontendAddr, "METRICS_ADDR": c.MetricsAddr, "DEV_OIDC_ADDR": devOIDC,
	} {
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

	devIssuer := "http://" + devOIDC + "/"
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

	c.OneLoginAccountURL = get("ONE_LOGIN_ACCOUNT_URL", accountPage(c.OIDCIssuerURL, c.Local))
	if c.OneLoginAccountURL == "" && c.OIDCIssuerURL != "" {
		bad("ONE_LOGIN_ACCOUNT_URL", "is required when OIDC_ISSUER_URL is not GOV.UK One Login's")
	}

	c.AccountEventsIssuer = devDefault("ACCOUNT_EVENTS_ISSUER", devIssuer)
	c.AccountEventsJWKS = devDefault("ACCOUNT_EVENTS_JWKS_URL", devIssuer+".well-known/jwks.json")
	c.AccountEventsAud = devDefault("ACCOUNT_EVENTS_AUDIENCE", c.PublicURL.String())

	for name, value := range map[string]string{
		"OIDC_ISSUER_URL": c.OIDCIssuerURL, "OIDC_REDIRECT_URL": c.OIDCRedirectURL,
		"OIDC_POST_LOGOUT_REDIRECT_URL": c.OIDCPostLogoutRedirectURL,
		"ACCOUNT_EVENTS_JWKS_URL":       c.AccountEventsJWKS,
		"ONE_LOGIN_ACCOUNT_URL":         c.OneLoginAccountURL,
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

	c.TrustedProxies, err = parseCIDRs(get("TRUSTED_PROXIES", ""))
	if err != nil {
		bad("TRUSTED_PROXIES", "%v", err)
	}
	c.ClientIPHeader = get("CLIENT_IP_HEADER", "True-Client-IP")
	if !headerName.MatchString(c.ClientIPHeader) {
		bad("CLIENT_IP_HEADER", "must be a header name such as True-Client-IP")
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
	if c.WorkerPriorities, err = parsePriorities(get("WORKER_QUEUE_PRIORITIES", defaultPriorities)); err != nil {
		bad("WORKER_QUEUE_PRIORITIES", "%v", err)
	}
	if raw := get("EMAIL_RATE_LIMIT", "21600/minute"); raw != "none" {
		limits, err := ratelimit.Parse(raw)
		if err != nil || len(limits) != 1 {
			bad("EMAIL_RATE_LIMIT", "must be one limit such as 21600/minute, or none")
		} else {
			c.EmailRateLimit = &limits[0]
		}
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

// parseCIDRs reads "203.0.113.0/24, 2001:db8::/32": the networks whose
// proxies are trusted. A bare address is a network of one.
func parseCIDRs(raw string) ([]string, error) {
	var cidrs []string
	for _, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(part)
		if err != nil {
			addr, addrErr := netip.ParseAddr(part)
			if addrErr != nil || addr.Zone() != "" {
				return nil, fmt.Errorf("must be comma-separated CIDRs such as 203.0.113.0/24 (%q is not one)", part)
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		cidrs = append(cidrs, prefix.Masked().String())
	}
	return cidrs, nil
}

// headerName is the form of an HTTP header name (RFC 9110's token, as
// header names are written).
var headerName = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+.^_|~-]+$`)

// oneLoginAccountPages are the account pages of GOV.UK One Login's
// environments, by issuer (docs.sign-in.service.gov.uk).
var oneLoginAccountPages = map[string]string{
	"https://oidc.account.gov.uk/":             "https://home.account.gov.uk/",
	"https://oidc.integration.account.gov.uk/": "https://home.integration.account.gov.uk/",
}

// accountPage is the default of ONE_LOGIN_ACCOUNT_URL: the account page of
// a GOV.UK One Login issuer; on a local setup any other issuer is a
// development provider (dev-oidc), whose home page is its issuer URL; else
// "", none known.
func accountPage(issuer string, local bool) string {
	if page, ok := oneLoginAccountPages[strings.TrimSuffix(issuer, "/")+"/"]; ok {
		return page
	}
	if local {
		return issuer
	}
	return ""
}

// parseRedisURL reads REDIS_URL as asynq does, and also takes the database
// number of a redis-sentinel:// URL (asynq's parser drops it, so two
// services sharing a Sentinel with different databases would share tasks):
// redis-sentinel://[:password@]host:port[,host:port]/<db>?master=<name>.
// The password is the Sentinel's, as asynq reads it.
func parseRedisURL(raw string) (asynq.RedisConnOpt, error) {
	opt, err := asynq.ParseRedisURI(raw)
	if err != nil {
		return nil, errors.New("must be a redis://, rediss:// or redis-sentinel:// URL")
	}
	failover, ok := opt.(asynq.RedisFailoverClientOpt)
	if !ok {
		return opt, nil
	}
	u, _ := url.Parse(raw) // parsed above
	if failover.MasterName == "" {
		return nil, errors.New("must name the master of a redis-sentinel:// URL (?master=<name>)")
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		db, err := strconv.Atoi(p)
		if err != nil || db < 0 {
			return nil, errors.New("must have a database number as the path of a redis-sentinel:// URL, e.g. /3")
		}
		failover.DB = db
	}
	return failover, nil
}

// queueKinds are the worker's queues, each named <namespace>:<kind>:
// email holds transactional emails; alerts_high and alerts the jobs that
// turn content changes into emails (fan-outs of "high" and normal
// priority, digest runs); bulk-high and bulk the alert emails of high and
// normal priority (mail.Priority).
var queueKinds = []string{"email", "events", "alerts_high", "alerts", "maintenance", "bulk-high", "bulk"}

// defaultPriorities serves transactional email first and bulk email last.
const defaultPriorities = "email=7,events=6,alerts_high=5,alerts=4,maintenance=3,bulk-high=2,bulk=1"

// parsePriorities reads "email=7,events=6,…": a rank for every queue. The
// worker serves the queues in strict order (asynq's StrictPriority), so
// ranks must differ, and email must come before bulk-high, and bulk-high
// before bulk: a fan-out of alerts never holds up a sign-in email.
func parsePriorities(raw string) (map[string]int, error) {
	priorities := map[string]int{}
	ranks := map[int]bool{}
	for _, part := range strings.Split(raw, ",") {
		name, weight, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(weight)
		if !ok || err != nil || n < 1 || !slices.Contains(queueKinds, name) || ranks[n] {
			return nil, fmt.Errorf("must be distinct ranks like %s", defaultPriorities)
		}
		priorities[name] = n
		ranks[n] = true
	}
	for _, kind := range queueKinds {
		if priorities[kind] == 0 {
			return nil, fmt.Errorf("must give a rank to each of %s", strings.Join(queueKinds, ", "))
		}
	}
	if priorities["email"] <= priorities["bulk-high"] || priorities["bulk-high"] <= priorities["bulk"] {
		return nil, errors.New("must rank email above bulk-high, and bulk-high above bulk")
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
