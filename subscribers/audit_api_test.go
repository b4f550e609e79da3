package subscribers_test

import (
	"crypto/sha256"
	"email-alert/internal/testkit/testrig"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"email-alert/internal/dev/devoidc"
)

// auditBody is the body of GET /subscribers/:id/audit.
type auditBody struct {
	SubscriberID int64 `json:"subscriber_id"`
	Audit        []struct {
		ID        int64          `json:"id"`
		Action    string         `json:"action"`
		Cause     auditCause     `json:"cause"`
		Details   map[string]any `json:"details"`
		CreatedAt string         `json:"created_at"`
	} `json:"audit"`
}

type auditCause struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// auditEntry is the part of an entry the tests compare.
type auditEntry struct {
	Action string
	Cause  auditCause
}

// readAudit gets the audit trail of subscriber id through the API, checks
// its shape, and returns its actions and causes in order.
func readAudit(t *testing.T, f *testrig.API, id int64) []auditEntry {
	t.Helper()
	w := f.Do("GET", fmt.Sprintf("/subscribers/%d/audit", id), "", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("audit of %d: %d %s", id, w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), testrig.Token) || strings.Contains(w.Body.String(), "@") {
		t.Errorf("the audit shows a token or an address: %s", w.Body)
	}
	var body auditBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.SubscriberID != id {
		t.Errorf("subscriber_id %d, want %d", body.SubscriberID, id)
	}
	var got []auditEntry
	for i, e := range body.Audit {
		if _, err := time.Parse(time.RFC3339, e.CreatedAt); err != nil {
			t.Errorf("created_at %q: %v", e.CreatedAt, err)
		}
		if i > 0 && e.ID <= body.Audit[i-1].ID {
			t.Errorf("audit not oldest first: %d after %d", e.ID, body.Audit[i-1].ID)
		}
		if e.Details == nil {
			t.Errorf("entry %d has no details object", e.ID)
		}
		got = append(got, auditEntry{e.Action, e.Cause})
	}
	return got
}

// fingerprint is how the audit names the API client holding token.
func fingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])[:8]
}

func TestAuditThroughTheAPI(t *testing.T) {
	f := testrig.NewAPI(t) // ann subscribed with testToken
	client, other := auditCause{"api", fingerprint(testrig.Token)}, auditCause{"api", fingerprint("other-token-abcdef")}
	if w := f.Do("PATCH", "/subscribers/{subscriber}", `{"new_address":"ann@new.example.com"}`,
		http.Header{"Authorization": {"Bearer other-token-abcdef"}}); w.Code != 200 {
		t.Fatalf("change address: %d %s", w.Code, w.Body)
	}
	var bob struct {
		Subscription struct {
			Subscriber struct{ ID int64 } `json:"subscriber"`
		} `json:"subscription"`
	}
	f.MustDo(t, "POST", "/subscriptions", `{"address":"bob@example.com","subscriber_list_id":{list}}`, &bob)
	f.MustDo(t, "PATCH", "/subscribers/{subscriber}", `{"new_address":"bob@example.com","on_conflict":"merge"}`, nil)
	if w := f.Do("DELETE", "/subscribers/{subscriber}", "", nil); w.Code != 204 {
		t.Fatalf("unsubscribe everything: %d", w.Code)
	}

	want := []auditEntry{
		{"created", client},
		{"address_changed", other},
		{"merged", client},
		{"address_changed", client},
		{"subscriptions_ended", client},
	}
	if diff := cmp.Diff(want, readAudit(t, f, f.SubscriberID)); diff != "" {
		t.Errorf("audit of ann (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]auditEntry{{"created", client}, {"merged", client}}, readAudit(t, f, bob.Subscription.Subscriber.ID)); diff != "" {
		t.Errorf("audit of bob (-want +got):\n%s", diff)
	}

	for _, tt := range []struct {
		name, path, auth string
		status           int
	}{
		{"unknown subscriber", "/subscribers/987654/audit", "Bearer " + testrig.Token, 404},
		{"id that is not a number", "/subscribers/ann/audit", "Bearer " + testrig.Token, 404},
		{"overflowing id", "/subscribers/99999999999999999999999/audit", "Bearer " + testrig.Token, 404},
		{"no token", "/subscribers/{subscriber}/audit", "", 401},
		{"wrong token", "/subscribers/{subscriber}/audit", "Bearer nope", 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := f.Do("GET", tt.path, "", http.Header{"Authorization": {tt.auth}})
			var body map[string]any
			if w.Code != tt.status || json.Unmarshal(w.Body.Bytes(), &body) != nil || body["error"] == nil {
				t.Errorf("%d %s, want %d with an error", w.Code, w.Body, tt.status)
			}
		})
	}
}

// TestAuditOfOneLoginSignIn: the link made at sign-in, and what the person
// then does on the pages, are recorded as caused by their session (its
// database id).
func TestAuditOfOneLoginSignIn(t *testing.T) {
	s := testrig.NewAccountSite(t)
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news"}`, nil)
	s.API.MustDo(t, "POST", "/subscriptions", `{"address":"ann@example.com","subscriber_list_id":1,"skip_confirmation_email":true}`, nil)
	if p := s.SignIn("ann@example.com", true, "/email/manage/authenticate/account"); p.URL.Path != "/email/manage" {
		t.Fatalf("sign-in ended at %s", p.URL)
	}
	if p := s.Post("/email/manage/unsubscribe-all", url.Values{}, nil); p.Status != 200 {
		t.Fatalf("unsubscribe from everything: %d %s", p.Status, p.URL)
	}
	var row struct {
		SessionID    int64 `db:"session_id"`
		SubscriberID int64 `db:"subscriber_id"`
	}
	err := s.App.DB().Get(&row, `SELECT s.id AS session_id, p.id AS subscriber_id
		FROM sessions s JOIN subscribers p ON p.govuk_account_id = s.govuk_account_id
		WHERE s.govuk_account_id = $1`, devoidc.Sub("ann@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	session := auditCause{"session", strconv.FormatInt(row.SessionID, 10)}
	want := []auditEntry{
		{"created", auditCause{"api", fingerprint(testrig.Token)}},
		{"linked", session},
		{"subscriptions_ended", session},
	}
	if diff := cmp.Diff(want, readAudit(t, s.API, row.SubscriberID)); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}
