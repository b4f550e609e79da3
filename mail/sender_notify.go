package mail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

const (
	// notifyMaxResponse is the most of any Notify response that is read.
	notifyMaxResponse = 64 << 10
	// notifyTimeout bounds each request when NewNotifySender gets no client.
	notifyTimeout = 10 * time.Second
	// uuidLen is the length of a UUID in its canonical text form.
	uuidLen = 36
)

// NotifySender delivers messages through the GOV.UK Notify REST API, using
// one email template whose subject and body are the personalisation fields
// "subject" and "body". It is safe for concurrent use.
type NotifySender struct {
	baseURL    string // without a trailing slash
	serviceID  string
	secret     []byte // never logged, never put in an error
	templateID string
	client     *http.Client
}

// NewNotifySender returns a sender for the Notify API at baseURL (e.g.
// https://api.notifications.service.gov.uk). apiKey is Notify's
// "{key_name}-{service_id}-{secret_key}", where service_id and secret_key
// are UUIDs; an apiKey of any other shape is an error that does not repeat
// it. templateID is the UUID of the template to send. client makes the
// requests; nil means a client with a 10 s timeout.
func NewNotifySender(baseURL, apiKey, templateID string, client *http.Client) (*NotifySender, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("notify base URL %q is not an http(s) URL", baseURL)
	}
	serviceID, secret, err := parseNotifyAPIKey(apiKey)
	if err != nil {
		return nil, err
	}
	if _, err := uuid.Parse(templateID); err != nil {
		return nil, fmt.Errorf("notify template ID %q is not a UUID", templateID)
	}
	if client == nil {
		client = &http.Client{Timeout: notifyTimeout}
	}
	return &NotifySender{
		baseURL:    strings.TrimRight(baseURL, "/"),
		serviceID:  serviceID,
		secret:     []byte(secret),
		templateID: templateID,
		client:     client,
	}, nil
}

// parseNotifyAPIKey splits a Notify API key into its service ID and secret:
// the last two UUIDs of "{key_name}-{service_id}-{secret_key}". The key name
// may itself contain hyphens.
func parseNotifyAPIKey(key string) (serviceID, secret string, err error) {
	errShape := errors.New("notify API key is not of the form {key_name}-{service_id}-{secret_key}")
	n := len(key)
	// key_name (at least one character), '-', service_id, '-', secret_key.
	if n < 1+1+uuidLen+1+uuidLen || key[n-2*uuidLen-2] != '-' || key[n-uuidLen-1] != '-' {
		return "", "", errShape
	}
	serviceID, secret = key[n-2*uuidLen-1:n-uuidLen-1], key[n-uuidLen:]
	if uuid.Validate(serviceID) != nil || uuid.Validate(secret) != nil {
		return "", "", errShape
	}
	return serviceID, secret, nil
}

// notifyEmailRequest is the body of POST /v2/notifications/email.
type notifyEmailRequest struct {
	EmailAddress    string            `json:"email_address"`
	TemplateID      string            `json:"template_id"`
	Personalisation map[string]string `json:"personalisation"`
	Reference       string            `json:"reference"`
	// OneClickUnsubscribeURL is sent for emails about a list: Notify adds
	// the List-Unsubscribe headers (RFC 8058) with it.
	OneClickUnsubscribeURL string `json:"one_click_unsubscribe_url,omitempty"`
}

// notifyErrorResponse is the body of Notify's 4xx and 5xx replies.
type notifyErrorResponse struct {
	StatusCode int `json:"status_code"`
	Errors     []struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	} `json:"errors"`
}

// Send asks Notify to send m, with m.ID as the notification's reference, and
// returns Notify's notification id. A 400 reply (Notify's ValidationError or
// BadRequestError, e.g. an invalid address) is a *PermanentError carrying
// Notify's messages; any other failure, including 403 (a wrong API key: a
// configuration problem), 429 and 5xx, is an ordinary error worth retrying.
func (s *NotifySender) Send(ctx context.Context, m Message) (string, error) {
	body, err := json.Marshal(notifyEmailRequest{
		EmailAddress:    m.To,
		TemplateID:      s.templateID,
		Personalisation: map[string]string{"subject": m.Subject, "body": m.Body},
		Reference:       m.ID.String(),
		// Emails about a list only: Notify adds the List-Unsubscribe headers.
		OneClickUnsubscribeURL: m.ListUnsubscribeURL,
	})
	if err != nil {
		return "", fmt.Errorf("email %s: encode notify request: %w", m.ID, err)
	}
	status, resp, err := s.do(ctx, http.MethodPost, "/v2/notifications/email", body)
	if err != nil {
		return "", fmt.Errorf("email %s: %w", m.ID, err)
	}
	switch status {
	case http.StatusCreated:
		var created struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(resp, &created); err != nil {
			return "", fmt.Errorf("email %s: notify reply: %w", m.ID, err)
		}
		if created.ID == "" {
			return "", fmt.Errorf("email %s: notify reply has no notification id", m.ID)
		}
		return created.ID, nil
	case http.StatusBadRequest:
		return "", &PermanentError{Err: fmt.Errorf("email %s: %w", m.ID, notifyError(status, resp))}
	default:
		return "", fmt.Errorf("email %s: %w", m.ID, notifyError(status, resp))
	}
}

// Find reports whether Notify has a notification whose reference is id (as
// Send sets it), and if so returns that notification's id. Notify only lists
// notifications from the last 7 days.
func (s *NotifySender) Find(ctx context.Context, id uuid.UUID) (string, bool, error) {
	status, resp, err := s.do(ctx, http.MethodGet, "/v2/notifications?reference="+url.QueryEscape(id.String()), nil)
	if err != nil {
		return "", false, fmt.Errorf("find email %s: %w", id, err)
	}
	if status != http.StatusOK {
		return "", false, fmt.Errorf("find email %s: %w", id, notifyError(status, resp))
	}
	var list struct {
		Notifications []struct {
			ID        string `json:"id"`
			Reference string `json:"reference"`
		} `json:"notifications"`
	}
	if err := json.Unmarshal(resp, &list); err != nil {
		return "", false, fmt.Errorf("find email %s: notify reply: %w", id, err)
	}
	for _, n := range list.Notifications {
		if n.Reference == id.String() && n.ID != "" {
			return n.ID, true, nil
		}
	}
	return "", false, nil
}

// do sends one authenticated request to path (relative to the base URL)
// and returns the status and at most the first 64 KiB of the reply.
func (s *NotifySender) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	token, err := s.token(time.Now())
	if err != nil {
		return 0, nil, err
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.baseURL+path, r)
	if err != nil {
		return 0, nil, fmt.Errorf("notify request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("User-Agent", "email-alert")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("notify %s %s: %w", method, strings.SplitN(path, "?", 2)[0], err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, notifyMaxResponse))
	if err != nil {
		return 0, nil, fmt.Errorf("notify %s %s: read reply: %w", method, strings.SplitN(path, "?", 2)[0], err)
	}
	return resp.StatusCode, b, nil
}

// token returns the JWT Notify expects: HS256 over {"iss": service ID,
// "iat": now}, keyed with the API key's secret.
func (s *NotifySender) token(now time.Time) (string, error) {
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.HS256, Key: s.secret},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("notify token signer: %w", err)
	}
	token, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer:   s.serviceID,
		IssuedAt: jwt.NewNumericDate(now),
	}).Serialize()
	if err != nil {
		return "", fmt.Errorf("sign notify token: %w", err)
	}
	return token, nil
}

// notifyError describes a Notify error reply: its status and the messages of
// its "errors" list, or the start of the body when that is not Notify's JSON.
func notifyError(status int, body []byte) error {
	var e notifyErrorResponse
	if err := json.Unmarshal(body, &e); err == nil && len(e.Errors) > 0 {
		msgs := make([]string, 0, len(e.Errors))
		for _, item := range e.Errors {
			msgs = append(msgs, item.Error+": "+item.Message)
		}
		return fmt.Errorf("notify replied %d: %s", status, strings.Join(msgs, "; "))
	}
	const maxSnippet = 200
	snippet := strings.TrimSpace(string(body))
	if len(snippet) > maxSnippet {
		snippet = snippet[:maxSnippet] + "…"
	}
	if snippet == "" {
		return fmt.Errorf("notify replied %d", status)
	}
	return fmt.Errorf("notify replied %d: %q", status, snippet)
}
