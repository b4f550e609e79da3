package config

import (
	"strings"
	"testing"
)

// TestOptionsTable: every row names a variable once, says what it is, can
// be read, and a local-only default has a default to give.
func TestOptionsTable(t *testing.T) {
	seen := map[string]bool{}
	for _, o := range options {
		if seen[o.name] {
			t.Errorf("%s: listed twice", o.name)
		}
		seen[o.name] = true
		if o.doc == "" || o.set == nil {
			t.Errorf("%s: no doc or no set", o.name)
		}
		if o.localOnly && o.fallback == "" && o.derive == nil {
			t.Errorf("%s: local only, with no default", o.name)
		}
	}
}

// TestConfigErrorsNeverShowSecrets: a secret that is malformed, or set
// beside malformed settings, is named in the error but never shown.
func TestConfigErrorsNeverShowSecrets(t *testing.T) {
	const marker = "s3cr3t-M4RKER"
	malformed := map[string]string{
		"DATABASE_URL":         "mysql://user:" + marker + "@db/x",
		"REDIS_URL":            "http://:" + marker + "@redis",
		"API_TOKENS":           "ab," + marker,
		"SMTP_URL":             "http://user:" + marker + "@mail",
		"NOTIFY_API_KEY":       marker,
		"ACCOUNT_EVENTS_TOKEN": marker,
		// one of API_TOKENS, which a callback token must not be
		"NOTIFY_CALLBACK_TOKEN": marker,
		"OIDC_CLIENT_SECRET":    marker,
	}
	for _, o := range options {
		if !o.secret {
			continue
		}
		if _, ok := malformed[o.name]; !ok {
			t.Errorf("%s is secret: give it a malformed value with the marker here", o.name)
		}
	}
	for _, public := range []string{"http://localhost:3000", "https://www.gov.uk"} {
		env := map[string]string{"PUBLIC_URL": public, "EMAIL_DELIVERY": "smtp", "API_ADDR": "nonsense", "OIDC_PRIVATE_KEY_FILE": "/nonexistent.pem"}
		for name, v := range malformed {
			env[name] = v
		}
		_, err := Parse(func(k string) string { return env[k] })
		if err == nil {
			t.Fatalf("PUBLIC_URL %s: no error", public)
		}
		if strings.Contains(err.Error(), marker) {
			t.Errorf("PUBLIC_URL %s: the error shows a secret: %v", public, err)
		}
	}
}
