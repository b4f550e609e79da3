// Package devoidc is a development identity provider that speaks the OIDC
// contract of GOV.UK One Login (authorization code flow with PKCE S256,
// private_key_jwt or client-secret client authentication, ES256 ID tokens
// with vot/vtm, userinfo with email and email_verified, RP-initiated logout
// and back-channel logout), and pushes the account service's lifecycle
// events (RFC 8417 Security Event Tokens delivered by RFC 8935 push: an
// account's email changed, an account deleted), so the service's sign-in
// and account lifecycle journeys run on one machine and in tests.
//
// It is not an identity provider: anyone may sign in as any email address.
// Every page says so. State lives in memory and is lost on restart.
//
// People: an email address dev-oidc has not seen gets the subject Sub(email),
// so the same email is the same person across restarts. Once seen, the
// account is in an in-memory directory and keeps its subject when the home
// page changes its email (signing in with the new email gives the same sub;
// the old email becomes a new, unknown person). Deleting an account removes
// it; the service keeps a tombstone for a deleted sub, so an account created
// later for the same email gets a new random sub, never the deleted one.
// After a restart the directory is empty and everyone is back to Sub(email).
package devoidc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Lifetimes and limits of what the provider issues and accepts.
const (
	codeTTL         = 60 * time.Second
	accessTokenTTL  = 180 * time.Second
	idTokenTTL      = 120 * time.Second
	logoutTokenTTL  = 120 * time.Second
	assertionMaxTTL = 5 * time.Minute
	clockSkew       = 30 * time.Second
)

// Vectors of trust the provider accepts in vtr, and the default when the
// request has none (as One Login: medium confidence, two factors).
const (
	vtrLow     = "Cl"
	vtrMedium  = "Cl.Cm"
	defaultVTR = vtrMedium
)

const (
	subPrefix      = "urn:fdc:gov.uk:2022:"
	backchannelEvt = "http://schemas.openid.net/event/backchannel-logout"
)

// Config describes the one client the provider serves.
type Config struct {
	// Issuer is the provider's issuer identifier, with a trailing slash as
	// One Login's; every endpoint URL is Issuer + path.
	Issuer string
	// ClientID is the only client_id accepted.
	ClientID string
	// ClientKey verifies private_key_jwt client assertions (RS256); nil
	// disables private_key_jwt.
	ClientKey *rsa.PublicKey
	// ClientSecret is accepted through client_secret_basic and
	// client_secret_post; "" disables both.
	ClientSecret string
	// RedirectURIs are the allowed redirect_uri values, compared exactly.
	RedirectURIs []string
	// PostLogoutRedirectURIs are the allowed post_logout_redirect_uri values.
	PostLogoutRedirectURIs []string
	// BackchannelLogoutURI receives back-channel logout tokens; "" hides
	// the home page's logout buttons.
	BackchannelLogoutURI string
	// HTTPClient sends back-channel logouts and account events; nil means a
	// client with a 10 s timeout. Redirects are never followed.
	HTTPClient *http.Client
	// EventsURL receives account lifecycle events (RFC 8935 push of RFC
	// 8417 Security Event Tokens); "" hides the home page's "change email"
	// and "delete account" buttons.
	EventsURL string
	// EventsToken is sent as "Authorization: Bearer EventsToken" with every
	// pushed event; "" sends no Authorization header.
	EventsToken string
	// EventsAudience is the aud of every Security Event Token; required
	// when EventsURL is set.
	EventsAudience string
}

// Provider is the development identity provider; it is an http.Handler
// serving every endpoint under the issuer's path. It is safe for
// concurrent use.
type Provider struct {
	cfg      Config
	basePath string // the issuer's path, ending in "/"
	key      *ecdsa.PrivateKey
	kid      string
	signer   jose.Signer // ID tokens, typ JWT
	logout   jose.Signer // logout tokens, typ logout+jwt
	secevent jose.Signer // Security Event Tokens, typ secevent+jwt
	pages    *template.Template
	handler  http.Handler
	now      func() time.Time

	mu     sync.Mutex
	codes  map[string]codeGrant
	tokens map[string]accessGrant
	jtis   map[string]time.Time // client assertion jti → its exp
	// people are the accounts in the directory, first sign-in first: who
	// signed in since start, with their current email, less the deleted.
	people []person
	// accounts is the directory: trimmed, lower-cased email → sub of
	// every account in people.
	accounts map[string]string
	// issued is every sub given out since start, deleted ones included,
	// so a new account never gets the subject of another.
	issued map[string]bool
}

// codeGrant is what an authorization code stands for until it is redeemed.
type codeGrant struct {
	clientID      string
	redirectURI   string
	nonce         string
	codeChallenge string
	vtr           string
	sub           string
	email         string
	emailVerified bool
	authTime      time.Time
	expires       time.Time
}

// accessGrant is what an access token gives access to at /userinfo.
type accessGrant struct {
	sub           string
	email         string
	emailVerified bool
	expires       time.Time
}

// New checks cfg and returns a provider with a fresh ECDSA P-256 signing
// key under a random kid.
func New(cfg Config) (*Provider, error) {
	u, err := url.Parse(cfg.Issuer)
	switch {
	case err != nil:
		return nil, fmt.Errorf("devoidc: issuer: %w", err)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return nil, fmt.Errorf("devoidc: issuer %q is not an absolute http(s) URL", cfg.Issuer)
	case !strings.HasSuffix(u.Path, "/"), u.RawQuery != "", u.Fragment != "":
		return nil, fmt.Errorf("devoidc: issuer %q must end in \"/\" and have no query or fragment", cfg.Issuer)
	case cfg.ClientID == "":
		return nil, errors.New("devoidc: ClientID is empty")
	case cfg.ClientKey == nil && cfg.ClientSecret == "":
		return nil, errors.New("devoidc: neither ClientKey nor ClientSecret is set; the client could not authenticate")
	case len(cfg.RedirectURIs) == 0:
		return nil, errors.New("devoidc: RedirectURIs is empty")
	}
	if cfg.EventsURL != "" {
		if eu, err := url.Parse(cfg.EventsURL); err != nil || (eu.Scheme != "http" && eu.Scheme != "https") || eu.Host == "" || eu.Fragment != "" {
			return nil, fmt.Errorf("devoidc: EventsURL %q is not an absolute http(s) URL without a fragment", cfg.EventsURL)
		}
		if cfg.EventsAudience == "" {
			return nil, errors.New("devoidc: EventsAudience is empty; Security Event Tokens need an aud")
		}
	}
	for _, list := range [][]string{cfg.RedirectURIs, cfg.PostLogoutRedirectURIs, {cfg.BackchannelLogoutURI}} {
		for _, s := range list {
			if s == "" && len(list) == 1 {
				continue // BackchannelLogoutURI unset
			}
			if ru, err := url.Parse(s); err != nil || !ru.IsAbs() || ru.Fragment != "" {
				return nil, fmt.Errorf("devoidc: %q is not an absolute URL without a fragment", s)
			}
		}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	// Report what the client answered, not where it pointed. A copy, so
	// the caller's client is left as it was.
	hc := *cfg.HTTPClient
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg.HTTPClient = &hc

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devoidc: generate signing key: %w", err)
	}
	kid := randomString(16)
	jwk := jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jwk}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("devoidc: ID token signer: %w", err)
	}
	logout, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jwk}, (&jose.SignerOptions{}).WithType("logout+jwt"))
	if err != nil {
		return nil, fmt.Errorf("devoidc: logout token signer: %w", err)
	}
	secevent, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jwk}, (&jose.SignerOptions{}).WithType("secevent+jwt"))
	if err != nil {
		return nil, fmt.Errorf("devoidc: security event token signer: %w", err)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, fmt.Errorf("devoidc: templates: %w", err)
	}

	p := &Provider{
		cfg:      cfg,
		basePath: u.Path,
		key:      key,
		kid:      kid,
		signer:   signer,
		logout:   logout,
		secevent: secevent,
		pages:    pages,
		now:      time.Now,
		codes:    map[string]codeGrant{},
		tokens:   map[string]accessGrant{},
		jtis:     map[string]time.Time{},
		accounts: map[string]string{},
		issued:   map[string]bool{},
	}
	p.handler = p.routes()
	return p, nil
}

// routes is the provider's table of contents.
func (p *Provider) routes() http.Handler {
	b := p.basePath
	// Forms on the provider's own pages are the only browser POSTs it
	// expects; /token is server to server and carries no browser headers.
	csrf := http.NewCrossOriginProtection()
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+b+"{$}", p.home)
	mux.HandleFunc("GET "+b+".well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET "+b+".well-known/jwks.json", p.jwks)
	mux.HandleFunc("GET "+b+"authorize", p.authorizeForm)
	mux.Handle("POST "+b+"authorize", csrf.Handler(http.HandlerFunc(p.authorizeSubmit)))
	mux.HandleFunc("POST "+b+"token", p.token)
	mux.HandleFunc("GET "+b+"userinfo", p.userinfo)
	mux.HandleFunc("GET "+b+"logout", p.endSession)
	mux.Handle("POST "+b+"backchannel-logout", csrf.Handler(http.HandlerFunc(p.sendBackchannelLogout)))
	mux.Handle("POST "+b+"account-email", csrf.Handler(http.HandlerFunc(p.changeEmailButton)))
	mux.Handle("POST "+b+"account-delete", csrf.Handler(http.HandlerFunc(p.deleteAccountButton)))
	return mux
}

// ServeHTTP serves the provider's endpoints. Nothing it answers may be
// cached: codes, tokens and per-person pages all pass through it.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	p.handler.ServeHTTP(w, r)
}

// endpoint is the absolute URL of path under the issuer.
func (p *Provider) endpoint(path string) string {
	return p.cfg.Issuer + path
}

// Sub returns the subject identifier dev-oidc gives a person with email it
// has not seen: a pairwise-looking One Login style identifier derived only
// from the trimmed, lower-cased address, so it survives restarts. A person
// whose account changed email since start keeps the sub they had; see the
// package documentation.
func Sub(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	enc := base64.RawURLEncoding.EncodeToString(sum[:])
	return subPrefix + enc[:43]
}

// randomString returns n random bytes, base64url without padding.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead).
	return base64.RawURLEncoding.EncodeToString(b)
}

// sweepLocked drops expired codes, tokens and remembered jtis. p.mu must be
// held.
func (p *Provider) sweepLocked(now time.Time) {
	for k, g := range p.codes {
		if !now.Before(g.expires) {
			delete(p.codes, k)
		}
	}
	for k, g := range p.tokens {
		if !now.Before(g.expires) {
			delete(p.tokens, k)
		}
	}
	for k, exp := range p.jtis {
		// Keep a jti a little past exp: an assertion within clock skew of
		// its exp must still count as replayed.
		if now.After(exp.Add(clockSkew)) {
			delete(p.jtis, k)
		}
	}
}
