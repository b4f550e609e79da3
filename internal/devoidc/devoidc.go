// Package devoidc is a development identity provider that speaks the OIDC
// contract of GOV.UK One Login (authorization code flow with PKCE S256,
// private_key_jwt or client-secret client authentication, ES256 ID tokens
// with vot/vtm, userinfo with email and email_verified, RP-initiated logout
// and back-channel logout), so the service's sign-in journey runs on one
// machine and in tests.
//
// It is not an identity provider: anyone may sign in as any email address.
// Every page says so. State lives in memory and is lost on restart; only
// Sub is stable, so the same email is the same person across restarts.
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
	"slices"
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
	// HTTPClient sends back-channel logouts; nil means a client with a
	// 10 s timeout that does not follow redirects.
	HTTPClient *http.Client
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
	pages    *template.Template
	handler  http.Handler
	now      func() time.Time

	mu     sync.Mutex
	codes  map[string]codeGrant
	tokens map[string]accessGrant
	jtis   map[string]time.Time // client assertion jti → its exp
	people []person             // who signed in since start, first sign-in first
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

// person is a row of the home page.
type person struct {
	Sub   string
	Email string
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
		cfg.HTTPClient = &http.Client{
			Timeout: 10 * time.Second,
			// Report what the client answered, not where it pointed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}

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
		pages:    pages,
		now:      time.Now,
		codes:    map[string]codeGrant{},
		tokens:   map[string]accessGrant{},
		jtis:     map[string]time.Time{},
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

// Sub returns the subject identifier dev-oidc gives the person with email:
// a pairwise-looking One Login style identifier derived only from the
// trimmed, lower-cased address, so it survives restarts.
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

// remember records a sign-in for the home page.
func (p *Provider) remember(sub, email string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := slices.IndexFunc(p.people, func(x person) bool { return x.Sub == sub })
	if i >= 0 {
		p.people[i].Email = email
		return
	}
	p.people = append(p.people, person{Sub: sub, Email: email})
}
