package onelogin_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc/oidctest"

	"email-alert/linking/onelogin"
)

// oidcFixture is a provider (go-oidc's oidctest server) and a relying
// party configured for it.
type oidcFixture struct {
	issuer string
	key    *ecdsa.PrivateKey
	rp     *onelogin.RelyingParty
}

const clientID = "email-alert-test"

func newOIDCFixture(t *testing.T) *oidcFixture {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := &oidctest.Server{
		PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: "k1", Algorithm: "ES256"}},
		Algorithms: []string{"ES256"},
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	srv.SetIssuer(ts.URL)
	rp := onelogin.NewRelyingParty(onelogin.OIDCConfig{
		IssuerURL: ts.URL, ClientID: clientID, VTR: []string{"Cl.Cm"}, UserAgent: "test",
	})
	return &oidcFixture{issuer: ts.URL, key: key, rp: rp}
}

// claims returns valid ID token claims, with changes applied.
func (f *oidcFixture) claims(changes map[string]any) string {
	now := time.Now()
	c := map[string]any{
		"iss": f.issuer, "sub": "urn:fdc:gov.uk:2022:ann", "aud": clientID,
		"iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"nonce": "the-nonce", "vot": "Cl.Cm",
	}
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	raw, _ := json.Marshal(c)
	return string(raw)
}

func (f *oidcFixture) sign(claims string) string {
	return oidctest.SignIDToken(f.key, "k1", "ES256", claims)
}

func TestIDTokenRules(t *testing.T) {
	t.Parallel()
	f := newOIDCFixture(t)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	unsigned := func(claims string) string {
		header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"k1"}`))
		return header + "." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + "."
	}
	tests := []struct {
		name  string
		token string
		nonce string
		vtr   []string
		ok    bool
	}{
		{"valid", f.sign(f.claims(nil)), "the-nonce", []string{"Cl.Cm"}, true},
		{"valid without a vtr check", f.sign(f.claims(map[string]any{"vot": nil})), "the-nonce", nil, true},
		{"wrong iss", f.sign(f.claims(map[string]any{"iss": "https://evil.example/"})), "the-nonce", []string{"Cl.Cm"}, false},
		{"issuer differing by a trailing slash", f.sign(f.claims(map[string]any{"iss": f.issuer + "/"})), "the-nonce", []string{"Cl.Cm"}, false},
		{"wrong aud", f.sign(f.claims(map[string]any{"aud": "another-client"})), "the-nonce", []string{"Cl.Cm"}, false},
		{"expired", f.sign(f.claims(map[string]any{"exp": time.Now().Add(-time.Minute).Unix()})), "the-nonce", []string{"Cl.Cm"}, false},
		{"iat in the future", f.sign(f.claims(map[string]any{"iat": time.Now().Add(10 * time.Minute).Unix()})), "the-nonce", []string{"Cl.Cm"}, false},
		{"no iat", f.sign(f.claims(map[string]any{"iat": nil})), "the-nonce", []string{"Cl.Cm"}, false},
		{"bad nonce", f.sign(f.claims(map[string]any{"nonce": "another"})), "the-nonce", []string{"Cl.Cm"}, false},
		{"no nonce", f.sign(f.claims(map[string]any{"nonce": nil})), "the-nonce", []string{"Cl.Cm"}, false},
		{"wrong vot", f.sign(f.claims(map[string]any{"vot": "Cl"})), "the-nonce", []string{"Cl.Cm"}, false},
		{"missing vot", f.sign(f.claims(map[string]any{"vot": nil})), "the-nonce", []string{"Cl.Cm"}, false},
		{"alg none", unsigned(f.claims(nil)), "the-nonce", []string{"Cl.Cm"}, false},
		{"unknown kid", oidctest.SignIDToken(other, "k2", "ES256", f.claims(nil)), "the-nonce", []string{"Cl.Cm"}, false},
		{"signed by another key", oidctest.SignIDToken(other, "k1", "ES256", f.claims(nil)), "the-nonce", []string{"Cl.Cm"}, false},
		{"tampered claims", func() string {
			parts := strings.Split(f.sign(f.claims(nil)), ".")
			parts[1] = base64.RawURLEncoding.EncodeToString([]byte(f.claims(map[string]any{"sub": "urn:fdc:gov.uk:2022:eve"})))
			return strings.Join(parts, ".")
		}(), "the-nonce", []string{"Cl.Cm"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.rp.VerifyIDToken(context.Background(), tt.token, tt.nonce, tt.vtr)
			if (err == nil) != tt.ok {
				t.Errorf("VerifyIDToken: err = %v, want ok = %v", err, tt.ok)
			}
		})
	}
}

func TestLogoutTokenRules(t *testing.T) {
	t.Parallel()
	f := newOIDCFixture(t)
	event := map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}
	logout := func(changes map[string]any) string {
		now := time.Now()
		c := map[string]any{
			"iss": f.issuer, "aud": clientID, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
			"jti": "jti-1", "sub": "urn:fdc:gov.uk:2022:ann", "events": event,
		}
		for k, v := range changes {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		raw, _ := json.Marshal(c)
		return f.sign(string(raw))
	}
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid", logout(nil), true},
		{"wrong iss", logout(map[string]any{"iss": "https://evil.example/"}), false},
		{"wrong aud", logout(map[string]any{"aud": "another-client"}), false},
		{"expired", logout(map[string]any{"exp": time.Now().Add(-time.Minute).Unix()}), false},
		{"iat in the future", logout(map[string]any{"iat": time.Now().Add(10 * time.Minute).Unix()}), false},
		{"no events claim", logout(map[string]any{"events": nil}), false},
		{"another event", logout(map[string]any{"events": map[string]any{"https://example/other": map[string]any{}}}), false},
		{"with a nonce (an ID token)", logout(map[string]any{"nonce": "n"}), false},
		{"no jti", logout(map[string]any{"jti": nil}), false},
		{"no sub", logout(map[string]any{"sub": nil, "sid": "s"}), false},
		{"an ID token", f.sign(f.claims(nil)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.rp.VerifyLogoutToken(context.Background(), tt.token)
			if (err == nil) != tt.ok {
				t.Errorf("VerifyLogoutToken: err = %v, want ok = %v", err, tt.ok)
			}
		})
	}
}
