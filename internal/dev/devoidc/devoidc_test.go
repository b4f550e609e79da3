package devoidc_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"email-alert/internal/dev/devkeys"
	"email-alert/internal/dev/devoidc"
)

const (
	clientID     = "email-alert-dev"
	clientSecret = "dev-client-secret"
	redirectURI  = "http://localhost:3000/sign-in/callback"
	signedOutURI = "http://localhost:3000/signed-out"
	devBanner    = "Development identity provider — not GOV.UK One Login. For local development only."
)

// testEnv is a running provider and what a client needs to talk to it.
type testEnv struct {
	issuer   string
	provider *devoidc.Provider
	// browser does not follow redirects, so tests can read Location.
	browser *http.Client
}

func (e *testEnv) url(path string) string { return e.issuer + path }

// setup runs a provider on a real loopback listener, so its issuer is the
// URL clients actually reach.
func setup(t *testing.T, mutate func(*devoidc.Config)) *testEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String() + "/"
	cfg := devoidc.Config{
		Issuer:                 issuer,
		ClientID:               clientID,
		ClientKey:              &clientKey(t).PublicKey,
		ClientSecret:           clientSecret,
		RedirectURIs:           []string{redirectURI},
		PostLogoutRedirectURIs: []string{signedOutURI},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := devoidc.New(cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(p)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return &testEnv{
		issuer:   issuer,
		provider: p,
		browser: &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

func clientKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	key, err := devkeys.ClientKey()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func (e *testEnv) oauth2Config() *oauth2.Config {
	return &oauth2.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		RedirectURL:  redirectURI,
		Scopes:       []string{oidc.ScopeOpenID, "email"},
		Endpoint: oauth2.Endpoint{
			AuthURL:   e.url("authorize"),
			TokenURL:  e.url("token"),
			AuthStyle: oauth2.AuthStyleInHeader, // client_secret_basic
		},
	}
}

// authRequest is one sign-in attempt's secrets.
type authRequest struct {
	state, nonce, verifier string
	vtr                    string // "" sends none
}

func newAuthRequest(vtr string) authRequest {
	return authRequest{
		state:    rand.Text(),
		nonce:    rand.Text(),
		verifier: oauth2.GenerateVerifier(),
		vtr:      vtr,
	}
}

func (e *testEnv) authCodeURL(a authRequest) string {
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(a.verifier), oidc.Nonce(a.nonce)}
	if a.vtr != "" {
		opts = append(opts, oauth2.SetAuthURLParam("vtr", a.vtr))
	}
	return e.oauth2Config().AuthCodeURL(a.state, opts...)
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// signInCode drives the browser part: it loads the sign-in form, submits
// it with its hidden fields, and returns the code sent to the client.
func (e *testEnv) signInCode(t *testing.T, a authRequest, email string, verified bool) string {
	t.Helper()
	status, body, _ := e.get(t, e.authCodeURL(a), nil)
	if status != http.StatusOK {
		t.Fatalf("GET /authorize: status %d, body %s", status, body)
	}
	for _, want := range []string{devBanner, `name="email"`, `name="email_verified" value="true" checked`, "This email address is verified", "Continue"} {
		if !strings.Contains(body, want) {
			t.Errorf("sign-in form lacks %q", want)
		}
	}
	form := url.Values{"email": {email}}
	for _, m := range hiddenInput.FindAllStringSubmatch(body, -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	if verified {
		form.Set("email_verified", "true")
	}
	resp := e.postForm(t, e.url("authorize"), form)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("POST /authorize: status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURI {
		t.Fatalf("redirected to %s, want %s", got, redirectURI)
	}
	if got := loc.Query().Get("state"); got != a.state {
		t.Errorf("state = %q, want %q", got, a.state)
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in %s", loc)
	}
	return code
}

// get does a GET without following redirects and returns status, body and
// headers.
func (e *testEnv) get(t *testing.T, target string, header http.Header) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := e.browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// postForm posts form and returns the response with its body read into
// memory (closed).
func (e *testEnv) postForm(t *testing.T, target string, form url.Values) *http.Response {
	t.Helper()
	resp, _ := e.postFormAuth(t, target, form, "", "")
	return resp
}

func (e *testEnv) postFormAuth(t *testing.T, target string, form url.Values, user, pass string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := e.browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// tokenAnswer is the token endpoint's JSON, success or error.
type tokenAnswer struct {
	status      int
	Error       string `json:"error"`
	Description string `json:"error_description"`
	AccessToken string `json:"access_token"`
	IDToken     string `json:"id_token"`
	header      http.Header
}

func (e *testEnv) token(t *testing.T, form url.Values, user, pass string) tokenAnswer {
	t.Helper()
	resp, body := e.postFormAuth(t, e.url("token"), form, user, pass)
	var a tokenAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatalf("token response %q: %v", body, err)
	}
	a.status, a.header = resp.StatusCode, resp.Header
	return a
}

func codeForm(code string, a authRequest) url.Values {
	return url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"code_verifier": {a.verifier},
	}
}

// assertion builds a private_key_jwt client assertion; change edits its
// claims before signing.
func (e *testEnv) assertion(t *testing.T, key *rsa.PrivateKey, change func(*jwt.Claims)) string {
	t.Helper()
	now := time.Now()
	c := jwt.Claims{
		Issuer:   clientID,
		Subject:  clientID,
		Audience: jwt.Audience{e.url("token")},
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(2 * time.Minute)),
		ID:       rand.Text(),
	}
	if change != nil {
		change(&c)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func assertionForm(code string, a authRequest, assertion string) url.Values {
	f := codeForm(code, a)
	f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	f.Set("client_assertion", assertion)
	return f
}

func TestDiscovery(t *testing.T) {
	e := setup(t, nil)
	status, body, header := e.get(t, e.url(".well-known/openid-configuration"), nil)
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	if got := header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q", got)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"issuer":                                           e.issuer,
		"authorization_endpoint":                           e.url("authorize"),
		"token_endpoint":                                   e.url("token"),
		"userinfo_endpoint":                                e.url("userinfo"),
		"jwks_uri":                                         e.url(".well-known/jwks.json"),
		"end_session_endpoint":                             e.url("logout"),
		"response_types_supported":                         []any{"code"},
		"grant_types_supported":                            []any{"authorization_code"},
		"subject_types_supported":                          []any{"public"},
		"id_token_signing_alg_values_supported":            []any{"ES256"},
		"token_endpoint_auth_methods_supported":            []any{"private_key_jwt", "client_secret_basic", "client_secret_post"},
		"token_endpoint_auth_signing_alg_values_supported": []any{"RS256"},
		"scopes_supported":                                 []any{"openid", "email"},
		"claims_supported":                                 []any{"sub", "email", "email_verified"},
		"code_challenge_methods_supported":                 []any{"S256"},
		"backchannel_logout_supported":                     true,
		"backchannel_logout_session_supported":             false,
		"ui_locales_supported":                             []any{"en", "cy"},
		"vtr_supported":                                    []any{"Cl", "Cl.Cm"},
	}
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Errorf("discovery document (-want +got):\n%s", diff)
	}
	if !strings.HasSuffix(e.issuer, "/") {
		t.Fatalf("issuer %q has no trailing slash", e.issuer)
	}

	p, err := oidc.NewProvider(t.Context(), e.issuer)
	if err != nil {
		t.Fatalf("go-oidc rejects the discovery document: %v", err)
	}
	if got := p.Endpoint().TokenURL; got != e.url("token") {
		t.Errorf("token endpoint = %q", got)
	}

	status, body, _ = e.get(t, e.url(".well-known/jwks.json"), nil)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(body), &set); err != nil || status != http.StatusOK {
		t.Fatalf("jwks: status %d, %v", status, err)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("jwks has %d keys", len(set.Keys))
	}
	k := set.Keys[0]
	if k.Algorithm != "ES256" || k.Use != "sig" || k.KeyID == "" || !k.IsPublic() {
		t.Errorf("jwk alg=%q use=%q kid=%q public=%v", k.Algorithm, k.Use, k.KeyID, k.IsPublic())
	}
}

func TestCodeFlow(t *testing.T) {
	tests := []struct {
		name     string
		email    string
		verified bool
		vtr      string
		wantVoT  string
	}{
		{name: "verified, default vtr", email: "Person@Example.com", verified: true, wantVoT: "Cl.Cm"},
		{name: "unverified", email: "new@example.com", verified: false, vtr: `["Cl.Cm"]`, wantVoT: "Cl.Cm"},
		{name: "low confidence", email: "low@example.com", verified: true, vtr: `["Cl"]`, wantVoT: "Cl"},
	}
	e := setup(t, nil)
	ctx := t.Context()
	provider, err := oidc.NewProvider(ctx, e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: clientID, SupportedSigningAlgs: []string{oidc.ES256}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuthRequest(tt.vtr)
			code := e.signInCode(t, a, tt.email, tt.verified)

			cfg := e.oauth2Config()
			tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(a.verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			if tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
				t.Errorf("token type %q, expiry %v", tok.TokenType, tok.Expiry)
			}
			raw, _ := tok.Extra("id_token").(string)
			idt, err := verifier.Verify(ctx, raw)
			if err != nil {
				t.Fatalf("go-oidc rejects the ID token: %v", err)
			}
			if idt.Nonce != a.nonce {
				t.Errorf("nonce = %q, want %q", idt.Nonce, a.nonce)
			}
			if idt.Subject != devoidc.Sub(tt.email) {
				t.Errorf("sub = %q, want %q", idt.Subject, devoidc.Sub(tt.email))
			}
			if exp := idt.Expiry.Sub(idt.IssuedAt); exp != 120*time.Second {
				t.Errorf("exp - iat = %v, want 120s", exp)
			}
			var claims map[string]any
			if err := idt.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			if claims["vot"] != tt.wantVoT {
				t.Errorf("vot = %v, want %q", claims["vot"], tt.wantVoT)
			}
			if claims["vtm"] != e.issuer+"trustmark" {
				t.Errorf("vtm = %v", claims["vtm"])
			}
			if claims["aud"] != clientID {
				t.Errorf("aud = %#v, want the string %q", claims["aud"], clientID)
			}
			for _, name := range []string{"sid", "auth_time", "iat", "exp"} {
				if claims[name] == nil {
					t.Errorf("ID token has no %s", name)
				}
			}

			info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			if info.Subject != idt.Subject || info.Email != strings.TrimSpace(tt.email) || info.EmailVerified != tt.verified {
				t.Errorf("userinfo = {sub %q, email %q, verified %v}, want {%q, %q, %v}",
					info.Subject, info.Email, info.EmailVerified, idt.Subject, tt.email, tt.verified)
			}
		})
	}
}

func TestTokenClientSecret(t *testing.T) {
	e := setup(t, nil)
	tests := []struct {
		name       string
		user, pass string // Basic credentials; "" sends none
		form       url.Values
		wantStatus int
		wantError  string
	}{
		{name: "basic", user: clientID, pass: clientSecret, wantStatus: 200},
		{name: "post", form: url.Values{"client_id": {clientID}, "client_secret": {clientSecret}}, wantStatus: 200},
		{name: "basic wrong secret", user: clientID, pass: "nope", wantStatus: 401, wantError: "invalid_client"},
		{name: "basic wrong client", user: "someone-else", pass: clientSecret, wantStatus: 401, wantError: "invalid_client"},
		{name: "post wrong secret", form: url.Values{"client_id": {clientID}, "client_secret": {"nope"}}, wantStatus: 401, wantError: "invalid_client"},
		{name: "no authentication", form: url.Values{"client_id": {clientID}}, wantStatus: 401, wantError: "invalid_client"},
		{name: "two methods", user: clientID, pass: clientSecret, form: url.Values{"client_secret": {clientSecret}}, wantStatus: 400, wantError: "invalid_request"},
		{name: "wrong grant type", user: clientID, pass: clientSecret, form: url.Values{"grant_type": {"refresh_token"}}, wantStatus: 400, wantError: "unsupported_grant_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuthRequest("")
			form := codeForm(e.signInCode(t, a, "secret@example.com", true), a)
			for k, vs := range tt.form {
				form[k] = vs
			}
			got := e.token(t, form, tt.user, tt.pass)
			if got.status != tt.wantStatus || got.Error != tt.wantError {
				t.Fatalf("got %d %q (%s), want %d %q", got.status, got.Error, got.Description, tt.wantStatus, tt.wantError)
			}
			if got.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", got.header.Get("Cache-Control"))
			}
			if tt.wantStatus == 200 && (got.AccessToken == "" || got.IDToken == "") {
				t.Errorf("success without tokens: %+v", got)
			}
			if got.status == 401 && tt.user != "" && got.header.Get("WWW-Authenticate") == "" {
				t.Error("401 to a Basic client without WWW-Authenticate")
			}
		})
	}
}

func TestTokenPrivateKeyJWT(t *testing.T) {
	e := setup(t, nil)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	key := clientKey(t)
	tests := []struct {
		name      string
		key       *rsa.PrivateKey
		change    func(*jwt.Claims)
		wantError string // "" means accepted
	}{
		{name: "correct", key: key},
		{name: "aud array containing the token endpoint", key: key, change: func(c *jwt.Claims) {
			c.Audience = jwt.Audience{"https://elsewhere.example/", e.url("token")}
		}},
		{name: "wrong aud", key: key, change: func(c *jwt.Claims) { c.Audience = jwt.Audience{e.issuer} }, wantError: "invalid_client"},
		{name: "wrong signing key", key: otherKey, wantError: "invalid_client"},
		{name: "exp more than 5 min after iat", key: key, change: func(c *jwt.Claims) {
			c.Expiry = jwt.NewNumericDate(c.IssuedAt.Time().Add(5*time.Minute + time.Second))
		}, wantError: "invalid_client"},
		{name: "expired", key: key, change: func(c *jwt.Claims) {
			c.IssuedAt = jwt.NewNumericDate(time.Now().Add(-3 * time.Minute))
			c.Expiry = jwt.NewNumericDate(time.Now().Add(-time.Minute))
		}, wantError: "invalid_client"},
		{name: "iat in the future", key: key, change: func(c *jwt.Claims) {
			c.IssuedAt = jwt.NewNumericDate(time.Now().Add(time.Minute))
			c.Expiry = jwt.NewNumericDate(time.Now().Add(3 * time.Minute))
		}, wantError: "invalid_client"},
		{name: "iss is not the client", key: key, change: func(c *jwt.Claims) { c.Issuer = "someone-else" }, wantError: "invalid_client"},
		{name: "sub is not the client", key: key, change: func(c *jwt.Claims) { c.Subject = "someone-else" }, wantError: "invalid_client"},
		{name: "no jti", key: key, change: func(c *jwt.Claims) { c.ID = "" }, wantError: "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuthRequest("")
			code := e.signInCode(t, a, "jwt@example.com", true)
			got := e.token(t, assertionForm(code, a, e.assertion(t, tt.key, tt.change)), "", "")
			if tt.wantError == "" {
				if got.status != 200 || got.IDToken == "" {
					t.Fatalf("got %d %q (%s), want 200 with tokens", got.status, got.Error, got.Description)
				}
				return
			}
			if got.status != 401 || got.Error != tt.wantError {
				t.Fatalf("got %d %q (%s), want 401 %q", got.status, got.Error, got.Description, tt.wantError)
			}
		})
	}

	t.Run("replayed jti", func(t *testing.T) {
		assertion := e.assertion(t, key, nil)
		a := newAuthRequest("")
		if got := e.token(t, assertionForm(e.signInCode(t, a, "jwt@example.com", true), a, assertion), "", ""); got.status != 200 {
			t.Fatalf("first use: %d %q (%s)", got.status, got.Error, got.Description)
		}
		b := newAuthRequest("")
		got := e.token(t, assertionForm(e.signInCode(t, b, "jwt@example.com", true), b, assertion), "", "")
		if got.status != 401 || got.Error != "invalid_client" {
			t.Fatalf("replay: got %d %q, want 401 invalid_client", got.status, got.Error)
		}
	})
}

func TestTokenCodeChecks(t *testing.T) {
	e := setup(t, nil)
	t.Run("wrong code_verifier", func(t *testing.T) {
		a := newAuthRequest("")
		form := codeForm(e.signInCode(t, a, "pkce@example.com", true), a)
		form.Set("code_verifier", oauth2.GenerateVerifier())
		if got := e.token(t, form, clientID, clientSecret); got.status != 400 || got.Error != "invalid_grant" {
			t.Fatalf("got %d %q, want 400 invalid_grant", got.status, got.Error)
		}
	})
	t.Run("wrong redirect_uri", func(t *testing.T) {
		a := newAuthRequest("")
		form := codeForm(e.signInCode(t, a, "pkce@example.com", true), a)
		form.Set("redirect_uri", "http://localhost:3000/elsewhere")
		if got := e.token(t, form, clientID, clientSecret); got.status != 400 || got.Error != "invalid_grant" {
			t.Fatalf("got %d %q, want 400 invalid_grant", got.status, got.Error)
		}
	})
	t.Run("code reuse", func(t *testing.T) {
		a := newAuthRequest("")
		form := codeForm(e.signInCode(t, a, "pkce@example.com", true), a)
		if got := e.token(t, form, clientID, clientSecret); got.status != 200 {
			t.Fatalf("first use: %d %q", got.status, got.Error)
		}
		if got := e.token(t, form, clientID, clientSecret); got.status != 400 || got.Error != "invalid_grant" {
			t.Fatalf("second use: got %d %q, want 400 invalid_grant", got.status, got.Error)
		}
	})
	t.Run("unknown code", func(t *testing.T) {
		a := newAuthRequest("")
		if got := e.token(t, codeForm("made-up", a), clientID, clientSecret); got.status != 400 || got.Error != "invalid_grant" {
			t.Fatalf("got %d %q, want 400 invalid_grant", got.status, got.Error)
		}
	})
}

func TestAuthorizeErrors(t *testing.T) {
	e := setup(t, nil)
	valid := func() url.Values {
		a := newAuthRequest("")
		q, _ := url.Parse(e.authCodeURL(a))
		v := q.Query()
		v.Set("state", "the-state")
		return v
	}
	tests := []struct {
		name      string
		change    func(url.Values)
		wantPage  bool   // an error page, never a redirect
		wantState string // on the error redirect
	}{
		{name: "unregistered redirect_uri", change: func(v url.Values) { v.Set("redirect_uri", "https://evil.example/callback") }, wantPage: true},
		{name: "no redirect_uri", change: func(v url.Values) { v.Del("redirect_uri") }, wantPage: true},
		{name: "unknown client_id", change: func(v url.Values) { v.Set("client_id", "someone-else") }, wantPage: true},
		{name: "no state", change: func(v url.Values) { v.Del("state") }},
		{name: "no nonce", change: func(v url.Values) { v.Del("nonce") }, wantState: "the-state"},
		{name: "no code_challenge", change: func(v url.Values) { v.Del("code_challenge") }, wantState: "the-state"},
		{name: "plain code_challenge_method", change: func(v url.Values) { v.Set("code_challenge_method", "plain") }, wantState: "the-state"},
		{name: "response_type token", change: func(v url.Values) { v.Set("response_type", "token") }, wantState: "the-state"},
		{name: "scope without openid", change: func(v url.Values) { v.Set("scope", "email") }, wantState: "the-state"},
		{name: "unknown vtr", change: func(v url.Values) { v.Set("vtr", `["P2.Cl.Cm"]`) }, wantState: "the-state"},
		{name: "vtr not JSON", change: func(v url.Values) { v.Set("vtr", "Cl.Cm") }, wantState: "the-state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := valid()
			tt.change(v)
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				var status int
				var body string
				var header http.Header
				if method == http.MethodGet {
					status, body, header = e.get(t, e.url("authorize")+"?"+v.Encode(), nil)
				} else {
					form := url.Values{"email": {"a@example.com"}, "email_verified": {"true"}}
					for k, vs := range v {
						form[k] = vs
					}
					resp, b := e.postFormAuth(t, e.url("authorize"), form, "", "")
					status, body, header = resp.StatusCode, b, resp.Header
				}
				if tt.wantPage {
					if status != http.StatusBadRequest || header.Get("Location") != "" {
						t.Fatalf("%s: status %d, Location %q; want a 400 page, no redirect", method, status, header.Get("Location"))
					}
					if !strings.Contains(body, devBanner) {
						t.Errorf("%s: error page lacks the dev banner", method)
					}
					continue
				}
				if status != http.StatusFound {
					t.Fatalf("%s: status %d, want 302", method, status)
				}
				loc, err := url.Parse(header.Get("Location"))
				if err != nil {
					t.Fatal(err)
				}
				q := loc.Query()
				if loc.Scheme+"://"+loc.Host+loc.Path != redirectURI || q.Get("error") != "invalid_request" ||
					q.Get("error_description") == "" || q.Get("state") != tt.wantState || q.Has("code") {
					t.Errorf("%s: redirected to %s", method, loc)
				}
			}
		})
	}

	t.Run("bad email re-shows the form", func(t *testing.T) {
		for _, email := range []string{"", "no-at-sign", strings.Repeat("a", 250) + "@example.com"} {
			form := valid()
			form.Set("email", email)
			form.Set("email_verified", "true")
			resp, body := e.postFormAuth(t, e.url("authorize"), form, "", "")
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("email %.20q: status %d, Location %q", email, resp.StatusCode, resp.Header.Get("Location"))
			}
			if !strings.Contains(body, `name="email"`) || !strings.Contains(body, `role="alert"`) {
				t.Errorf("email %.20q: the form is not re-shown with an error", email)
			}
		}
	})
}

func TestUserinfoRejectsBadTokens(t *testing.T) {
	e := setup(t, nil)
	for name, auth := range map[string]string{
		"no Authorization": "",
		"unknown token":    "Bearer not-a-token",
		"Basic":            "Basic " + base64.StdEncoding.EncodeToString([]byte(clientID+":"+clientSecret)),
	} {
		t.Run(name, func(t *testing.T) {
			h := http.Header{}
			if auth != "" {
				h.Set("Authorization", auth)
			}
			status, _, header := e.get(t, e.url("userinfo"), h)
			if status != http.StatusUnauthorized || header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
				t.Errorf("status %d, WWW-Authenticate %q", status, header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestLogout(t *testing.T) {
	e := setup(t, nil)
	a := newAuthRequest("")
	tok, err := e.oauth2Config().Exchange(t.Context(), e.signInCode(t, a, "out@example.com", true), oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatal(err)
	}
	idToken := tok.Extra("id_token").(string)
	forged := forgeIDToken(t, e.issuer)

	tests := []struct {
		name         string
		query        url.Values
		wantStatus   int
		wantLocation string
		wantBody     string
	}{
		{
			name:         "redirect with state",
			query:        url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {signedOutURI}, "state": {"s-123"}},
			wantStatus:   http.StatusFound,
			wantLocation: signedOutURI + "?state=s-123",
		},
		{
			name:         "redirect without hint",
			query:        url.Values{"post_logout_redirect_uri": {signedOutURI}},
			wantStatus:   http.StatusFound,
			wantLocation: signedOutURI,
		},
		{name: "no redirect", query: url.Values{"id_token_hint": {idToken}}, wantStatus: http.StatusOK, wantBody: "You have signed out of the development identity provider"},
		{name: "unregistered redirect", query: url.Values{"post_logout_redirect_uri": {"https://evil.example/"}, "state": {"x"}}, wantStatus: http.StatusBadRequest, wantBody: "not registered"},
		{name: "hint signed by someone else", query: url.Values{"id_token_hint": {forged}, "post_logout_redirect_uri": {signedOutURI}}, wantStatus: http.StatusBadRequest, wantBody: "id_token_hint"},
		{name: "hint not a JWT", query: url.Values{"id_token_hint": {"junk"}}, wantStatus: http.StatusBadRequest, wantBody: "id_token_hint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, header := e.get(t, e.url("logout")+"?"+tt.query.Encode(), nil)
			if status != tt.wantStatus || header.Get("Location") != tt.wantLocation {
				t.Fatalf("status %d, Location %q; want %d, %q", status, header.Get("Location"), tt.wantStatus, tt.wantLocation)
			}
			if tt.wantBody != "" && !strings.Contains(body, tt.wantBody) {
				t.Errorf("body lacks %q:\n%s", tt.wantBody, body)
			}
			if tt.wantLocation == "" && !strings.Contains(body, devBanner) {
				t.Error("page lacks the dev banner")
			}
		})
	}
}

// forgeIDToken returns an ES256 JWT with the provider's iss and aud but
// signed with a key the provider never had: another instance's logout
// token.
func forgeIDToken(t *testing.T, issuer string) string {
	t.Helper()
	other, err := devoidc.New(devoidc.Config{Issuer: issuer, ClientID: clientID, ClientSecret: "x", RedirectURIs: []string{redirectURI}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := other.LogoutToken("someone")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestLogoutToken(t *testing.T) {
	e := setup(t, nil)
	sub := devoidc.Sub("bye@example.com")
	raw, err := e.provider.LogoutToken(sub)
	if err != nil {
		t.Fatal(err)
	}
	provider, err := oidc.NewProvider(t.Context(), e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	lt, err := provider.Verifier(&oidc.Config{ClientID: clientID, SupportedSigningAlgs: []string{oidc.ES256}}).VerifyLogout(t.Context(), raw)
	if err != nil {
		t.Fatalf("go-oidc rejects the logout token: %v", err)
	}
	if lt.Subject != sub || lt.TokenID == "" || lt.Expiry.Sub(lt.IssuedAt) != 120*time.Second {
		t.Errorf("logout token sub %q jti %q lifetime %v", lt.Subject, lt.TokenID, lt.Expiry.Sub(lt.IssuedAt))
	}

	parsed, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if typ := parsed.Headers[0].ExtraHeaders["typ"]; typ != "logout+jwt" {
		t.Errorf("typ = %v, want logout+jwt", typ)
	}
	var claims map[string]any
	if err := parsed.UnsafeClaimsWithoutVerification(&claims); err != nil {
		t.Fatal(err)
	}
	if _, ok := claims["nonce"]; ok {
		t.Error("logout token has a nonce")
	}
	if claims["aud"] != clientID {
		t.Errorf("aud = %#v, want the string %q", claims["aud"], clientID)
	}
	wantEvents := map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}
	if diff := cmp.Diff(wantEvents, claims["events"]); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestBackchannelLogoutButton(t *testing.T) {
	var mu sync.Mutex
	var received []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		received = append(received, r.PostFormValue("logout_token"))
		mu.Unlock()
	}))
	t.Cleanup(receiver.Close)
	e := setup(t, func(c *devoidc.Config) { c.BackchannelLogoutURI = receiver.URL + "/sign-in/backchannel-logout" })

	email := "button@example.com"
	e.signInCode(t, newAuthRequest(""), email, true)
	sub := devoidc.Sub(email)

	status, body, _ := e.get(t, e.issuer, nil)
	if status != http.StatusOK {
		t.Fatalf("home: status %d", status)
	}
	for _, want := range []string{devBanner, e.issuer, email, sub, `action="backchannel-logout"`, "Send back-channel logout"} {
		if !strings.Contains(body, want) {
			t.Errorf("home page lacks %q", want)
		}
	}

	resp, body := e.postFormAuth(t, e.url("backchannel-logout"), url.Values{"sub": {sub}}, "", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "200 OK") {
		t.Fatalf("button: status %d, body:\n%s", resp.StatusCode, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(received) != 1 {
		t.Fatalf("receiver got %d tokens, want 1", len(received))
	}
	provider, err := oidc.NewProvider(t.Context(), e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	lt, err := provider.Verifier(&oidc.Config{ClientID: clientID, SupportedSigningAlgs: []string{oidc.ES256}}).VerifyLogout(t.Context(), received[0])
	if err != nil {
		t.Fatalf("received logout token: %v", err)
	}
	if lt.Subject != sub {
		t.Errorf("logout token sub = %q, want %q", lt.Subject, sub)
	}
}

func TestBackchannelOff(t *testing.T) {
	e := setup(t, nil)
	e.signInCode(t, newAuthRequest(""), "quiet@example.com", true)
	_, body, _ := e.get(t, e.issuer, nil)
	if !strings.Contains(body, "quiet@example.com") || strings.Contains(body, "Send back-channel logout") {
		t.Errorf("home page without a back-channel URI:\n%s", body)
	}
	resp := e.postForm(t, e.url("backchannel-logout"), url.Values{"sub": {devoidc.Sub("quiet@example.com")}})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /backchannel-logout: status %d, want 404", resp.StatusCode)
	}
}

func TestSub(t *testing.T) {
	a := devoidc.Sub("Person@Example.com ")
	if a != devoidc.Sub("person@example.com") {
		t.Error("Sub depends on case or spaces")
	}
	if a == devoidc.Sub("other@example.com") {
		t.Error("two people share a sub")
	}
	const prefix = "urn:fdc:gov.uk:2022:"
	if !strings.HasPrefix(a, prefix) || len(a) != len(prefix)+43 {
		t.Errorf("Sub = %q", a)
	}
}

// TestEveryResponse checks the rules that hold for every page and API
// answer: nothing is cached, pages carry the banner and no script.
func TestEveryResponse(t *testing.T) {
	e := setup(t, nil)
	a := newAuthRequest("")
	for _, target := range []string{
		e.issuer,
		e.url(".well-known/openid-configuration"),
		e.url(".well-known/jwks.json"),
		e.authCodeURL(a),
		e.url("authorize?client_id=nobody"),
		e.url("userinfo"),
		e.url("logout"),
		e.url("no-such-page"),
	} {
		status, body, header := e.get(t, target, nil)
		if header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", target, header.Get("Cache-Control"))
		}
		if strings.HasPrefix(header.Get("Content-Type"), "text/html") {
			if !strings.Contains(body, devBanner) {
				t.Errorf("%s (%d): page lacks the dev banner", target, status)
			}
			if strings.Contains(strings.ToLower(body), "<script") {
				t.Errorf("%s: page has a script", target)
			}
			if !strings.Contains(header.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Errorf("%s: CSP %q", target, header.Get("Content-Security-Policy"))
			}
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := devoidc.Config{Issuer: "http://127.0.0.1:3099/", ClientID: clientID, ClientSecret: "s", RedirectURIs: []string{redirectURI}}
	tests := map[string]func(*devoidc.Config){
		"issuer without trailing slash": func(c *devoidc.Config) { c.Issuer = "http://127.0.0.1:3099" },
		"relative issuer":               func(c *devoidc.Config) { c.Issuer = "/oidc/" },
		"no client id":                  func(c *devoidc.Config) { c.ClientID = "" },
		"no way to authenticate":        func(c *devoidc.Config) { c.ClientSecret = "" },
		"no redirect URIs":              func(c *devoidc.Config) { c.RedirectURIs = nil },
		"relative redirect URI":         func(c *devoidc.Config) { c.RedirectURIs = []string{"/callback"} },
		"relative events URL": func(c *devoidc.Config) {
			c.EventsURL, c.EventsAudience = "/account-events", "http://localhost:3000"
		},
		"events URL without audience": func(c *devoidc.Config) { c.EventsURL = "http://127.0.0.1:3088/account-events" },
	}
	if _, err := devoidc.New(good); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for name, change := range tests {
		t.Run(name, func(t *testing.T) {
			c := good
			change(&c)
			if _, err := devoidc.New(c); err == nil {
				t.Error("New accepted it")
			}
		})
	}
}
