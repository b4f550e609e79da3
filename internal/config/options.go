package config

import (
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/google/uuid"

	"email-alert/ratelimit"
)

// option is one environment variable.
type option struct {
	name string
	// fallback is the value when the variable is unset; derive, when set,
	// computes it instead from the options above this one.
	fallback string
	derive   func(r *reading) string
	// shown is the default as the README states it, when fallback alone
	// does not say it (a derived default, a value with a meaning).
	shown string
	// localOnly: the default holds only while PUBLIC_URL is on this
	// machine; elsewhere the variable is required.
	localOnly bool
	// secret: a credential, or a URL that may carry one. Never printed:
	// not in errors, not in logs.
	secret bool
	// doc says what the variable is for, in the README's words.
	doc string
	// set reads v into the configuration. Its error follows the
	// variable's name in the message ("API_ADDR must be host:port, …").
	set func(r *reading, v string) error
}

// options are the service's variables, in the order they are read (and
// listed in the README): PUBLIC_URL and DEV_OIDC_ADDR come before the
// defaults that follow them, EMAIL_DELIVERY before the settings it needs.
var options = []option{
	{
		name: "DATABASE_URL", fallback: "postgres:///email_alert?sslmode=disable", secret: true,
		doc: "PostgreSQL",
		set: func(r *reading, v string) error {
			r.DatabaseURL = v
			return postgresURL(v)
		},
	},
	{
		name: "REDIS_URL", fallback: "redis://127.0.0.1:6379/0", secret: true,
		shown: "`redis://127.0.0.1:6379/0`; with Sentinel `redis-sentinel://[:sentinel-password@]host:26379[,host:26379]/<db>?master=<name>`",
		doc:   "Redis; the database number is used with Sentinel too (a `redis-sentinel://` URL without `master` is refused)",
		set: func(r *reading, v string) (err error) {
			r.RedisURL = v
			r.Redis, err = parseRedisURL(v)
			return err
		},
	},
	{
		name: "API_ADDR", fallback: "127.0.0.1:3088", doc: "where `api` listens",
		set: func(r *reading, v string) error {
			r.APIAddr = v
			return hostPort(v)
		},
	},
	{
		name: "FRONTEND_ADDR", fallback: "127.0.0.1:3000", doc: "where `frontend` listens",
		set: func(r *reading, v string) error {
			r.FrontendAddr = v
			return hostPort(v)
		},
	},
	{
		name: "METRICS_ADDR", shown: "empty: a lone worker serves no `/metrics`",
		doc: "where a `worker` run alone serves `/metrics`",
		set: func(r *reading, v string) error {
			r.MetricsAddr = v
			if v == "" {
				return nil
			}
			return hostPort(v)
		},
	},
	{
		name: "DEV_OIDC_ADDR", fallback: devOIDCAddr,
		doc: "where `make run` starts dev-oidc; the local OIDC and account-event defaults follow it",
		set: func(r *reading, v string) error {
			r.devOIDCAddr = v
			return hostPort(v)
		},
	},
	{
		name: "PUBLIC_URL", fallback: "http://localhost:3000",
		doc: "the service's address as users see it; on this machine (localhost, a loopback address) the setup is local",
		set: func(r *reading, v string) error {
			u, err := parseBaseURL(v)
			if err != nil {
				u = &url.URL{Scheme: "http", Host: "localhost"}
			}
			r.PublicURL, r.Local = u, isLoopbackHost(u.Hostname())
			return err
		},
	},
	{
		name: "API_TOKENS", fallback: DevAPIToken, localOnly: true, secret: true,
		doc: "the API's bearer tokens, comma-separated, each at least 8 characters",
		set: func(r *reading, v string) (err error) {
			r.APITokensAreDefault = r.getenv("API_TOKENS") == "" && r.Local
			r.APITokens, err = parseTokens(v)
			return err
		},
	},
	{
		name: "ACCOUNT_EVENTS_TOKEN", fallback: DevAccountEventsToken, localOnly: true, secret: true,
		doc: "the bearer token of the account events intake",
		set: func(r *reading, v string) error {
			r.AccountEventsToken = v
			return nil
		},
	},
	{
		name: "OIDC_ISSUER_URL", derive: (*reading).devIssuer, shown: "dev-oidc", localOnly: true,
		doc: "the One Login provider",
		set: func(r *reading, v string) error {
			r.OIDCIssuerURL = v
			return optionalHTTPURL(v)
		},
	},
	{
		name: "OIDC_CLIENT_ID", fallback: devOIDCClientID, localOnly: true,
		doc: "the service's client id at the provider",
		set: func(r *reading, v string) error {
			r.OIDCClientID = v
			return nil
		},
	},
	{
		name: "OIDC_CLIENT_SECRET", secret: true,
		doc: "a client secret, used when `OIDC_PRIVATE_KEY_FILE` is not set",
		set: func(r *reading, v string) error {
			r.OIDCClientSecret = v
			return nil
		},
	},
	{
		name: "OIDC_PRIVATE_KEY_FILE", shown: "the development key (local only)",
		doc: "a PEM RSA private key for `private_key_jwt`; outside local setups it or `OIDC_CLIENT_SECRET` is required",
		set: func(r *reading, v string) (err error) {
			r.OIDCPrivateKeyFile = v
			r.OIDCPrivateKey, err = clientKey(v, r.OIDCClientSecret != "", r.Local)
			return err
		},
	},
	{
		name: "OIDC_SCOPES", fallback: "openid email", doc: "space-separated; must include `openid`",
		set: func(r *reading, v string) error {
			r.OIDCScopes = strings.Fields(v)
			if !slices.Contains(r.OIDCScopes, "openid") {
				return errors.New("must include openid")
			}
			return nil
		},
	},
	{
		name: "OIDC_VTR", fallback: `["Cl.Cm"]`,
		doc: "the vector of trust asked for, a JSON array; `none` sends none and skips the `vot` check",
		set: func(r *reading, v string) (err error) {
			r.OIDCVTR, err = parseVTR(v)
			return err
		},
	},
	{
		name: "OIDC_REDIRECT_URL", shown: "`PUBLIC_URL` + `/sign-in/callback`",
		derive: func(r *reading) string { return r.PublicURL.JoinPath("sign-in", "callback").String() },
		doc:    "the callback registered with the provider",
		set: func(r *reading, v string) error {
			r.OIDCRedirectURL = v
			return optionalHTTPURL(v)
		},
	},
	{
		name: "OIDC_POST_LOGOUT_REDIRECT_URL", shown: "`PUBLIC_URL` + `/signed-out`",
		derive: func(r *reading) string { return r.PublicURL.JoinPath("signed-out").String() },
		doc:    "where the provider sends users after sign-out",
		set: func(r *reading, v string) error {
			r.OIDCPostLogoutRedirectURL = v
			return optionalHTTPURL(v)
		},
	},
	{
		name:   "ONE_LOGIN_ACCOUNT_URL",
		derive: func(r *reading) string { return accountPage(r.OIDCIssuerURL, r.Local) },
		shown: "the provider's account page: `https://home.account.gov.uk/` for `https://oidc.account.gov.uk/`, " +
			"`https://home.integration.account.gov.uk/` for `https://oidc.integration.account.gov.uk/`, " +
			"the issuer's home page locally (dev-oidc)",
		doc: "where \"change it in your GOV.UK One Login\" points; required for another provider outside local setups",
		set: func(r *reading, v string) error {
			r.OneLoginAccountURL = v
			if v == "" && r.OIDCIssuerURL != "" {
				return errors.New("is required when OIDC_ISSUER_URL is not GOV.UK One Login's")
			}
			return optionalHTTPURL(v)
		},
	},
	{
		name: "ACCOUNT_EVENTS_ISSUER", derive: (*reading).devIssuer, shown: "dev-oidc's issuer", localOnly: true,
		doc: "the `iss` of account events (SETs)",
		set: func(r *reading, v string) error {
			r.AccountEventsIssuer = v
			return nil
		},
	},
	{
		name: "ACCOUNT_EVENTS_JWKS_URL", shown: "dev-oidc's JWKS", localOnly: true,
		derive: func(r *reading) string { return r.devIssuer() + ".well-known/jwks.json" },
		doc:    "the keys account events are signed with",
		set: func(r *reading, v string) error {
			r.AccountEventsJWKS = v
			return optionalHTTPURL(v)
		},
	},
	{
		name: "ACCOUNT_EVENTS_AUDIENCE", shown: "`PUBLIC_URL`", localOnly: true,
		derive: func(r *reading) string { return r.PublicURL.String() },
		doc:    "the `aud` of account events",
		set: func(r *reading, v string) error {
			r.AccountEventsAud = v
			return nil
		},
	},
	{
		name: "RATE_LIMIT_PER_ADDRESS", fallback: "4/minute,11/hour",
		doc: "requests that send email, per address",
		set: func(r *reading, v string) (err error) {
			r.RateLimitPerAddress, err = ratelimit.Parse(v)
			return err
		},
	},
	{
		name: "RATE_LIMIT_PER_CLIENT", fallback: "60/minute",
		doc: "requests that send email from the pages, per client IP",
		set: func(r *reading, v string) (err error) {
			r.RateLimitPerClient, err = ratelimit.Parse(v)
			return err
		},
	},
	{
		name: "TRUSTED_PROXIES", shown: "empty: the TCP peer is the client",
		doc: "comma-separated CIDRs or addresses of the CDN and load balancers whose `CLIENT_IP_HEADER` is believed",
		set: func(r *reading, v string) (err error) {
			r.TrustedProxies, err = parseCIDRs(v)
			return err
		},
	},
	{
		name: "CLIENT_IP_HEADER", fallback: "True-Client-IP",
		doc: "the header in which trusted proxies name the client",
		set: func(r *reading, v string) error {
			r.ClientIPHeader = v
			if !headerName.MatchString(v) {
				return errors.New("must be a header name such as True-Client-IP")
			}
			return nil
		},
	},
	{
		name: "ADDRESS_RETENTION_DAYS", fallback: "28",
		doc: "how long an inactive subscriber's address is kept",
		set: func(r *reading, v string) (err error) {
			r.AddressRetention, err = parseDays(v)
			return err
		},
	},
	{
		name: "WORKER_CONCURRENCY", fallback: "10", doc: "how many jobs a worker runs at once (1 to 1000)",
		set: func(r *reading, v string) (err error) {
			r.WorkerConcurrency, err = parseConcurrency(v)
			return err
		},
	},
	{
		name: "WORKER_QUEUE_PRIORITIES", fallback: defaultPriorities,
		doc: "the rank of each queue, served in strict order; `email` above `bulk-high` above `bulk`",
		set: func(r *reading, v string) (err error) {
			r.WorkerPriorities, err = parsePriorities(v)
			return err
		},
	},
	{
		name: "EMAIL_RATE_LIMIT", fallback: "21600/minute",
		doc: "emails handed to the provider by every worker together; `none` lifts it",
		set: func(r *reading, v string) (err error) {
			r.EmailRateLimit, err = parseEmailRateLimit(v)
			return err
		},
	},
	{
		name: "NOTIFY_CALLBACK_TOKEN", fallback: DevNotifyCallbackToken, localOnly: true, secret: true,
		doc: "the bearer token GOV.UK Notify presents on `/status-updates` and `/spam-reports` (at least 10 characters, as Notify requires; none of `API_TOKENS`)",
		set: func(r *reading, v string) error {
			r.NotifyCallbackToken = v
			if len(v) < 10 {
				return errors.New("must be at least 10 characters")
			}
			if slices.Contains(r.APITokens, v) {
				return errors.New("must not be one of API_TOKENS: each token opens its own routes only")
			}
			return nil
		},
	},
	{
		name: "GOVUK_WEBSITE_ROOT", fallback: "https://www.gov.uk", doc: "the base of content links in alert emails",
		set: func(r *reading, v string) (err error) {
			r.GovukWebsiteRoot, err = parseBaseURL(v)
			return err
		},
	},
	{
		name: "DIGEST_TIME", fallback: "08:00", doc: "the time of digest runs (Europe/London)",
		set: func(r *reading, v string) (err error) {
			r.DigestHour, r.DigestMinute, err = parseTimeOfDay(v)
			return err
		},
	},
	{
		name: "EMAIL_DELIVERY", fallback: "log", doc: "the sender: `log`, `smtp` or `notify` (see Email delivery)",
		set: func(r *reading, v string) error {
			r.EmailDelivery = v
			if v != "log" && v != "smtp" && v != "notify" {
				return errors.New("must be log, smtp or notify")
			}
			return nil
		},
	},
	{
		name: "SMTP_URL", secret: true, doc: "`smtp://` or `smtps://` (implicit TLS); required by `smtp`",
		set: func(r *reading, v string) error {
			r.SMTPURL = v
			if r.EmailDelivery == "smtp" && !isSMTPURL(v) {
				return errors.New("must be an smtp:// or smtps:// URL when EMAIL_DELIVERY is smtp")
			}
			return nil
		},
	},
	{
		name: "NOTIFY_API_KEY", secret: true, doc: "GOV.UK Notify's API key; required by `notify`",
		set: func(r *reading, v string) error {
			r.NotifyAPIKey = v
			if r.EmailDelivery == "notify" && v == "" {
				return errors.New("is required when EMAIL_DELIVERY is notify")
			}
			return nil
		},
	},
	{
		name: "NOTIFY_BASE_URL", fallback: "https://api.notifications.service.gov.uk", doc: "GOV.UK Notify's API",
		set: func(r *reading, v string) error {
			r.NotifyBaseURL = v
			if r.EmailDelivery == "notify" && !isHTTPURL(v) {
				return errors.New("must be an http(s) URL")
			}
			return nil
		},
	},
	{
		name: "NOTIFY_TEMPLATE_ID", doc: "the Notify template (a UUID) with `subject` and `body` personalisation; required by `notify`",
		set: func(r *reading, v string) error {
			r.NotifyTemplateID = v
			if _, err := uuid.Parse(v); r.EmailDelivery == "notify" && err != nil {
				return errors.New("must be the template's id (a UUID) when EMAIL_DELIVERY is notify")
			}
			return nil
		},
	},
	{
		name: "EMAIL_FROM", fallback: "GOV.UK emails <noreply@localhost>", doc: "the sender's address over SMTP",
		set: func(r *reading, v string) error {
			r.EmailFrom = v
			return nil
		},
	},
}
