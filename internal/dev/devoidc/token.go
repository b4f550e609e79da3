package devoidc

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// jwtBearerAssertion names the private_key_jwt assertion type (a URN, not
// a credential).
const jwtBearerAssertion = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" //nolint:gosec // see above

// tokenError is an RFC 6749 section 5.2 error response.
type tokenError struct {
	status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
	basic       bool   // the client tried HTTP Basic: answer with a challenge
}

func (e *tokenError) Error() string { return e.Code + ": " + e.Description }

func invalidRequest(desc string) *tokenError {
	return &tokenError{status: http.StatusBadRequest, Code: "invalid_request", Description: desc}
}

func invalidClient(desc string) *tokenError {
	return &tokenError{status: http.StatusUnauthorized, Code: "invalid_client", Description: desc}
}

func invalidGrant(desc string) *tokenError {
	return &tokenError{status: http.StatusBadRequest, Code: "invalid_grant", Description: desc}
}

// tokenResponse is the successful token endpoint answer.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	IDToken     string `json:"id_token"`
}

// idTokenClaims are the claims of One Login's ID token that the service
// checks.
type idTokenClaims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Audience string `json:"aud"`
	Expiry   int64  `json:"exp"`
	IssuedAt int64  `json:"iat"`
	Nonce    string `json:"nonce"`
	VoT      string `json:"vot"`
	VTM      string `json:"vtm"`
	SID      string `json:"sid"`
	AuthTime int64  `json:"auth_time"`
}

// token serves POST /token: it authenticates the client and redeems an
// authorization code for an access token and an ID token.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	resp, err := p.redeem(r)
	if err != nil {
		var te *tokenError
		if !errors.As(err, &te) {
			te = &tokenError{status: http.StatusInternalServerError, Code: "server_error", Description: "could not issue tokens"}
			slog.Error("dev-oidc: token endpoint", "error", err)
		} else {
			slog.Info("dev-oidc: token request rejected", "error", te.Code, "error_description", te.Description)
		}
		if te.basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="dev-oidc", charset="UTF-8"`)
		}
		writeJSON(w, te.status, te)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}

func (p *Provider) redeem(r *http.Request) (*tokenResponse, error) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return nil, invalidRequest("Content-Type must be application/x-www-form-urlencoded")
	}
	if err := r.ParseForm(); err != nil {
		return nil, invalidRequest("cannot parse the form: " + err.Error())
	}
	form := r.PostForm
	for name, vs := range form {
		if len(vs) > 1 {
			return nil, invalidRequest(name + " appears more than once")
		}
	}
	if err := p.authenticateClient(r, form); err != nil {
		return nil, err
	}
	if gt := form.Get("grant_type"); gt != "authorization_code" {
		return nil, &tokenError{status: http.StatusBadRequest, Code: "unsupported_grant_type", Description: "grant_type must be authorization_code"}
	}
	code := form.Get("code")
	if code == "" {
		return nil, invalidRequest("code is required")
	}
	now := p.now()
	p.mu.Lock()
	p.sweepLocked(now)
	grant, ok := p.codes[code]
	delete(p.codes, code) // single use, even when the rest of the request is wrong
	p.mu.Unlock()
	switch {
	case !ok || !now.Before(grant.expires):
		return nil, invalidGrant("code is unknown, expired or already used")
	case grant.clientID != p.cfg.ClientID:
		return nil, invalidGrant("code was issued to another client")
	case form.Get("redirect_uri") != grant.redirectURI:
		return nil, invalidGrant("redirect_uri does not match the authorization request")
	case form.Get("code_verifier") == "":
		return nil, invalidRequest("code_verifier is required")
	case !verifierMatches(form.Get("code_verifier"), grant.codeChallenge):
		return nil, invalidGrant("code_verifier does not match code_challenge")
	}

	idToken, err := jwt.Signed(p.signer).Claims(idTokenClaims{
		Issuer:   p.cfg.Issuer,
		Subject:  grant.sub,
		Audience: grant.clientID,
		Expiry:   now.Add(idTokenTTL).Unix(),
		IssuedAt: now.Unix(),
		Nonce:    grant.nonce,
		VoT:      grant.vtr,
		VTM:      p.endpoint("trustmark"),
		SID:      randomString(16),
		AuthTime: grant.authTime.Unix(),
	}).Serialize()
	if err != nil {
		return nil, err
	}
	access := randomString(32)
	p.mu.Lock()
	p.tokens[access] = accessGrant{
		sub:           grant.sub,
		email:         grant.email,
		emailVerified: grant.emailVerified,
		expires:       now.Add(accessTokenTTL),
	}
	p.mu.Unlock()
	return &tokenResponse{
		AccessToken: access,
		TokenType:   "Bearer",
		ExpiresIn:   int(accessTokenTTL / time.Second),
		IDToken:     idToken,
	}, nil
}

// verifierMatches checks a PKCE code_verifier against its S256 challenge.
func verifierMatches(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for _, c := range verifier {
		if !isBase64URLChar(c) && c != '.' && c != '~' {
			return false
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

// authenticateClient accepts exactly one of private_key_jwt,
// client_secret_basic and client_secret_post.
func (p *Provider) authenticateClient(r *http.Request, form url.Values) error {
	_, _, hasBasic := r.BasicAuth()
	hasAssertion := form.Has("client_assertion") || form.Has("client_assertion_type")
	hasPost := form.Has("client_secret")
	methods := 0
	for _, used := range []bool{hasBasic, hasAssertion, hasPost} {
		if used {
			methods++
		}
	}
	switch {
	case methods == 0:
		return invalidClient("no client authentication: use private_key_jwt, client_secret_basic or client_secret_post")
	case methods > 1:
		return invalidRequest("more than one client authentication method")
	case hasAssertion:
		return p.checkAssertion(form)
	case hasBasic:
		err := p.checkBasic(r, form)
		if err != nil {
			err.basic = true
			return err
		}
		return nil
	default:
		if err := p.checkSecret(form.Get("client_id"), form.Get("client_secret"), "client_secret_post"); err != nil {
			return err
		}
		return nil
	}
}

// checkBasic checks client_secret_basic: RFC 6749 section 2.3.1 has the
// client form-encode its id and secret before Basic encoding.
func (p *Provider) checkBasic(r *http.Request, form url.Values) *tokenError {
	rawID, rawSecret, _ := r.BasicAuth()
	id, err1 := url.QueryUnescape(rawID)
	secret, err2 := url.QueryUnescape(rawSecret)
	if err1 != nil || err2 != nil {
		return invalidClient("Basic credentials are not form-encoded")
	}
	if form.Has("client_id") && form.Get("client_id") != id {
		return invalidClient("client_id in the form differs from the Basic credentials")
	}
	if err := p.checkSecret(id, secret, "client_secret_basic"); err != nil {
		return err
	}
	return nil
}

func (p *Provider) checkSecret(id, secret, method string) *tokenError {
	switch {
	case p.cfg.ClientSecret == "":
		return invalidClient(method + " is not enabled for this client")
	case id != p.cfg.ClientID:
		return invalidClient("unknown client_id")
	case subtle.ConstantTimeCompare([]byte(secret), []byte(p.cfg.ClientSecret)) != 1:
		return invalidClient("wrong client secret")
	}
	return nil
}

// checkAssertion checks a private_key_jwt client assertion (RFC 7523 and
// One Login's rules) and remembers its jti so it cannot be replayed.
func (p *Provider) checkAssertion(form url.Values) error {
	if p.cfg.ClientKey == nil {
		return invalidClient("private_key_jwt is not enabled for this client")
	}
	if form.Get("client_assertion_type") != jwtBearerAssertion {
		return invalidClient("client_assertion_type must be " + jwtBearerAssertion)
	}
	if id := form.Get("client_id"); id != "" && id != p.cfg.ClientID {
		return invalidClient("unknown client_id")
	}
	tok, err := jwt.ParseSigned(form.Get("client_assertion"), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return invalidClient("client_assertion is not an RS256 JWT: " + err.Error())
	}
	var c jwt.Claims
	if err := tok.Claims(p.cfg.ClientKey, &c); err != nil {
		return invalidClient("client_assertion signature does not verify with the client's key")
	}
	now := p.now()
	switch {
	case c.Issuer != p.cfg.ClientID || c.Subject != p.cfg.ClientID:
		return invalidClient("client_assertion iss and sub must both be the client_id")
	case !c.Audience.Contains(p.endpoint("token")):
		return invalidClient("client_assertion aud must be the token endpoint " + p.endpoint("token"))
	case c.Expiry == nil || c.IssuedAt == nil:
		return invalidClient("client_assertion must have exp and iat")
	case !now.Before(c.Expiry.Time()):
		return invalidClient("client_assertion has expired")
	case c.IssuedAt.Time().After(now.Add(clockSkew)):
		return invalidClient("client_assertion iat is in the future")
	case c.NotBefore != nil && c.NotBefore.Time().After(now.Add(clockSkew)):
		return invalidClient("client_assertion is not valid yet (nbf)")
	case !c.Expiry.Time().After(c.IssuedAt.Time()):
		return invalidClient("client_assertion exp must be after iat")
	case c.Expiry.Time().Sub(c.IssuedAt.Time()) > assertionMaxTTL:
		return invalidClient("client_assertion exp must be at most 5 minutes after iat")
	case strings.TrimSpace(c.ID) == "":
		return invalidClient("client_assertion must have a jti")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sweepLocked(now)
	if _, seen := p.jtis[c.ID]; seen {
		return invalidClient("client_assertion jti has been used before")
	}
	p.jtis[c.ID] = c.Expiry.Time()
	return nil
}
