package devoidc

import (
	"encoding/json"
	"net/http"

	"github.com/go-jose/go-jose/v4"
)

// discoveryDocument is the subset of One Login's discovery document that
// the service reads, with One Login's values.
type discoveryDocument struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgs      []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	BackchannelLogoutSupported        bool     `json:"backchannel_logout_supported"`
	BackchannelLogoutSessionSupported bool     `json:"backchannel_logout_session_supported"`
	UILocalesSupported                []string `json:"ui_locales_supported"`
	VTRSupported                      []string `json:"vtr_supported"`
}

// discovery serves GET /.well-known/openid-configuration.
func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, discoveryDocument{
		Issuer:                            p.cfg.Issuer,
		AuthorizationEndpoint:             p.endpoint("authorize"),
		TokenEndpoint:                     p.endpoint("token"),
		UserinfoEndpoint:                  p.endpoint("userinfo"),
		JWKSURI:                           p.endpoint(".well-known/jwks.json"),
		EndSessionEndpoint:                p.endpoint("logout"),
		ResponseTypesSupported:            []string{"code"},
		GrantTypesSupported:               []string{"authorization_code"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  []string{string(jose.ES256)},
		TokenEndpointAuthMethodsSupported: []string{"private_key_jwt", "client_secret_basic", "client_secret_post"},
		TokenEndpointAuthSigningAlgs:      []string{string(jose.RS256)},
		ScopesSupported:                   []string{"openid", "email"},
		ClaimsSupported:                   []string{"sub", "email", "email_verified"},
		CodeChallengeMethodsSupported:     []string{"S256"},
		BackchannelLogoutSupported:        true,
		BackchannelLogoutSessionSupported: false,
		UILocalesSupported:                []string{"en", "cy"},
		VTRSupported:                      []string{vtrLow, vtrMedium},
	})
}

// jwks serves GET /.well-known/jwks.json: the one ES256 verification key.
func (p *Provider) jwks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key:       &p.key.PublicKey,
		KeyID:     p.kid,
		Algorithm: string(jose.ES256),
		Use:       "sig",
	}}})
}

// writeJSON writes v as the JSON response body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
