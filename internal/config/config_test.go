package config

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"email-alert/ratelimit"
)

func TestConfigDefaults(t *testing.T) {
	cfg, err := Parse(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{
		"DATABASE_URL":                  cfg.DatabaseURL,
		"REDIS_URL":                     cfg.RedisURL,
		"API_ADDR":                      cfg.APIAddr,
		"FRONTEND_ADDR":                 cfg.FrontendAddr,
		"PUBLIC_URL":                    cfg.PublicURL.String(),
		"API_TOKENS":                    cfg.APITokens,
		"NOTIFY_CALLBACK_TOKEN":         cfg.NotifyCallbackToken,
		"OIDC_ISSUER_URL":               cfg.OIDCIssuerURL,
		"OIDC_SCOPES":                   cfg.OIDCScopes,
		"OIDC_VTR":                      cfg.OIDCVTR,
		"OIDC_REDIRECT_URL":             cfg.OIDCRedirectURL,
		"OIDC_POST_LOGOUT_REDIRECT_URL": cfg.OIDCPostLogoutRedirectURL,
		"ONE_LOGIN_ACCOUNT_URL":         cfg.OneLoginAccountURL,
		"RATE_LIMIT_PER_ADDRESS":        cfg.RateLimitPerAddress,
		"RATE_LIMIT_PER_CLIENT":         cfg.RateLimitPerClient,
		"TRUSTED_PROXIES":               cfg.TrustedProxies,
		"CLIENT_IP_HEADER":              cfg.ClientIPHeader,
		"EMAIL_DELIVERY":                cfg.EmailDelivery,
		"EMAIL_FROM":                    cfg.EmailFrom,
		"EMAIL_RATE_LIMIT":              cfg.EmailRateLimit,
		"WORKER_QUEUE_PRIORITIES":       cfg.WorkerPriorities,
		"local":                         cfg.Local,
	}
	want := map[string]any{
		"DATABASE_URL":                  "postgres:///email_alert?sslmode=disable",
		"REDIS_URL":                     "redis://127.0.0.1:6379/0",
		"API_ADDR":                      "127.0.0.1:3088",
		"FRONTEND_ADDR":                 "127.0.0.1:3000",
		"PUBLIC_URL":                    "http://localhost:3000",
		"API_TOKENS":                    []string{DevAPIToken},
		"NOTIFY_CALLBACK_TOKEN":         DevNotifyCallbackToken,
		"OIDC_ISSUER_URL":               "http://127.0.0.1:3099/",
		"OIDC_SCOPES":                   []string{"openid", "email"},
		"OIDC_VTR":                      []string{"Cl.Cm"},
		"OIDC_REDIRECT_URL":             "http://localhost:3000/sign-in/callback",
		"OIDC_POST_LOGOUT_REDIRECT_URL": "http://localhost:3000/signed-out",
		"ONE_LOGIN_ACCOUNT_URL":         "http://127.0.0.1:3099/",
		"RATE_LIMIT_PER_ADDRESS":        []ratelimit.Limit{{Count: 4, Per: time.Minute}, {Count: 11, Per: time.Hour}},
		"RATE_LIMIT_PER_CLIENT":         []ratelimit.Limit{{Count: 60, Per: time.Minute}},
		"TRUSTED_PROXIES":               []string(nil),
		"CLIENT_IP_HEADER":              "True-Client-IP",
		"EMAIL_DELIVERY":                "log",
		"EMAIL_FROM":                    "GOV.UK emails <noreply@localhost>",
		"EMAIL_RATE_LIMIT":              &ratelimit.Limit{Count: 21600, Per: time.Minute},
		"WORKER_QUEUE_PRIORITIES":       map[string]int{"email": 7, "events": 6, "alerts_high": 5, "alerts": 4, "maintenance": 3, "bulk-high": 2, "bulk": 1},
		"local":                         true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	production := map[string]string{
		"PUBLIC_URL":              "https://www.gov.uk",
		"API_TOKENS":              "a-long-enough-token",
		"ACCOUNT_EVENTS_TOKEN":    "events-token",
		"NOTIFY_CALLBACK_TOKEN":   "callback-token",
		"ACCOUNT_EVENTS_ISSUER":   "https://account.gov.uk/",
		"ACCOUNT_EVENTS_JWKS_URL": "https://account.gov.uk/jwks.json",
		"ACCOUNT_EVENTS_AUDIENCE": "https://www.gov.uk",
		"OIDC_ISSUER_URL":         "https://oidc.account.gov.uk/",
		"OIDC_CLIENT_ID":          "client",
		"OIDC_CLIENT_SECRET":      "secret",
	}
	tests := []struct {
		name string
		env  map[string]string
		want []string // variables the error must name; none: no error
	}{
		{"production with every secret", production, nil},
		{"bad database URL", map[string]string{"DATABASE_URL": "mysql://x"}, []string{"DATABASE_URL"}},
		{"bad redis URL", map[string]string{"REDIS_URL": "http://x"}, []string{"REDIS_URL"}},
		{"bad listen address", map[string]string{"API_ADDR": "3088"}, []string{"API_ADDR"}},
		{"relative public URL", map[string]string{"PUBLIC_URL": "www.gov.uk"}, []string{"PUBLIC_URL"}},
		{"short API token", map[string]string{"API_TOKENS": "abc"}, []string{"API_TOKENS"}},
		{"short callback token", map[string]string{"NOTIFY_CALLBACK_TOKEN": "abc"}, []string{"NOTIFY_CALLBACK_TOKEN"}},
		{"callback token is an API token", with(production, "NOTIFY_CALLBACK_TOKEN", "a-long-enough-token"), []string{"NOTIFY_CALLBACK_TOKEN"}},
		{"vtr not JSON", map[string]string{"OIDC_VTR": "Cl.Cm"}, []string{"OIDC_VTR"}},
		{"scopes without openid", map[string]string{"OIDC_SCOPES": "email"}, []string{"OIDC_SCOPES"}},
		{"bad rate limit", map[string]string{"RATE_LIMIT_PER_ADDRESS": "4/fortnight"}, []string{"RATE_LIMIT_PER_ADDRESS"}},
		{"bad trusted proxy", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, 203.0.113.0/33"}, []string{"TRUSTED_PROXIES"}},
		{"trusted proxy not an address", map[string]string{"TRUSTED_PROXIES": "cdn.example.com"}, []string{"TRUSTED_PROXIES"}},
		{"bad client IP header", map[string]string{"CLIENT_IP_HEADER": "True Client IP"}, []string{"CLIENT_IP_HEADER"}},
		{"bad dev-oidc address", map[string]string{"DEV_OIDC_ADDR": "3199"}, []string{"DEV_OIDC_ADDR"}},
		{"two email rate limits", map[string]string{"EMAIL_RATE_LIMIT": "100/second,21600/minute"}, []string{"EMAIL_RATE_LIMIT"}},
		{"bad email rate limit", map[string]string{"EMAIL_RATE_LIMIT": "fast"}, []string{"EMAIL_RATE_LIMIT"}},
		{"bulk before transactional", map[string]string{"WORKER_QUEUE_PRIORITIES": "bulk=7,events=6,alerts_high=5,alerts=4,maintenance=3,bulk-high=2,email=1"}, []string{"WORKER_QUEUE_PRIORITIES"}},
		{"queue ranks tied", map[string]string{"WORKER_QUEUE_PRIORITIES": "email=7,events=7,alerts_high=5,alerts=4,maintenance=3,bulk-high=2,bulk=1"}, []string{"WORKER_QUEUE_PRIORITIES"}},
		{"unknown delivery", map[string]string{"EMAIL_DELIVERY": "pigeon"}, []string{"EMAIL_DELIVERY"}},
		{"smtp without URL", map[string]string{"EMAIL_DELIVERY": "smtp"}, []string{"SMTP_URL"}},
		{"notify without key", map[string]string{"EMAIL_DELIVERY": "notify"}, []string{"NOTIFY_API_KEY", "NOTIFY_TEMPLATE_ID"}},
		{"production without secrets", map[string]string{"PUBLIC_URL": "https://www.gov.uk"},
			[]string{"API_TOKENS", "ACCOUNT_EVENTS_TOKEN", "NOTIFY_CALLBACK_TOKEN", "OIDC_ISSUER_URL", "OIDC_CLIENT_ID", "OIDC_PRIVATE_KEY_FILE"}},
		{"unknown provider without an account page", with(production, "OIDC_ISSUER_URL", "https://login.example.com/"), []string{"ONE_LOGIN_ACCOUNT_URL"}},
		{"account page not a URL", map[string]string{"ONE_LOGIN_ACCOUNT_URL": "home.account.gov.uk"}, []string{"ONE_LOGIN_ACCOUNT_URL"}},
		{"unreadable private key", map[string]string{"OIDC_PRIVATE_KEY_FILE": "/nonexistent.pem"}, []string{"OIDC_PRIVATE_KEY_FILE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(func(k string) string { return tt.env[k] })
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one naming %v", tt.want)
			}
			for _, name := range tt.want {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error %q does not name %s", err, name)
				}
			}
		})
	}
}

func TestConfigVTRNone(t *testing.T) {
	cfg, err := Parse(func(k string) string { return map[string]string{"OIDC_VTR": "none"}[k] })
	if err != nil || cfg.OIDCVTR != nil {
		t.Errorf("OIDC_VTR=none: vtr %v, err %v; want no vtr", cfg.OIDCVTR, err)
	}
}

func TestConfigTrustedProxies(t *testing.T) {
	env := map[string]string{"TRUSTED_PROXIES": " 203.0.113.0/24, 198.51.100.7 ,2001:db8::/32", "CLIENT_IP_HEADER": "X-Client-IP"}
	cfg, err := Parse(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"203.0.113.0/24", "198.51.100.7/32", "2001:db8::/32"}, cfg.TrustedProxies); diff != "" {
		t.Errorf("TRUSTED_PROXIES (-want +got):\n%s", diff)
	}
	if cfg.ClientIPHeader != "X-Client-IP" {
		t.Errorf("CLIENT_IP_HEADER = %q", cfg.ClientIPHeader)
	}
}

// TestConfigDevOIDCAddr: moving dev-oidc moves the service's local
// defaults with it, so the two still find each other.
func TestConfigDevOIDCAddr(t *testing.T) {
	cfg, err := Parse(func(k string) string { return map[string]string{"DEV_OIDC_ADDR": "127.0.0.1:3199"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	got := []string{cfg.OIDCIssuerURL, cfg.AccountEventsIssuer, cfg.AccountEventsJWKS}
	want := []string{"http://127.0.0.1:3199/", "http://127.0.0.1:3199/", "http://127.0.0.1:3199/.well-known/jwks.json"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults with DEV_OIDC_ADDR (-want +got):\n%s", diff)
	}
}

// with returns a copy of env with name set to value.
func with(env map[string]string, name, value string) map[string]string {
	out := maps.Clone(env)
	out[name] = value
	return out
}

// TestConfigOneLoginAccountURL: "change it in your GOV.UK One Login" points
// at the account page of the provider in use, unless told otherwise.
func TestConfigOneLoginAccountURL(t *testing.T) {
	tests := []struct {
		name, publicURL, issuer, setting, want string
	}{
		{"production One Login", "https://www.gov.uk", "https://oidc.account.gov.uk/", "", "https://home.account.gov.uk/"},
		{"production One Login without the slash", "https://www.gov.uk", "https://oidc.account.gov.uk", "", "https://home.account.gov.uk/"},
		{"integration", "https://www.integration.publishing.service.gov.uk", "https://oidc.integration.account.gov.uk/", "", "https://home.integration.account.gov.uk/"},
		{"dev-oidc", "http://localhost:3000", "", "", "http://127.0.0.1:3099/"},
		{"another local provider", "http://localhost:3000", "http://localhost:3010/", "", "http://localhost:3010/"},
		{"set", "https://www.gov.uk", "https://oidc.account.gov.uk/", "https://account.example.com/", "https://account.example.com/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{
				"PUBLIC_URL": tt.publicURL, "OIDC_ISSUER_URL": tt.issuer, "ONE_LOGIN_ACCOUNT_URL": tt.setting,
				"API_TOKENS": "a-long-enough-token", "ACCOUNT_EVENTS_TOKEN": "events-token", "NOTIFY_CALLBACK_TOKEN": "callback-token",
				"ACCOUNT_EVENTS_ISSUER": "https://account.gov.uk/", "ACCOUNT_EVENTS_JWKS_URL": "https://account.gov.uk/jwks.json",
				"ACCOUNT_EVENTS_AUDIENCE": "https://www.gov.uk", "OIDC_CLIENT_ID": "client", "OIDC_CLIENT_SECRET": "secret",
			}
			cfg, err := Parse(func(k string) string { return env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if cfg.OneLoginAccountURL != tt.want {
				t.Errorf("ONE_LOGIN_ACCOUNT_URL %q, want %q", cfg.OneLoginAccountURL, tt.want)
			}
		})
	}
}

// TestConfigRedisURLDatabase: the database number of REDIS_URL is used
// with plain Redis and with Sentinel alike, so two services that share a
// Redis (or a Sentinel) on different databases never take each other's
// tasks.
func TestConfigRedisURLDatabase(t *testing.T) {
	tests := []struct {
		url  string
		want asynq.RedisConnOpt
	}{
		{"redis://127.0.0.1:6379/3", asynq.RedisClientOpt{Addr: "127.0.0.1:6379", DB: 3}},
		{"redis://:secret@10.0.0.1:6380/0", asynq.RedisClientOpt{Addr: "10.0.0.1:6380", Password: "secret"}},
		{"redis-sentinel://10.0.0.1:26379,10.0.0.2:26379/3?master=mymaster", asynq.RedisFailoverClientOpt{
			MasterName: "mymaster", SentinelAddrs: []string{"10.0.0.1:26379", "10.0.0.2:26379"}, DB: 3}},
		{"redis-sentinel://:sentinel-pw@10.0.0.1:26379?master=mymaster", asynq.RedisFailoverClientOpt{
			MasterName: "mymaster", SentinelAddrs: []string{"10.0.0.1:26379"}, SentinelPassword: "sentinel-pw"}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			cfg, err := Parse(func(k string) string { return map[string]string{"REDIS_URL": tt.url}[k] })
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, cfg.Redis); diff != "" {
				t.Errorf("REDIS_URL %s (-want +got):\n%s", tt.url, diff)
			}
		})
	}
	for _, bad := range []string{
		"redis-sentinel://10.0.0.1:26379/three?master=mymaster",
		"redis-sentinel://10.0.0.1:26379/3",
		"redis://127.0.0.1:6379/x",
	} {
		_, err := Parse(func(k string) string { return map[string]string{"REDIS_URL": bad}[k] })
		if err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
			t.Errorf("REDIS_URL %s: err = %v, want one naming REDIS_URL", bad, err)
		}
	}
}
