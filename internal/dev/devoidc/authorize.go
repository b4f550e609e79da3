package devoidc

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"
)

// authParams are the authorization request parameters the provider reads,
// in the order the form carries them.
var authParams = []string{
	"client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "vtr", "ui_locales",
}

// authRequest is an authorization request as received, from the query
// string (GET) or the form's hidden fields (POST).
type authRequest struct {
	values url.Values
}

func (a authRequest) get(name string) string { return a.values.Get(name) }

// hiddenField is one parameter carried through the sign-in form.
type hiddenField struct {
	Name, Value string
}

func (a authRequest) hiddenFields() []hiddenField {
	var fields []hiddenField
	for _, name := range authParams {
		if v := a.get(name); v != "" {
			fields = append(fields, hiddenField{Name: name, Value: v})
		}
	}
	return fields
}

// clientProblem says why the request cannot even be answered by redirect:
// an unknown client or a redirect_uri that is not the client's. "" means
// the request may be redirected back.
func (p *Provider) clientProblem(a authRequest) string {
	switch {
	case len(a.values["client_id"]) > 1 || len(a.values["redirect_uri"]) > 1:
		return "client_id and redirect_uri must each appear once."
	case a.get("client_id") == "":
		return "The request has no client_id."
	case a.get("client_id") != p.cfg.ClientID:
		return "Unknown client_id " + quote(a.get("client_id")) + "; this provider serves only " + quote(p.cfg.ClientID) + "."
	case a.get("redirect_uri") == "":
		return "The request has no redirect_uri."
	case !slices.Contains(p.cfg.RedirectURIs, a.get("redirect_uri")):
		return "redirect_uri " + quote(a.get("redirect_uri")) + " is not registered for this client. Registered: " + strings.Join(p.cfg.RedirectURIs, ", ") + "."
	}
	return ""
}

// requestProblem checks everything but the client and redirect_uri and
// returns the vector of trust asked for, or an error_description.
func requestProblem(a authRequest) (vtr string, problem string) {
	for _, name := range authParams {
		if len(a.values[name]) > 1 {
			return "", name + " appears more than once"
		}
	}
	switch {
	case a.get("response_type") != "code":
		return "", "response_type must be code"
	case !slices.Contains(strings.Fields(a.get("scope")), "openid"):
		return "", "scope must include openid"
	case a.get("state") == "":
		return "", "state is required"
	case a.get("nonce") == "":
		return "", "nonce is required"
	case a.get("code_challenge") == "":
		return "", "code_challenge is required"
	case a.get("code_challenge_method") != "S256":
		return "", "code_challenge_method must be S256"
	case !isS256Challenge(a.get("code_challenge")):
		return "", "code_challenge must be a base64url SHA-256 digest (43 characters)"
	}
	raw := a.get("vtr")
	if raw == "" {
		return defaultVTR, ""
	}
	var vectors []string
	if err := json.Unmarshal([]byte(raw), &vectors); err != nil || len(vectors) != 1 ||
		(vectors[0] != vtrLow && vectors[0] != vtrMedium) {
		return "", `vtr must be ["Cl.Cm"] or ["Cl"]`
	}
	return vectors[0], ""
}

// isS256Challenge reports whether s looks like BASE64URL(SHA256(verifier)).
func isS256Challenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	for _, c := range s {
		if !isBase64URLChar(c) {
			return false
		}
	}
	return true
}

func isBase64URLChar(c rune) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// emailProblem checks the shape of the address typed into the form.
func emailProblem(email string) string {
	at := strings.LastIndexByte(email, '@')
	switch {
	case email == "":
		return "Enter an email address"
	case len(email) > 254:
		return "Email address must be 254 characters or fewer"
	case at <= 0 || at == len(email)-1:
		return "Enter an email address in the correct format, like name@example.com"
	case strings.ContainsFunc(email, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return "Email address must not contain spaces"
	}
	return ""
}

// authorizePage is the data of the sign-in form.
type authorizePage struct {
	Issuer        string
	ClientID      string
	RedirectURI   string
	VTR           string
	Fields        []hiddenField
	Email         string
	EmailVerified bool
	Error         string
}

// authorizeForm serves GET /authorize: the sign-in form.
func (p *Provider) authorizeForm(w http.ResponseWriter, r *http.Request) {
	a := authRequest{values: r.URL.Query()}
	if problem := p.clientProblem(a); problem != "" {
		p.renderError(w, http.StatusBadRequest, "Invalid authorization request", problem)
		return
	}
	vtr, problem := requestProblem(a)
	if problem != "" {
		redirectError(w, r, a, problem)
		return
	}
	p.render(w, http.StatusOK, "authorize", authorizePage{
		Issuer:        p.cfg.Issuer,
		ClientID:      a.get("client_id"),
		RedirectURI:   a.get("redirect_uri"),
		VTR:           vtr,
		Fields:        a.hiddenFields(),
		EmailVerified: true,
	})
}

// authorizeSubmit serves POST /authorize: the sign-in form's answer. It
// issues a one-time code and sends the browser back to the client.
func (p *Provider) authorizeSubmit(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.renderError(w, http.StatusBadRequest, "Invalid form", err.Error())
		return
	}
	form := r.PostForm
	a := authRequest{values: url.Values{}}
	for _, name := range authParams {
		if v, ok := form[name]; ok {
			a.values[name] = v
		}
	}
	if problem := p.clientProblem(a); problem != "" {
		p.renderError(w, http.StatusBadRequest, "Invalid authorization request", problem)
		return
	}
	vtr, problem := requestProblem(a)
	if problem != "" {
		redirectError(w, r, a, problem)
		return
	}
	email := strings.TrimSpace(form.Get("email"))
	verified := form.Get("email_verified") != ""
	if problem := emailProblem(email); problem != "" {
		p.render(w, http.StatusBadRequest, "authorize", authorizePage{
			Issuer:        p.cfg.Issuer,
			ClientID:      a.get("client_id"),
			RedirectURI:   a.get("redirect_uri"),
			VTR:           vtr,
			Fields:        a.hiddenFields(),
			Email:         email,
			EmailVerified: verified,
			Error:         problem,
		})
		return
	}

	sub := p.signIn(email)
	now := p.now()
	code := randomString(32)
	p.mu.Lock()
	p.sweepLocked(now)
	p.codes[code] = codeGrant{
		clientID:      a.get("client_id"),
		redirectURI:   a.get("redirect_uri"),
		nonce:         a.get("nonce"),
		codeChallenge: a.get("code_challenge"),
		vtr:           vtr,
		sub:           sub,
		email:         email,
		emailVerified: verified,
		authTime:      now,
		expires:       now.Add(codeTTL),
	}
	p.mu.Unlock()

	http.Redirect(w, r, withQuery(a.get("redirect_uri"), url.Values{
		"code":  {code},
		"state": {a.get("state")},
	}), http.StatusFound)
}

// redirectError sends an OAuth error back to a validated redirect_uri.
func redirectError(w http.ResponseWriter, r *http.Request, a authRequest, description string) {
	q := url.Values{"error": {"invalid_request"}, "error_description": {description}}
	if s := a.get("state"); s != "" {
		q.Set("state", s)
	}
	http.Redirect(w, r, withQuery(a.get("redirect_uri"), q), http.StatusFound)
}

// withQuery adds q to the query of the (already validated) URL raw,
// keeping any query it has.
func withQuery(raw string, q url.Values) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw // unreachable: every redirect target is checked in New
	}
	merged := u.Query()
	for k, vs := range q {
		merged[k] = vs
	}
	u.RawQuery = merged.Encode()
	return u.String()
}

func quote(s string) string {
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return `"` + s + `"`
}
