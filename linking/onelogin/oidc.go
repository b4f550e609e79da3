// Package onelogin is the OpenID Connect relying party of GOV.UK One
// Login: it builds the sign-in URL (state, nonce, PKCE, vtr), exchanges the
// code (private_key_jwt or a client secret), checks ID tokens, userinfo and
// back-channel logout tokens, and builds the end-session URL. It speaks the
// protocol only: it stores nothing, and what a sign-in does (sessions, the
// link to a subscriber) is package linking's.
package onelogin

import (
	"context"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"email-alert/internal/lib/jwks"
)

// OIDCConfig configures the One Login relying party.
type OIDCConfig struct {
	IssuerURL    string // compared exactly with the discovered issuer
	ClientID     string
	PrivateKey   *rsa.PrivateKey // private_key_jwt when set
	ClientSecret string          // client_secret_basic otherwise
	Scopes       []string
	// VTR is the vector of trust to ask for, e.g. ["Cl.Cm"]; nil sends none
	// and skips the vot check.
	VTR                   []string
	RedirectURL           string
	PostLogoutRedirectURL string
	// UserAgent is sent on every request to the provider.
	UserAgent string
}

// Account is a One Login account as the ID token and userinfo describe it.
type Account struct {
	Sub           string
	Email         string
	EmailVerified bool
}

// ErrSignIn wraps every reason a sign-in could not complete. The person
// sees one "problem signing you in" page; the log gets the reason.
var ErrSignIn = errors.New("sign-in failed")

// clockSkew is how far the provider's clock may be from ours.
const clockSkew = time.Minute

// RelyingParty speaks OpenID Connect to One Login: authorization code flow
// with state, nonce, PKCE and vtr; private_key_jwt or a client secret at the
// token endpoint; ID token, userinfo and logout token checks. Discovery is
// lazy and retried, so the service starts while the provider is down.
type RelyingParty struct {
	cfg    OIDCConfig
	client *http.Client

	mu       sync.Mutex
	provider *oidc.Provider
	keys     *jwks.KeySet // the provider's signing keys
	endpoint struct {
		EndSession string `json:"end_session_endpoint"`
		JWKS       string `json:"jwks_uri"`
	}
}

// NewRelyingParty returns a relying party for cfg.
func NewRelyingParty(cfg OIDCConfig) *RelyingParty {
	return &RelyingParty{
		cfg: cfg,
		client: &http.Client{
			Timeout:   10 * time.Second,
			Transport: userAgent{name: cfg.UserAgent, next: http.DefaultTransport},
		},
	}
}

type userAgent struct {
	name string
	next http.RoundTripper
}

func (u userAgent) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", u.name)
	return u.next.RoundTrip(r)
}

// withClient makes go-oidc and x/oauth2 use our HTTP client.
func (rp *RelyingParty) withClient(ctx context.Context) context.Context {
	ctx = oidc.ClientContext(ctx, rp.client)
	return context.WithValue(ctx, oauth2.HTTPClient, rp.client)
}

// discover returns the provider, fetching its configuration the first time
// (and again after a failure).
func (rp *RelyingParty) discover(ctx context.Context) (*oidc.Provider, error) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.provider != nil {
		return rp.provider, nil
	}
	// The key set keeps the context it is created with for later fetches,
	// so it gets one that is never cancelled, carrying only our client.
	p, err := oidc.NewProvider(rp.withClient(context.WithoutCancel(ctx)), rp.cfg.IssuerURL)
	if err != nil {
		return nil, fmt.Errorf("%w: discovery at %s: %w", ErrSignIn, rp.cfg.IssuerURL, err)
	}
	if err := p.Claims(&rp.endpoint); err != nil {
		return nil, fmt.Errorf("%w: discovery: %w", ErrSignIn, err)
	}
	if rp.endpoint.JWKS == "" {
		return nil, fmt.Errorf("%w: discovery: no jwks_uri", ErrSignIn)
	}
	rp.keys = jwks.New(rp.endpoint.JWKS, rp.client)
	rp.provider = p
	return p, nil
}

func (rp *RelyingParty) oauth2Config(p *oidc.Provider) *oauth2.Config {
	endpoint := p.Endpoint()
	if rp.cfg.PrivateKey != nil {
		endpoint.AuthStyle = oauth2.AuthStyleInParams // client_id in the form, no secret
	} else {
		endpoint.AuthStyle = oauth2.AuthStyleInHeader // client_secret_basic
	}
	return &oauth2.Config{
		ClientID:     rp.cfg.ClientID,
		ClientSecret: rp.cfg.ClientSecret,
		Endpoint:     endpoint,
		RedirectURL:  rp.cfg.RedirectURL,
		Scopes:       rp.cfg.Scopes,
	}
}

// LevelFor returns the vector of trust to ask for: ["Cl"] when mfa is
// false, else the configured one (nil: none).
func (rp *RelyingParty) LevelFor(mfa bool) []string {
	if rp.cfg.VTR == nil {
		return nil
	}
	if !mfa {
		return []string{"Cl"}
	}
	return rp.cfg.VTR
}

// AuthCodeURL returns the provider URL that starts a sign-in, whose pages
// are in uiLocales (One Login's ui_locales: en or cy).
func (rp *RelyingParty) AuthCodeURL(ctx context.Context, state, nonce, verifier string, vtr []string, uiLocales string) (string, error) {
	p, err := rp.discover(ctx)
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{
		oidc.Nonce(nonce),
		oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("ui_locales", uiLocales),
	}
	if vtr != nil {
		raw, _ := json.Marshal(vtr)
		opts = append(opts, oauth2.SetAuthURLParam("vtr", string(raw)))
	}
	return rp.oauth2Config(p).AuthCodeURL(state, opts...), nil
}

// Exchange redeems an authorization code and returns the account with the
// raw ID token. It checks the ID token's signature, iss, aud, exp, iat,
// nonce and, when a level was asked for, that vot is that level; then it
// asks userinfo for the email.
func (rp *RelyingParty) Exchange(ctx context.Context, code, verifier, nonce string, vtr []string) (Account, string, error) {
	p, err := rp.discover(ctx)
	if err != nil {
		return Account{}, "", err
	}
	ctx = rp.withClient(ctx)
	conf := rp.oauth2Config(p)
	opts := []oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}
	if rp.cfg.PrivateKey != nil {
		assertion, err := rp.clientAssertion(conf.Endpoint.TokenURL)
		if err != nil {
			return Account{}, "", err
		}
		opts = append(opts,
			oauth2.SetAuthURLParam("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
			oauth2.SetAuthURLParam("client_assertion", assertion))
	}
	token, err := conf.Exchange(ctx, code, opts...)
	if err != nil {
		return Account{}, "", fmt.Errorf("%w: token request: %w", ErrSignIn, err)
	}
	rawID, _ := token.Extra("id_token").(string)
	if rawID == "" {
		return Account{}, "", fmt.Errorf("%w: no id_token in the token response", ErrSignIn)
	}
	idToken, err := rp.VerifyIDToken(ctx, rawID, nonce, vtr)
	if err != nil {
		return Account{}, "", err
	}
	info, err := p.UserInfo(ctx, oauth2.StaticTokenSource(token))
	if err != nil {
		return Account{}, "", fmt.Errorf("%w: userinfo: %w", ErrSignIn, err)
	}
	if info.Subject != idToken.Subject {
		return Account{}, "", fmt.Errorf("%w: userinfo sub %q is not the ID token's", ErrSignIn, info.Subject)
	}
	// The access token (and any refresh token) is dropped here: the
	// session needs only the ID token, for sign-out.
	return Account{Sub: idToken.Subject, Email: info.Email, EmailVerified: info.EmailVerified}, rawID, nil
}

// VerifyIDToken checks a raw ID token as Exchange does.
func (rp *RelyingParty) VerifyIDToken(ctx context.Context, raw, nonce string, vtr []string) (*oidc.IDToken, error) {
	p, err := rp.discover(ctx)
	if err != nil {
		return nil, err
	}
	idToken, err := rp.verifier(p).Verify(rp.withClient(ctx), raw)
	if err != nil {
		return nil, fmt.Errorf("%w: ID token: %w", ErrSignIn, err)
	}
	if idToken.IssuedAt.IsZero() || idToken.IssuedAt.After(time.Now().Add(clockSkew)) {
		return nil, fmt.Errorf("%w: ID token iat %s is missing or in the future", ErrSignIn, idToken.IssuedAt)
	}
	if subtle.ConstantTimeCompare([]byte(idToken.Nonce), []byte(nonce)) != 1 || nonce == "" {
		return nil, fmt.Errorf("%w: ID token nonce does not match", ErrSignIn)
	}
	if vtr != nil {
		var claims struct {
			Vot string `json:"vot"`
		}
		if err := idToken.Claims(&claims); err != nil {
			return nil, fmt.Errorf("%w: ID token claims: %w", ErrSignIn, err)
		}
		if claims.Vot != vtr[0] {
			return nil, fmt.Errorf("%w: ID token vot %q, asked for %q", ErrSignIn, claims.Vot, vtr[0])
		}
	}
	return idToken, nil
}

// verifier checks tokens signed by the provider's keys for our client, by
// an asymmetric algorithm only. The keys are fetched again at most every
// jwks.MinRefresh, however many forged logout tokens arrive.
func (rp *RelyingParty) verifier(*oidc.Provider) *oidc.IDTokenVerifier {
	return oidc.NewVerifier(rp.cfg.IssuerURL, rp.keys, &oidc.Config{
		ClientID:             rp.cfg.ClientID,
		SupportedSigningAlgs: []string{oidc.ES256, oidc.RS256, oidc.PS256},
	})
}

// clientAssertion builds the private_key_jwt assertion for the token
// endpoint: RS256, iss = sub = client_id, aud = the token endpoint, a
// unique jti, and five minutes to live.
func (rp *RelyingParty) clientAssertion(tokenURL string) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: rp.cfg.PrivateKey},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("%w: client assertion signer: %w", ErrSignIn, err)
	}
	now := time.Now()
	claims := jwt.Claims{
		Issuer:   rp.cfg.ClientID,
		Subject:  rp.cfg.ClientID,
		Audience: jwt.Audience{tokenURL},
		ID:       uuid.NewString(),
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(5 * time.Minute)),
	}
	assertion, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("%w: client assertion: %w", ErrSignIn, err)
	}
	return assertion, nil
}

// EndSessionURL returns where to send the browser to end the provider's
// session, or "" when the provider has no end_session_endpoint.
func (rp *RelyingParty) EndSessionURL(ctx context.Context, idTokenHint, state string) (string, error) {
	if _, err := rp.discover(ctx); err != nil {
		return "", err
	}
	if rp.endpoint.EndSession == "" {
		return "", nil
	}
	u, err := url.Parse(rp.endpoint.EndSession)
	if err != nil {
		return "", fmt.Errorf("end_session_endpoint: %w", err)
	}
	q := u.Query()
	if idTokenHint != "" {
		q.Set("id_token_hint", idTokenHint)
	}
	q.Set("post_logout_redirect_uri", rp.cfg.PostLogoutRedirectURL)
	q.Set("state", state)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// VerifyLogoutToken checks a back-channel logout token: signature, iss,
// aud, exp, iat, the back-channel logout event, no nonce, a sub and a jti
// (go-oidc's rules). Replays are the caller's to refuse, by TokenID.
func (rp *RelyingParty) VerifyLogoutToken(ctx context.Context, raw string) (*oidc.LogoutToken, error) {
	p, err := rp.discover(ctx)
	if err != nil {
		return nil, err
	}
	token, err := rp.verifier(p).VerifyLogout(rp.withClient(ctx), raw)
	if err != nil {
		return nil, fmt.Errorf("logout token: %w", err)
	}
	if token.Subject == "" {
		return nil, errors.New("logout token: no sub")
	}
	if token.IssuedAt.IsZero() || token.IssuedAt.After(time.Now().Add(clockSkew)) {
		return nil, errors.New("logout token: iat is missing or in the future")
	}
	return token, nil
}
