package events

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"email-alert/internal/lib/outage"
	"email-alert/jsonapi"
	"email-alert/subscribers"
)

// API serves the two ways events come in: RFC 8935 push of SETs, and the
// account-api calls One Login makes.
type API struct {
	inbox    *Inbox
	verifier *Verifier
}

// NewAPI returns the intake handlers. Both are behind the
// ACCOUNT_EVENTS_TOKEN bearer check in the router.
func NewAPI(inbox *Inbox, verifier *Verifier) *API {
	return &API{inbox: inbox, verifier: verifier}
}

// setError answers with an RFC 8935 error body.
func setError(c *gin.Context, status int, code, description string) {
	c.AbortWithStatusJSON(status, gin.H{"err": code, "description": description})
}

// PushSET handles POST /account-events: 202 once the event is stored (also
// for a jti seen before), 400 with an RFC 8935 error otherwise.
func (a *API) PushSET(c *gin.Context) {
	if mediaType, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type")); mediaType != "application/secevent+jwt" {
		setError(c, http.StatusUnsupportedMediaType, "invalid_request", "Content-Type must be application/secevent+jwt")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, jsonapi.MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		setError(c, http.StatusRequestEntityTooLarge, "invalid_request", "the SET is larger than 1 MiB")
		return
	case err != nil:
		setError(c, http.StatusBadRequest, "invalid_request", "the body could not be read")
		return
	}
	event, refused := a.verifier.Verify(c.Request.Context(), string(body))
	if refused != nil {
		slog.WarnContext(c.Request.Context(), "security event token refused", "code", refused.Code, "reason", refused.Description)
		setError(c, http.StatusBadRequest, refused.Code, refused.Description)
		return
	}
	_, err = a.inbox.Record(c.Request.Context(), event)
	if errors.Is(err, ErrIDReused) {
		// RFC 8935: a jti seen before is acknowledged; the first SET with
		// it is the event.
		slog.WarnContext(c.Request.Context(), "security event token repeats a jti with other claims", "jti", event.ID)
		err = nil
	}
	if err != nil {
		slog.ErrorContext(c.Request.Context(), "storing an event", "error", err)
		c.Header("Retry-After", outage.RetryAfter)
		c.AbortWithStatus(http.StatusServiceUnavailable) // not stored: the sender retries
		return
	}
	c.Status(http.StatusAccepted)
}

// PutOIDCUser handles PUT /api/oidc-users/:sub {email, email_verified}:
// the account's email changed. The change happened when we received it.
func (a *API) PutOIDCUser(c *gin.Context) {
	sub, ok := subjectParam(c)
	if !ok {
		return
	}
	var body struct {
		Email         *string `json:"email"`
		EmailVerified *bool   `json:"email_verified"`
	}
	if !jsonapi.Decode(c, &body) ||
		!jsonapi.Require(c, map[string]bool{"email": body.Email != nil, "email_verified": body.EmailVerified != nil}) {
		return
	}
	if _, valid := subscribers.NormalizeAddress(*body.Email); !valid {
		jsonapi.Abort(c, http.StatusUnprocessableEntity, "Request is not valid",
			jsonapi.Details{"email": {"is not a valid email address"}})
		return
	}
	payload, _ := json.Marshal(EmailChange{Email: *body.Email, EmailVerified: *body.EmailVerified})
	if !a.record(c, Event{Kind: KindEmailChanged, EventType: "oidc-users:put", Sub: sub, Payload: payload}) {
		return
	}
	c.JSON(http.StatusOK, gin.H{"sub": sub, "email": *body.Email, "email_verified": *body.EmailVerified})
}

// DeleteOIDCUser handles DELETE /api/oidc-users/:sub: the account is gone.
func (a *API) DeleteOIDCUser(c *gin.Context) {
	sub, ok := subjectParam(c)
	if !ok {
		return
	}
	if !a.record(c, Event{Kind: KindDeleted, EventType: "oidc-users:delete", Sub: sub, Payload: []byte(`{}`)}) {
		return
	}
	c.Status(http.StatusNoContent)
}

// record stores an account-api call as an event. Its id comes from the
// Idempotency-Key header when there is one, so a repeated call is the same
// event, and a key repeated with another body (another payload) is a 422
// that stores nothing; its time is now.
func (a *API) record(c *gin.Context, e Event) bool {
	e.ID = "call:" + uuid.NewString()
	if key := c.GetHeader("Idempotency-Key"); key != "" {
		if len(key) > 255 || !printable(key) {
			jsonapi.Abort(c, http.StatusBadRequest, "Idempotency-Key must be at most 255 printable characters", nil)
			return false
		}
		sum := sha256.Sum256([]byte(e.EventType + "\x00" + e.Sub + "\x00" + key))
		e.ID = "idempotency:" + hex.EncodeToString(sum[:])
	}
	e.OccurredAt = time.Now()
	_, err := a.inbox.Record(c.Request.Context(), e)
	if err != nil {
		if !recordErrors.Answer(c, err) {
			// Not stored: One Login calls again.
			slog.ErrorContext(c.Request.Context(), "storing an event", "error", err)
			jsonapi.Unavailable(c, "The event could not be stored; try again")
		}
		return false
	}
	return true
}

// recordErrors answers the errors of Record for an account-api call.
var recordErrors = jsonapi.Errors{
	{Err: ErrIDReused, Status: http.StatusUnprocessableEntity, Message: "Idempotency-Key was already used with a different body"},
}

func subjectParam(c *gin.Context) (string, bool) {
	sub := c.Param("sub")
	if sub == "" || len(sub) > 255 || !printable(sub) {
		jsonapi.Abort(c, http.StatusNotFound, "Not found", nil)
		return "", false
	}
	return sub, true
}

// printable reports whether s is valid UTF-8 of printable characters
// other than space.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || r == ' ' {
			return false
		}
	}
	return true
}
