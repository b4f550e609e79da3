package devoidc

import (
	"net/http"
	"strings"
)

// userinfoResponse is One Login's userinfo for the email scope.
type userinfoResponse struct {
	Sub           string `json:"sub"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
}

// userinfo serves GET /userinfo for a bearer access token from /token.
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	now := p.now()
	var grant accessGrant
	ok := false
	if strings.EqualFold(scheme, "Bearer") && token != "" {
		p.mu.Lock()
		grant, ok = p.tokens[token]
		p.mu.Unlock()
		ok = ok && now.Before(grant.expires)
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"error":             "invalid_token",
			"error_description": "the access token is missing, unknown or expired",
		})
		return
	}
	writeJSON(w, http.StatusOK, userinfoResponse{Sub: grant.sub, Email: grant.email, EmailVerified: grant.emailVerified})
}
