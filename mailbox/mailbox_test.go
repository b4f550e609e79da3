package mailbox_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"email-alert/internal/config"
	"email-alert/internal/testkit/testrig"
	"email-alert/jsonapi"
	"email-alert/subscribers"
	"email-alert/subscribers/subscriberstest"
)

func TestMain(m *testing.M) { testrig.Main(m) }

// rig is an API app with the fixture's list (ann's daily subscription), a
// second subscription of ann's to "Alpha", and bob on "Tax news".
type rig struct {
	*testrig.API
	app   *testrig.App
	db    *sqlx.DB
	store *subscribers.Store
}

func newRig(t *testing.T) *rig {
	t.Helper()
	a := testrig.NewAPIApp(t)
	f := testrig.NewAPIOn(t, a.APIRouter())
	r := &rig{API: f, app: a, db: a.DB(), store: subscribers.NewStore(a.DB(), nil)}
	var alpha int64
	if err := r.db.Get(&alpha, `SELECT id FROM subscriber_lists WHERE title = 'Alpha'`); err != nil {
		t.Fatal(err)
	}
	f.MustDo(t, "POST", "/subscriptions", fmt.Sprintf(`{"address":"ann@example.com","subscriber_list_id":%d,"frequency":"weekly"}`, alpha), nil)
	f.MustDo(t, "POST", "/subscriptions", `{"address":"bob@example.com","subscriber_list_id":{list},"frequency":"immediately"}`, nil)
	return r
}

// callback posts body to path with Notify's token.
func (r *rig) callback(path, body string) *http.Response {
	w := r.Do("POST", path, body, http.Header{"Authorization": {"Bearer " + config.DevNotifyCallbackToken}})
	return w.Result()
}

// active counts the active subscriptions of address.
func (r *rig) active(t *testing.T, address string) int {
	t.Helper()
	var n int
	err := r.db.Get(&n, `SELECT count(*) FROM subscriptions s JOIN subscribers p ON p.id = s.subscriber_id
		WHERE p.address = $1 AND s.ended_at IS NULL`, address)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// emailTo is the id of the latest email to address: the reference Notify
// sends back.
func (r *rig) emailTo(t *testing.T, address string) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	if err := r.db.Get(&id, `SELECT id FROM emails WHERE address = $1 ORDER BY created_at DESC LIMIT 1`, address); err != nil {
		t.Fatal(err)
	}
	return id
}

func (r *rig) subscriberID(t *testing.T, address string) int64 {
	t.Helper()
	var id int64
	if err := r.db.Get(&id, `SELECT id FROM subscribers WHERE address = $1`, address); err != nil {
		t.Fatal(err)
	}
	return id
}

// endings are the audit entries of subscriptions ended, by cause.
func (r *rig) endings(t *testing.T, address string) []subscriberstest.Audited {
	t.Helper()
	var got []subscriberstest.Audited
	for _, e := range subscriberstest.Audit(t, r.store, r.subscriberID(t, address)) {
		if e.Action == subscribers.AuditSubscriptionsEnded {
			got = append(got, e)
		}
	}
	return got
}

func statusBody(id, reference uuid.UUID, status string) string {
	return fmt.Sprintf(`{"id":%q,"reference":%q,"to":"ann@example.com","status":%q,
		"created_at":"2026-01-02T10:00:00.000000Z","completed_at":"2026-01-02T10:00:05.000000Z",
		"sent_at":"2026-01-02T10:00:01.000000Z","notification_type":"email",
		"template_id":"f33517ff-2a88-4f6e-b855-c550268ce08a","template_version":1}`, id, reference, status)
}

func TestStatusUpdateRecordsEachStatus(t *testing.T) {
	for _, tc := range []struct {
		status     string
		wantActive int // ann's active subscriptions after it (she has 2)
	}{
		{"delivered", 2},
		{"temporary-failure", 2},
		{"technical-failure", 2},
		{"permanent-failure", 0},
	} {
		t.Run(tc.status, func(t *testing.T) {
			r := newRig(t)
			ref, notification := r.emailTo(t, "ann@example.com"), uuid.New()
			for range 2 { // Notify retries: the second changes nothing
				if resp := r.callback("/status-updates", statusBody(notification, ref, tc.status)); resp.StatusCode != http.StatusNoContent {
					t.Fatalf("status update: %d", resp.StatusCode)
				}
			}
			var got struct {
				Status string `db:"delivery_status"`
				At     string `db:"at"`
			}
			err := r.db.Get(&got, `SELECT delivery_status, to_char(delivery_status_at AT TIME ZONE 'UTC', 'HH24:MI:SS') AS at
				FROM emails WHERE id = $1`, ref)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.status || got.At != "10:00:05" {
				t.Errorf("email recorded %+v, want %s at completed_at 10:00:05", got, tc.status)
			}
			if n := r.active(t, "ann@example.com"); n != tc.wantActive {
				t.Errorf("ann has %d active subscriptions, want %d", n, tc.wantActive)
			}
			if n := r.active(t, "bob@example.com"); n != 1 {
				t.Errorf("bob has %d active subscriptions, want 1: only the address that bounced is ended", n)
			}
			var want []subscriberstest.Audited
			if tc.status == "permanent-failure" {
				want = []subscriberstest.Audited{{
					Action:  subscribers.AuditSubscriptionsEnded,
					Cause:   subscribers.Cause{Kind: subscribers.CauseCallback, ID: "status-update:" + notification.String()},
					Details: map[string]any{"reason": subscribers.EndedNonExistentEmail, "count": float64(2)},
				}}
			}
			if diff := cmp.Diff(want, r.endings(t, "ann@example.com")); diff != "" {
				t.Errorf("ann's audit trail of endings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatusUpdateRefusals(t *testing.T) {
	r := newRig(t)
	ref := r.emailTo(t, "ann@example.com")
	for _, tc := range []struct {
		name string
		body string
		want int
	}{
		{"unknown status", statusBody(uuid.New(), ref, "bounced"), http.StatusUnprocessableEntity},
		{"interim status", statusBody(uuid.New(), ref, "sending"), http.StatusUnprocessableEntity},
		{"reference not a UUID", strings.Replace(statusBody(uuid.New(), ref, "delivered"), ref.String(), "abc", 1), http.StatusUnprocessableEntity},
		{"bad completed_at", strings.Replace(statusBody(uuid.New(), ref, "delivered"), "2026-01-02T10:00:05.000000Z", "yesterday", 1), http.StatusUnprocessableEntity},
		{"no status", fmt.Sprintf(`{"id":%q,"reference":%q}`, uuid.New(), ref), http.StatusBadRequest},
		{"no id", fmt.Sprintf(`{"reference":%q,"status":"delivered"}`, ref), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp := r.callback("/status-updates", tc.body); resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	var recorded int
	if err := r.db.Get(&recorded, `SELECT count(*) FROM emails WHERE delivery_status IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
	if recorded != 0 || r.active(t, "ann@example.com") != 2 {
		t.Errorf("a refused status update changed something: %d recorded, %d active", recorded, r.active(t, "ann@example.com"))
	}
}

// TestStatusUpdateOfAnUnknownEmail: a receipt for an email the outbox does
// not hold (purged with its schema, or never ours), or for one sent without
// a reference, is accepted, so Notify stops retrying it, and changes
// nothing.
func TestStatusUpdateOfAnUnknownEmail(t *testing.T) {
	r := newRig(t)
	if resp := r.callback("/status-updates", statusBody(uuid.New(), uuid.New(), "permanent-failure")); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status update: %d, want 204", resp.StatusCode)
	}
	// Sent without a reference: not by this service.
	noReference := fmt.Sprintf(`{"id":%q,"reference":null,"to":"ann@example.com","status":"permanent-failure"}`, uuid.New())
	if resp := r.callback("/status-updates", noReference); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status update without a reference: %d, want 204", resp.StatusCode)
	}
	if r.active(t, "ann@example.com") != 2 || r.active(t, "bob@example.com") != 1 {
		t.Error("an unknown reference ended subscriptions")
	}
}

func TestSpamReport(t *testing.T) {
	r := newRig(t)
	ref := r.emailTo(t, "ann@example.com")
	for range 2 { // a retry ends nothing more and records nothing more
		// Notify may spell the address in another case.
		if resp := r.callback("/spam-reports", fmt.Sprintf(`{"to":"Ann@Example.com","reference":%q}`, ref)); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("spam report: %d", resp.StatusCode)
		}
	}
	if n := r.active(t, "ann@example.com"); n != 0 {
		t.Errorf("ann has %d active subscriptions after a spam report", n)
	}
	if n := r.active(t, "bob@example.com"); n != 1 {
		t.Errorf("bob has %d active subscriptions, want 1", n)
	}
	want := []subscriberstest.Audited{{
		Action:  subscribers.AuditSubscriptionsEnded,
		Cause:   subscribers.Cause{Kind: subscribers.CauseCallback, ID: "spam-report:" + ref.String()},
		Details: map[string]any{"reason": subscribers.EndedMarkedAsSpam, "count": float64(2)},
	}}
	if diff := cmp.Diff(want, r.endings(t, "ann@example.com")); diff != "" {
		t.Errorf("ann's audit trail of endings (-want +got):\n%s", diff)
	}
	var reasons []string
	if err := r.db.Select(&reasons, `SELECT DISTINCT s.ended_reason FROM subscriptions s JOIN subscribers p ON p.id = s.subscriber_id
		WHERE p.address = 'ann@example.com'`); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{subscribers.EndedMarkedAsSpam}, reasons); diff != "" {
		t.Errorf("ended reasons (-want +got):\n%s", diff)
	}

	// An address nobody holds is answered as one that is held.
	if resp := r.callback("/spam-reports", `{"to":"nobody@example.com"}`); resp.StatusCode != http.StatusNoContent {
		t.Errorf("spam report about an unknown address: %d, want 204", resp.StatusCode)
	}
	for body, want := range map[string]int{
		`{"to":"not an address"}`:                    http.StatusUnprocessableEntity,
		`{"to":"bob@example.com","reference":"abc"}`: http.StatusUnprocessableEntity,
		`{"reference":null}`:                         http.StatusBadRequest,
	} {
		if resp := r.callback("/spam-reports", body); resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", body, resp.StatusCode, want)
		}
	}
	if n := r.active(t, "bob@example.com"); n != 1 {
		t.Errorf("a refused spam report ended bob's subscription")
	}
}

func TestBulkUnsubscribeRefusals(t *testing.T) {
	r := newRig(t)
	id := uuid.NewString()
	for _, tc := range []struct {
		name, path, body string
		want             int
	}{
		{"unknown list", "/subscriber-lists/no-such-list/bulk-unsubscribe", `{}`, http.StatusNotFound},
		{"body without sender_message_id", "/subscriber-lists/{slug}/bulk-unsubscribe", `{"body":"Closing"}`, http.StatusUnprocessableEntity},
		{"sender_message_id not a UUID", "/subscriber-lists/{slug}/bulk-unsubscribe", `{"body":"Closing","sender_message_id":"42"}`, http.StatusUnprocessableEntity},
		{"empty body", "/subscriber-lists/{slug}/bulk-unsubscribe", fmt.Sprintf(`{"body":" ","sender_message_id":%q}`, uuid.New()), http.StatusUnprocessableEntity},
		{"control character in body", "/subscriber-lists/{slug}/bulk-unsubscribe", fmt.Sprintf(`{"body":"a\rBcc: x","sender_message_id":%q}`, uuid.New()), http.StatusUnprocessableEntity},
		{"body too long", "/subscriber-lists/{slug}/bulk-unsubscribe", fmt.Sprintf(`{"body":%q,"sender_message_id":%q}`, strings.Repeat("a", 10001), uuid.New()), http.StatusUnprocessableEntity},
		{"accepted", "/subscriber-lists/{slug}/bulk-unsubscribe", fmt.Sprintf(`{"body":"Closing","sender_message_id":%q}`, id), http.StatusAccepted},
		{"same sender_message_id again", "/subscriber-lists/{slug}/bulk-unsubscribe", fmt.Sprintf(`{"body":"Closing","sender_message_id":%q}`, id), http.StatusConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if w := r.Do("POST", tc.path, tc.body, nil); w.Code != tc.want {
				t.Errorf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
		})
	}
	var jobs int
	if err := r.db.Get(&jobs, `SELECT count(*) FROM bulk_unsubscribes`); err != nil {
		t.Fatal(err)
	}
	if jobs != 1 {
		t.Errorf("%d jobs stored, want the one accepted", jobs)
	}
}

// TestBulkUnsubscribeEndsTheListInBatches: every active subscription of
// the list ends, each subscriber emailed the message once, in batches
// smaller than the list; running the job again (a retried task) does
// nothing more; other lists are untouched.
func TestBulkUnsubscribeEndsTheListInBatches(t *testing.T) {
	r := newRig(t)
	for i := range 8 {
		locale := "en"
		if i == 1 {
			locale = "cy" // s1's emails are in Welsh
		}
		r.MustDo(t, "POST", "/subscriptions", fmt.Sprintf(`{"address":"s%d@example.com","subscriber_list_id":{list},"frequency":%q,"locale":%q}`,
			i, []string{"immediately", "daily", "weekly"}[i%3], locale), nil)
	}
	const listMembers = 10 // ann, bob and the 8
	svc := r.app.Mailbox()
	svc.BatchSize(3)
	if w := r.Do("POST", "/subscriber-lists/{slug}/bulk-unsubscribe",
		fmt.Sprintf(`{"body":"This list is closing.\nSee GOV.UK for news.","sender_message_id":%q}`, uuid.New()), nil); w.Code != http.StatusAccepted {
		t.Fatalf("bulk unsubscribe: %d %s", w.Code, w.Body)
	}
	var id int64
	if err := r.db.Get(&id, `SELECT id FROM bulk_unsubscribes`); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := svc.RunBulkUnsubscribe(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	var left int
	if err := r.db.Get(&left, `SELECT count(*) FROM subscriptions WHERE subscriber_list_id = $1 AND ended_at IS NULL`, r.ListID); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d subscriptions of the list still active", left)
	}
	var ended []string
	if err := r.db.Select(&ended, `SELECT DISTINCT ended_reason FROM subscriptions WHERE subscriber_list_id = $1`, r.ListID); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{subscribers.EndedBulkUnsubscribed}, ended); diff != "" {
		t.Errorf("ended reasons (-want +got):\n%s", diff)
	}
	if n := r.active(t, "ann@example.com"); n != 1 {
		t.Errorf("ann has %d active subscriptions, want her other list's", n)
	}
	var emails []struct {
		Address  string `db:"address"`
		Subject  string `db:"subject"`
		Body     string `db:"body"`
		Priority string `db:"priority"`
		N        int    `db:"n"`
	}
	if err := r.db.Select(&emails, `SELECT address, subject, body, priority, count(*) AS n FROM emails
		WHERE kind = 'bulk_unsubscribed' GROUP BY 1, 2, 3, 4`); err != nil {
		t.Fatal(err)
	}
	if len(emails) != listMembers {
		t.Errorf("%d subscribers emailed, want %d", len(emails), listMembers)
	}
	for _, e := range emails {
		if e.N != 1 || e.Subject != "Tax news" || e.Priority != "normal" ||
			!strings.HasPrefix(e.Body, "This list is closing.\nSee GOV.UK for news.\n") {
			t.Errorf("email to %s: %+v", e.Address, e)
		}
		// The sender's message as it was given; the rest in the
		// subscriber's language.
		want, other := "You’ve been unsubscribed from GOV.UK emails about:", "Rydych wedi cael eich dad-danysgrifio"
		if e.Address == "s1@example.com" {
			want, other = other, want
		}
		if !strings.Contains(e.Body, want) || strings.Contains(e.Body, other) {
			t.Errorf("email to %s is not in its language (want %q):\n%s", e.Address, want, e.Body)
		}
	}
	var job struct {
		Status  string `db:"status"`
		Ended   int    `db:"ended"`
		Emailed int    `db:"emailed"`
	}
	if err := r.db.Get(&job, `SELECT status, ended, emailed FROM bulk_unsubscribes WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if job.Status != "done" || job.Ended != listMembers || job.Emailed != listMembers {
		t.Errorf("job %+v, want done with %d ended and emailed", job, listMembers)
	}
	want := []subscriberstest.Audited{{
		Action:  subscribers.AuditSubscriptionsEnded,
		Cause:   subscribers.APICause(fingerprint(testrig.Token)),
		Details: map[string]any{"reason": subscribers.EndedBulkUnsubscribed, "count": float64(1), "subscriber_list_id": float64(r.ListID)},
	}}
	if diff := cmp.Diff(want, r.endings(t, "s4@example.com")); diff != "" {
		t.Errorf("audit trail of endings (-want +got):\n%s", diff)
	}
}

// TestBulkUnsubscribeWithoutMessage ends the list and emails nobody.
func TestBulkUnsubscribeWithoutMessage(t *testing.T) {
	r := newRig(t)
	if w := r.Do("POST", "/subscriber-lists/{slug}/bulk-unsubscribe", `{}`, nil); w.Code != http.StatusAccepted {
		t.Fatalf("bulk unsubscribe: %d %s", w.Code, w.Body)
	}
	var id int64
	if err := r.db.Get(&id, `SELECT id FROM bulk_unsubscribes`); err != nil {
		t.Fatal(err)
	}
	if err := r.app.Mailbox().RunBulkUnsubscribe(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	var emailed int
	if err := r.db.Get(&emailed, `SELECT count(*) FROM emails WHERE kind = 'bulk_unsubscribed'`); err != nil {
		t.Fatal(err)
	}
	if r.active(t, "bob@example.com") != 0 || r.active(t, "ann@example.com") != 1 || emailed != 0 {
		t.Errorf("bob active %d, ann active %d, emailed %d; want 0, 1, 0",
			r.active(t, "bob@example.com"), r.active(t, "ann@example.com"), emailed)
	}
}

// TestBulkUnsubscribeSweep: a job whose task Redis lost is enqueued again.
func TestBulkUnsubscribeSweep(t *testing.T) {
	r := newRig(t)
	if _, err := r.db.Exec(`INSERT INTO bulk_unsubscribes (subscriber_list_id, client) VALUES ($1, 'test')`, r.ListID); err != nil {
		t.Fatal(err)
	}
	n, err := r.app.Mailbox().Sweep(context.Background(), 0, 0)
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1 job enqueued", n, err)
	}
}

// fingerprint is the audit's name of the API client holding token.
func fingerprint(token string) string { return jsonapi.Fingerprint(sha256.Sum256([]byte(token))) }
