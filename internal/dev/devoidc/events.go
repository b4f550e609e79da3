package devoidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

// Event types of the OpenID RISC profile that the account service sends.
const (
	// EventAccountPurged: the account was deleted. Its payload is {}.
	EventAccountPurged = "https://schemas.openid.net/secevent/risc/event-type/account-purged"
	// EventIdentifierChanged: the account's email address changed. Its
	// payload is {"new-value": the new address, "email_verified": bool}.
	EventIdentifierChanged = "https://schemas.openid.net/secevent/risc/event-type/identifier-changed"
)

const (
	// eventAnswerLimit is how much of the receiver's answer PushEvent keeps.
	eventAnswerLimit = 4 << 10
	// pushTimeout bounds a push from the home page's buttons, whatever the
	// configured client's timeout.
	pushTimeout = 10 * time.Second
)

// subjectID is an RFC 9493 subject identifier in the "iss_sub" format.
type subjectID struct {
	Format  string `json:"format"`
	Issuer  string `json:"iss"`
	Subject string `json:"sub"`
}

// setClaims are the claims of a Security Event Token (RFC 8417 section
// 2.2): one event about the subject in sub_id, which happened at toe.
type setClaims struct {
	Issuer      string                    `json:"iss"`
	Audience    string                    `json:"aud"`
	IssuedAt    int64                     `json:"iat"`
	ID          string                    `json:"jti"`
	TimeOfEvent int64                     `json:"toe"`
	SubjectID   subjectID                 `json:"sub_id"`
	Events      map[string]map[string]any `json:"events"`
}

// SecurityEventToken returns a signed Security Event Token (RFC 8417)
// saying that event happened to the account sub at toe (a zero toe means
// now). It is signed ES256 with the ID token key (same kid, published in the
// JWKS), header typ "secevent+jwt", with the claims iss (the issuer), aud
// (Config.EventsAudience, a string), iat (now), jti (a random UUID), toe
// (Unix seconds), sub_id {"format": "iss_sub", "iss": issuer, "sub": sub}
// and events {event: payload} (payload {} when nil).
func (p *Provider) SecurityEventToken(sub string, event string, payload map[string]any, toe time.Time) (string, error) {
	tok, _, err := p.securityEventToken(sub, event, payload, toe)
	return tok, err
}

func (p *Provider) securityEventToken(sub, event string, payload map[string]any, toe time.Time) (string, setClaims, error) {
	switch {
	case sub == "":
		return "", setClaims{}, errors.New("devoidc: security event token: empty sub")
	case event == "":
		return "", setClaims{}, errors.New("devoidc: security event token: empty event type")
	case p.cfg.EventsAudience == "":
		return "", setClaims{}, errors.New("devoidc: security event token: Config.EventsAudience is empty")
	}
	now := p.now()
	if toe.IsZero() {
		toe = now
	}
	if payload == nil {
		payload = map[string]any{}
	}
	c := setClaims{
		Issuer:      p.cfg.Issuer,
		Audience:    p.cfg.EventsAudience,
		IssuedAt:    now.Unix(),
		ID:          uuid.NewString(),
		TimeOfEvent: toe.Unix(),
		SubjectID:   subjectID{Format: "iss_sub", Issuer: p.cfg.Issuer, Subject: sub},
		Events:      map[string]map[string]any{event: payload},
	}
	tok, err := jwt.Signed(p.secevent).Claims(c).Serialize()
	if err != nil {
		return "", setClaims{}, fmt.Errorf("devoidc: sign security event token: %w", err)
	}
	return tok, c, nil
}

// PushEvent delivers set to Config.EventsURL by RFC 8935 push: a POST with
// Content-Type application/secevent+jwt, Accept application/json and
// Authorization "Bearer " + Config.EventsToken. It does not follow
// redirects. It returns the receiver's status code (202 is success) and
// up to 4 KiB of its body; err is set only when no answer came.
func (p *Provider) PushEvent(ctx context.Context, set string) (status int, body string, err error) {
	if p.cfg.EventsURL == "" {
		return 0, "", errors.New("devoidc: push event: Config.EventsURL is empty")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cfg.EventsURL, strings.NewReader(set))
	if err != nil {
		return 0, "", fmt.Errorf("devoidc: push event: build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/secevent+jwt")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "dev-oidc")
	if p.cfg.EventsToken != "" {
		req.Header.Set("Authorization", "Bearer "+p.cfg.EventsToken)
	}
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("devoidc: push event: %w", err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, readStart(resp.Body, eventAnswerLimit), nil
}

// readStart returns up to limit bytes of r as text, without a rune the
// limit split. A read error ends the text early.
func readStart(r io.Reader, limit int64) string {
	b, _ := io.ReadAll(io.LimitReader(r, limit))
	for !utf8.Valid(b) && len(b) > 0 {
		b = b[:len(b)-1]
	}
	return string(b)
}

// eventPage is the data of the page reporting a pushed account event.
type eventPage struct {
	basePage
	Title         string
	Sub           string
	OldEmail      string
	NewEmail      string // "" for a deletion
	EmailVerified bool
	EventType     string
	JTI           string
	Claims        string // the SET's claims, indented JSON
	Token         string // the SET as sent
	URL           string
	Status        string // the receiver's status line, "202 Accepted"
	Body          string // the start of the receiver's answer
	Accepted      bool   // the receiver answered 202
	Error         string // the SET was not delivered
}

// eventsOff answers 404 when no events URL is configured.
func (p *Provider) eventsOff(w http.ResponseWriter) bool {
	if p.cfg.EventsURL != "" {
		return false
	}
	p.renderError(w, http.StatusNotFound, "Account events are off", "No account events URL is configured.")
	return true
}

// changeEmailButton serves POST /account-email: it moves the form's
// account to new_email and pushes an identifier-changed event.
func (p *Provider) changeEmailButton(w http.ResponseWriter, r *http.Request) {
	if p.eventsOff(w) {
		return
	}
	if err := r.ParseForm(); err != nil {
		p.renderError(w, http.StatusBadRequest, "Invalid form", err.Error())
		return
	}
	sub := strings.TrimSpace(r.PostForm.Get("sub"))
	newEmail := strings.TrimSpace(r.PostForm.Get("new_email"))
	verified := r.PostForm.Get("email_verified") != ""
	if problem := emailProblem(newEmail); problem != "" {
		p.renderError(w, http.StatusBadRequest, "Invalid new email address", problem+".")
		return
	}
	oldEmail, problem := p.changeEmail(sub, newEmail)
	if problem != "" {
		p.renderError(w, http.StatusBadRequest, "Cannot change this account's email", problem)
		return
	}
	p.pushEvent(w, r, eventPage{
		Title:         "Account email changed",
		Sub:           sub,
		OldEmail:      oldEmail,
		NewEmail:      newEmail,
		EmailVerified: verified,
		EventType:     EventIdentifierChanged,
	}, map[string]any{"new-value": newEmail, "email_verified": verified})
}

// deleteAccountButton serves POST /account-delete: it deletes the form's
// account and pushes an account-purged event.
func (p *Provider) deleteAccountButton(w http.ResponseWriter, r *http.Request) {
	if p.eventsOff(w) {
		return
	}
	if err := r.ParseForm(); err != nil {
		p.renderError(w, http.StatusBadRequest, "Invalid form", err.Error())
		return
	}
	sub := strings.TrimSpace(r.PostForm.Get("sub"))
	email, problem := p.deleteAccount(sub)
	if problem != "" {
		p.renderError(w, http.StatusBadRequest, "Cannot delete this account", problem)
		return
	}
	p.pushEvent(w, r, eventPage{
		Title:     "Account deleted",
		Sub:       sub,
		OldEmail:  email,
		EventType: EventAccountPurged,
	}, nil)
}

// pushEvent signs a SET for page's account and event, happening now,
// pushes it and shows what the service answered. The account has already
// changed here, as at a real account service: delivery is separate.
func (p *Provider) pushEvent(w http.ResponseWriter, r *http.Request, page eventPage, payload map[string]any) {
	tok, claims, err := p.securityEventToken(page.Sub, page.EventType, payload, p.now())
	if err != nil {
		p.renderError(w, http.StatusInternalServerError, "Cannot sign the event", err.Error())
		return
	}
	pretty, err := json.MarshalIndent(claims, "", "  ")
	if err != nil {
		p.renderError(w, http.StatusInternalServerError, "Cannot show the event", err.Error())
		return
	}
	page.basePage = p.basePage()
	page.JTI, page.Claims, page.Token, page.URL = claims.ID, string(pretty), tok, p.cfg.EventsURL

	// The account has changed whether or not the browser waits for the
	// answer, so the push does not end with the request.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), pushTimeout)
	defer cancel()
	status, body, err := p.PushEvent(ctx, tok)
	code := http.StatusOK
	if err != nil {
		page.Error = err.Error()
		code = http.StatusBadGateway
		slog.Warn("dev-oidc: account event not delivered", "event", page.EventType, "sub", page.Sub, "jti", page.JTI, "error", err)
	} else {
		page.Status = fmt.Sprintf("%d %s", status, http.StatusText(status))
		page.Body = body
		page.Accepted = status == http.StatusAccepted
		if !page.Accepted {
			code = http.StatusBadGateway
		}
		slog.Info("dev-oidc: account event pushed", "event", page.EventType, "sub", page.Sub, "jti", page.JTI, "status", status)
	}
	p.render(w, code, "event", page)
}
