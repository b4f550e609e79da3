package mailbox

import (
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"email-alert/internal/lib/textcheck"
	"email-alert/jsonapi"
	"email-alert/mail"
	"email-alert/subscribers"
)

// API serves the callback and bulk unsubscribe endpoints of the JSON API.
type API struct {
	s *Service
}

// NewAPI returns the handlers over s.
func NewAPI(s *Service) *API { return &API{s: s} }

// apiErrors answers the domain errors of the service.
var apiErrors = jsonapi.Errors{
	{Err: subscribers.ErrListNotFound, Status: http.StatusNotFound, Message: "Subscriber list not found"},
	{Err: ErrDuplicate, Status: http.StatusConflict, Message: "A bulk unsubscribe with this sender_message_id was already received"},
}

// MaxBodyLength is the longest message, in characters, a bulk unsubscribe
// emails.
const MaxBodyLength = 10000

// notifyTime reads one of Notify's timestamps (RFC 3339, "2026-01-02T10:35:00.000000Z").
func notifyTime(field string, v *string, problems jsonapi.Details) *time.Time {
	if v == nil {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, *v)
	if err != nil {
		problems[field] = append(problems[field], "must be an RFC 3339 time")
		return nil
	}
	return &t
}

// uuidField reads a UUID field that is present.
func uuidField(field string, v *string, problems jsonapi.Details) uuid.UUID {
	id, err := uuid.Parse(*v)
	if err != nil || id.String() != strings.ToLower(*v) {
		problems[field] = append(problems[field], jsonapi.NotUUID)
		return uuid.UUID{}
	}
	return id
}

// StatusUpdate handles POST /status-updates, Notify's delivery receipt:
// 204 once it is recorded (and, for a permanent failure, the address's
// subscriptions ended). A receipt about an email the outbox does not hold,
// or without a reference (an email this service did not send), is answered
// 204 too, recording nothing: Notify would otherwise retry it.
func (a *API) StatusUpdate(c *gin.Context) {
	var body struct {
		ID               *string `json:"id"`
		Reference        *string `json:"reference"`
		To               *string `json:"to"`
		Status           *string `json:"status"`
		CreatedAt        *string `json:"created_at"`
		CompletedAt      *string `json:"completed_at"`
		SentAt           *string `json:"sent_at"`
		NotificationType *string `json:"notification_type"`
		TemplateID       *string `json:"template_id"`
		TemplateVersion  *int    `json:"template_version"`
	}
	if !jsonapi.Decode(c, &body) || !jsonapi.Require(c, map[string]bool{"id": body.ID != nil, "status": body.Status != nil}) {
		return
	}
	problems := jsonapi.Details{}
	u := StatusUpdate{NotificationID: uuidField("id", body.ID, problems), Status: *body.Status}
	if body.Reference != nil {
		u.Reference = uuidField("reference", body.Reference, problems)
	}
	if !slices.Contains(mail.DeliveryStatuses, u.Status) {
		problems["status"] = []string{"must be one of " + strings.Join(mail.DeliveryStatuses, ", ")}
	}
	if body.To != nil {
		if _, ok := subscribers.NormalizeAddress(*body.To); !ok {
			problems["to"] = []string{subscribers.InvalidAddress}
		}
	}
	if body.TemplateID != nil {
		uuidField("template_id", body.TemplateID, problems)
	}
	notifyTime("created_at", body.CreatedAt, problems)
	notifyTime("sent_at", body.SentAt, problems)
	completed := notifyTime("completed_at", body.CompletedAt, problems)
	if len(problems) > 0 {
		jsonapi.Abort(c, http.StatusUnprocessableEntity, "Status update is not valid", problems)
		return
	}
	if body.Reference == nil {
		// Sent without a reference, so not by this service (Notify's own
		// pages send so): nothing of ours to record, and nothing to retry.
		c.Status(http.StatusNoContent)
		return
	}
	u.At = time.Now()
	if completed != nil {
		u.At = *completed
	}
	if _, err := a.s.RecordStatus(c.Request.Context(), u); err != nil {
		jsonapi.Fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// SpamReport handles POST /spam-reports: 204 once every active
// subscription of the address is ended, or when no subscriber holds it
// (the answer does not say which).
func (a *API) SpamReport(c *gin.Context) {
	var body struct {
		To        *string `json:"to"`
		Reference *string `json:"reference"`
	}
	if !jsonapi.Decode(c, &body) || !jsonapi.Require(c, map[string]bool{"to": body.To != nil}) {
		return
	}
	problems := jsonapi.Details{}
	r := SpamReport{To: *body.To}
	if _, ok := subscribers.NormalizeAddress(r.To); !ok {
		problems["to"] = []string{subscribers.InvalidAddress}
	}
	if body.Reference != nil {
		ref := uuidField("reference", body.Reference, problems)
		r.Reference = &ref
	}
	if len(problems) > 0 {
		jsonapi.Abort(c, http.StatusUnprocessableEntity, "Spam report is not valid", problems)
		return
	}
	if _, err := a.s.ReportSpam(c.Request.Context(), r); err != nil {
		jsonapi.Fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// BulkUnsubscribe handles POST /subscriber-lists/:slug/bulk-unsubscribe:
// 202 once the job is stored.
func (a *API) BulkUnsubscribe(c *gin.Context) {
	var body struct {
		Body            *string `json:"body"`
		SenderMessageID *string `json:"sender_message_id"`
	}
	if !jsonapi.Decode(c, &body) {
		return
	}
	r := BulkUnsubscribe{Slug: c.Param("slug"), Body: body.Body, Client: jsonapi.Client(c)}
	problems := jsonapi.Details{}
	if body.Body != nil {
		switch err := textcheck.Text(*body.Body); {
		case strings.TrimSpace(*body.Body) == "":
			problems["body"] = []string{"must not be empty"}
		case err != nil:
			problems["body"] = []string{err.Error()}
		case utf8.RuneCountInString(*body.Body) > MaxBodyLength:
			problems["body"] = []string{textcheck.TooLong(MaxBodyLength)}
		}
		if body.SenderMessageID == nil {
			// The design's rule: a message needs its id, so a repeat can be told.
			problems["sender_message_id"] = []string{"is required when body is given"}
		}
	}
	if body.SenderMessageID != nil {
		id := uuidField("sender_message_id", body.SenderMessageID, problems)
		r.SenderMessageID = &id
	}
	if len(problems) > 0 {
		jsonapi.Abort(c, http.StatusUnprocessableEntity, "Bulk unsubscribe is not valid", problems)
		return
	}
	if _, err := a.s.RequestBulkUnsubscribe(c.Request.Context(), r); err != nil {
		apiErrors.Fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"message": "Bulk unsubscribe queued"})
}
