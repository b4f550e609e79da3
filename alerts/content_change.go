package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/lib/pq"

	"email-alert/internal/lib/textcheck"
	"email-alert/jsonapi"
	"email-alert/subscribers"
)

// Values are a content change's tags or links: a key to its values.
type Values map[string][]string

// ContentChange is a change to a GOV.UK page, as publishing apps report it.
type ContentChange struct {
	ID                          uuid.UUID `db:"id"`
	ContentID                   uuid.UUID `db:"content_id"`
	Title                       string    `db:"title"`
	BasePath                    string    `db:"base_path"`
	ChangeNote                  string    `db:"change_note"`
	Description                 string    `db:"description"`
	PublicUpdatedAt             time.Time `db:"public_updated_at"`
	DocumentType                string    `db:"document_type"`
	EmailDocumentSupertype      string    `db:"email_document_supertype"`
	GovernmentDocumentSupertype string    `db:"government_document_supertype"`
	PublishingApp               string    `db:"publishing_app"`
	Tags                        Values    `db:"-"`
	Links                       Values    `db:"-"`
	Priority                    string    `db:"priority"`
	Footnote                    string    `db:"footnote"`
}

// Limits of a content change's fields.
const (
	maxTextLength      = 1000
	maxNoteLength      = 10000
	maxPathLength      = 2000
	maxValuesPerChange = 2000
)

// ContentChangeRequest is the body of POST /content-changes.
type ContentChangeRequest struct {
	ContentID                   *string         `json:"content_id"`
	Title                       *string         `json:"title"`
	BasePath                    *string         `json:"base_path"`
	ChangeNote                  *string         `json:"change_note"`
	Description                 *string         `json:"description"`
	PublicUpdatedAt             *string         `json:"public_updated_at"`
	DocumentType                *string         `json:"document_type"`
	EmailDocumentSupertype      *string         `json:"email_document_supertype"`
	GovernmentDocumentSupertype *string         `json:"government_document_supertype"`
	PublishingApp               *string         `json:"publishing_app"`
	Tags                        json.RawMessage `json:"tags"`
	Links                       json.RawMessage `json:"links"`
	Priority                    *string         `json:"priority"`
	Footnote                    *string         `json:"footnote"`
}

// Parse returns the content change r describes. missing lists the required
// fields that are absent (a 400); invalid, what is wrong with the others
// (a 422).
func (r ContentChangeRequest) Parse() (cc ContentChange, missing, invalid map[string][]string) {
	missing, invalid = map[string][]string{}, map[string][]string{}
	required := map[string]*string{
		"content_id": r.ContentID, "title": r.Title, "base_path": r.BasePath, "change_note": r.ChangeNote,
		"public_updated_at": r.PublicUpdatedAt, "document_type": r.DocumentType,
		"email_document_supertype":      r.EmailDocumentSupertype,
		"government_document_supertype": r.GovernmentDocumentSupertype, "publishing_app": r.PublishingApp,
	}
	for field, v := range required {
		if v == nil {
			missing[field] = append(missing[field], jsonapi.IsRequired)
		}
	}
	if len(missing) > 0 {
		return ContentChange{}, missing, nil
	}
	bad := func(field, problem string) { invalid[field] = append(invalid[field], problem) }

	id, err := uuid.Parse(*r.ContentID)
	if err != nil || id.String() != strings.ToLower(*r.ContentID) {
		bad("content_id", jsonapi.NotUUID)
	}
	cc.ContentID = id
	cc.PublicUpdatedAt, err = time.Parse(time.RFC3339, *r.PublicUpdatedAt)
	if err != nil {
		bad("public_updated_at", "must be an RFC 3339 time")
	}
	cc.BasePath = *r.BasePath
	if !rootRelativePath(cc.BasePath) {
		bad("base_path", badPath)
	}
	for field, t := range map[string]struct {
		value          *string
		dst            *string
		max            int
		multiline, req bool
	}{
		"title":                         {r.Title, &cc.Title, maxTextLength, false, true},
		"change_note":                   {r.ChangeNote, &cc.ChangeNote, maxNoteLength, true, false},
		"description":                   {r.Description, &cc.Description, maxNoteLength, true, false},
		"document_type":                 {r.DocumentType, &cc.DocumentType, maxTextLength, false, true},
		"email_document_supertype":      {r.EmailDocumentSupertype, &cc.EmailDocumentSupertype, maxTextLength, false, false},
		"government_document_supertype": {r.GovernmentDocumentSupertype, &cc.GovernmentDocumentSupertype, maxTextLength, false, false},
		"publishing_app":                {r.PublishingApp, &cc.PublishingApp, maxTextLength, false, true},
		"footnote":                      {r.Footnote, &cc.Footnote, maxNoteLength, true, false},
	} {
		if t.value == nil {
			continue
		}
		v := *t.value
		if !t.multiline {
			v = strings.TrimSpace(v)
		}
		switch {
		case t.req && v == "":
			bad(field, "can't be blank")
		case utf8.RuneCountInString(v) > t.max:
			bad(field, textcheck.TooLong(t.max))
		case !subscribers.CleanText(v, t.multiline):
			bad(field, textcheck.ErrControl.Error())
		}
		*t.dst = v
	}
	cc.Priority = "normal"
	if r.Priority != nil {
		cc.Priority = *r.Priority
		if cc.Priority != "normal" && cc.Priority != "high" {
			bad("priority", `must be "normal" or "high"`)
		}
	}
	var problem string
	if cc.Tags, problem = parseValues(r.Tags); problem != "" {
		bad("tags", problem)
	}
	if cc.Links, problem = parseValues(r.Links); problem != "" {
		bad("links", problem)
	}
	if len(invalid) > 0 {
		return ContentChange{}, nil, invalid
	}
	return cc, nil, nil
}

// badPath is the problem of a base_path or path rootRelativePath refuses.
const badPath = "must be a path on GOV.UK starting with /, without spaces"

// rootRelativePath reports whether p is a path on this site, by
// textcheck.Path's rules (one leading slash, no whitespace or control
// character), with no query or fragment and no backslash.
func rootRelativePath(p string) bool {
	return len(p) <= maxPathLength && textcheck.Path(p) == nil && !strings.ContainsAny(p, "\\?#")
}

// parseValues reads tags or links: an object from a key to an array of
// strings. Values come back sorted and unique.
func parseValues(raw json.RawMessage) (Values, string) {
	if len(raw) == 0 || string(raw) == "null" {
		return Values{}, ""
	}
	var v Values
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, "must be an object from a key to an array of strings"
	}
	total := 0
	for key, values := range v {
		if key == "" || utf8.RuneCountInString(key) > maxTextLength || !subscribers.CleanText(key, false) {
			return nil, "has a key that is not text"
		}
		for _, value := range values {
			if value == "" || utf8.RuneCountInString(value) > maxTextLength || !subscribers.CleanText(value, false) {
				return nil, fmt.Sprintf("%s has a value that is not text", key)
			}
		}
		total += len(values)
		values = slices.Clone(values)
		sort.Strings(values)
		v[key] = slices.Compact(values)
	}
	if total > maxValuesPerChange {
		return nil, fmt.Sprintf("has more than %d values", maxValuesPerChange)
	}
	return v, ""
}

// MatchKeys are the keys a list must share with cc to be able to match it
// (subscribers.Criteria.MatchKeys).
func (cc ContentChange) MatchKeys() []string {
	var keys []string
	for field, values := range map[string]Values{"tags": cc.Tags, "links": cc.Links} {
		for key, vs := range values {
			for _, v := range vs {
				keys = append(keys, subscribers.MatchKey(field, key, v))
			}
		}
	}
	for field, v := range map[string]string{
		"document_type": cc.DocumentType, "email_document_supertype": cc.EmailDocumentSupertype,
		"government_document_supertype": cc.GovernmentDocumentSupertype,
	} {
		if v != "" {
			keys = append(keys, subscribers.MatchKey(field, "", v))
		}
	}
	return append(keys, subscribers.MatchKey("content_id", "", cc.ContentID.String()))
}

// Receive stores cc with its job and enqueues the job. Once it returns nil
// the change is durable: the job row is the truth, and the sweep enqueues
// it again if the enqueue here fails or Redis loses it. The same
// (base_path, content_id, public_updated_at) again is ErrDuplicate.
func (s *Service) Receive(ctx context.Context, cc ContentChange) (uuid.UUID, error) {
	tags, _ := json.Marshal(cc.Tags) // cannot fail
	links, _ := json.Marshal(cc.Links)
	var id uuid.UUID
	err := s.db.GetContext(ctx, &id, `
		INSERT INTO content_changes (content_id, title, base_path, change_note, description, public_updated_at,
			document_type, email_document_supertype, government_document_supertype, publishing_app,
			tags, links, priority, footnote)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		RETURNING id`, cc.ContentID, cc.Title, cc.BasePath, cc.ChangeNote, cc.Description, cc.PublicUpdatedAt,
		cc.DocumentType, cc.EmailDocumentSupertype, cc.GovernmentDocumentSupertype, cc.PublishingApp,
		string(tags), string(links), cc.Priority, cc.Footnote)
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "23505" && pqErr.Constraint == "content_changes_key" {
		return uuid.UUID{}, ErrDuplicate
	}
	if err != nil {
		return uuid.UUID{}, fmt.Errorf("store content change: %w", err)
	}
	if s.observe.ContentChangeReceived != nil {
		s.observe.ContentChangeReceived(cc.Priority)
	}
	if err := s.enqueue(ctx, s.fanOutTask(id, cc.Priority)); err != nil {
		logEnqueueFailure(ctx, id.String(), err)
	}
	return id, nil
}

type fanOutPayload struct {
	ContentChangeID uuid.UUID `json:"content_change_id"`
}

// fanOutTask is the job of content change id: matching, then its
// immediate emails. TaskID is the content change id.
func (s *Service) fanOutTask(id uuid.UUID, priority string) *asynq.Task {
	queue := s.cfg.Queues.Normal
	if priority == "high" {
		queue = s.cfg.Queues.High
	}
	payload, _ := json.Marshal(fanOutPayload{ContentChangeID: id}) // cannot fail
	return asynq.NewTask(TypeFanOut, payload, asynq.TaskID("content-change:"+id.String()),
		asynq.Queue(queue), asynq.MaxRetry(25), asynq.Timeout(30*time.Minute))
}
