package devoidc

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// logoutTokenClaims are the claims of a back-channel logout token
// (OpenID Connect Back-Channel Logout 1.0 section 2.4). It has no nonce, so
// it cannot pass for an ID token.
type logoutTokenClaims struct {
	Issuer   string              `json:"iss"`
	Audience string              `json:"aud"`
	IssuedAt int64               `json:"iat"`
	Expiry   int64               `json:"exp"`
	ID       string              `json:"jti"`
	Subject  string              `json:"sub"`
	Events   map[string]struct{} `json:"events"`
}

// LogoutToken returns a signed back-channel logout token for sub: ES256,
// typ logout+jwt, claims iss, aud (the client_id), iat, exp (iat + 120 s),
// a random jti, sub and the back-channel logout event.
func (p *Provider) LogoutToken(sub string) (string, error) {
	if sub == "" {
		return "", fmt.Errorf("devoidc: logout token: empty sub")
	}
	now := p.now()
	tok, err := jwt.Signed(p.logout).Claims(logoutTokenClaims{
		Issuer:   p.cfg.Issuer,
		Audience: p.cfg.ClientID,
		IssuedAt: now.Unix(),
		Expiry:   now.Add(logoutTokenTTL).Unix(),
		ID:       randomString(16),
		Subject:  sub,
		Events:   map[string]struct{}{backchannelEvt: {}},
	}).Serialize()
	if err != nil {
		return "", fmt.Errorf("devoidc: sign logout token: %w", err)
	}
	return tok, nil
}

// checkIDTokenHint verifies that hint is an ID token this provider signed
// for its client. Expiry is ignored: a hint is usually an old token.
func (p *Provider) checkIDTokenHint(hint string) error {
	tok, err := jwt.ParseSigned(hint, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return fmt.Errorf("id_token_hint is not an ES256 JWT: %w", err)
	}
	var c jwt.Claims
	if err := tok.Claims(&p.key.PublicKey, &c); err != nil {
		return fmt.Errorf("id_token_hint was not signed by this provider (since its last start)")
	}
	if c.Issuer != p.cfg.Issuer || !c.Audience.Contains(p.cfg.ClientID) {
		return fmt.Errorf("id_token_hint was not issued by %s to %s", p.cfg.Issuer, p.cfg.ClientID)
	}
	return nil
}

// endSession serves GET /logout, RP-initiated logout.
func (p *Provider) endSession(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if hint := q.Get("id_token_hint"); hint != "" {
		if err := p.checkIDTokenHint(hint); err != nil {
			p.renderError(w, http.StatusBadRequest, "Invalid sign-out request", err.Error())
			return
		}
	}
	target := q.Get("post_logout_redirect_uri")
	if target == "" {
		p.render(w, http.StatusOK, "signed-out", p.basePage())
		return
	}
	if !slices.Contains(p.cfg.PostLogoutRedirectURIs, target) {
		p.renderError(w, http.StatusBadRequest, "Invalid sign-out request",
			"post_logout_redirect_uri "+quote(target)+" is not registered for this client. Registered: "+
				strings.Join(p.cfg.PostLogoutRedirectURIs, ", ")+".")
		return
	}
	extra := url.Values{}
	if s := q.Get("state"); s != "" {
		extra.Set("state", s)
	}
	http.Redirect(w, r, withQuery(target, extra), http.StatusFound) //nolint:gosec // target is one of the registered URIs, checked above
}

// homePage is the data of the home page.
type homePage struct {
	basePage
	People               []person
	BackchannelLogoutURI string
	EventsURL            string
	EventsAudience       string
}

// home serves GET /: who has signed in, with back-channel logout buttons
// and account lifecycle buttons.
func (p *Provider) home(w http.ResponseWriter, _ *http.Request) {
	p.render(w, http.StatusOK, "home", homePage{
		basePage:             p.basePage(),
		People:               p.directory(),
		BackchannelLogoutURI: p.cfg.BackchannelLogoutURI,
		EventsURL:            p.cfg.EventsURL,
		EventsAudience:       p.cfg.EventsAudience,
	})
}

// backchannelPage is the data of the page reporting a sent logout.
type backchannelPage struct {
	basePage
	Sub    string
	URI    string
	Status string
	Body   string
	Error  string
}

// sendBackchannelLogout serves POST /backchannel-logout: it sends a logout
// token for the form's sub to the client and shows what the client said.
func (p *Provider) sendBackchannelLogout(w http.ResponseWriter, r *http.Request) {
	if p.cfg.BackchannelLogoutURI == "" {
		p.renderError(w, http.StatusNotFound, "Back-channel logout is off", "No back-channel logout URI is configured.")
		return
	}
	sub := strings.TrimSpace(r.PostFormValue("sub"))
	if sub == "" {
		p.renderError(w, http.StatusBadRequest, "Invalid request", "The form has no sub.")
		return
	}
	page := backchannelPage{basePage: p.basePage(), Sub: sub, URI: p.cfg.BackchannelLogoutURI}
	status := http.StatusOK
	if answer, body, err := p.postLogoutToken(r, sub); err != nil {
		page.Error = err.Error()
		status = http.StatusBadGateway
	} else {
		page.Status, page.Body = answer, body
	}
	p.render(w, status, "backchannel", page)
}

// postLogoutToken POSTs a fresh logout token for sub to the client and
// returns its status line and the start of its body.
func (p *Provider) postLogoutToken(r *http.Request, sub string) (status, body string, err error) {
	tok, err := p.LogoutToken(sub)
	if err != nil {
		return "", "", err
	}
	form := url.Values{"logout_token": {tok}}.Encode()
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, p.cfg.BackchannelLogoutURI, strings.NewReader(form))
	if err != nil {
		return "", "", fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "dev-oidc")
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("send logout token: %w", err)
	}
	defer resp.Body.Close()
	return resp.Status, readStart(resp.Body, 2048), nil
}
