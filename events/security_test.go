package events_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"email-alert/events"
)

// TestSecurityReplayedEventsAreNotReapplied: a Security Event Token or an
// account-api call replayed (same jti, same Idempotency-Key), even after
// newer events were applied, is acknowledged but never applied again; an
// old SET with a new jti is superseded by the newer event; an expired SET
// is refused and stored nowhere.
func TestSecurityReplayedEventsAreNotReapplied(t *testing.T) {
	f := setup(t)
	const sub = "urn:fdc:gov.uk:2022:ann"
	f.linked(t, "ann@example.com", sub)
	address := func() string {
		t.Helper()
		var a string
		if err := f.db.Get(&a, `SELECT address FROM subscribers WHERE govuk_account_id = $1`, sub); err != nil {
			t.Fatal(err)
		}
		return a
	}
	changed := func(email string, changes map[string]any) (map[string]any, string) {
		c := set(sub, events.EventIdentifierChanged, map[string]any{"new-value": email}, changes)
		return c, f.sign(t, c, f.key, jose.ES256, "k1")
	}
	push := func(raw string, want int) {
		t.Helper()
		if w := f.push(raw, nil); w.Code != want {
			t.Fatalf("push: %d %s, want %d", w.Code, w.Body, want)
		}
	}

	older, olderRaw := changed("a@new.example", map[string]any{"toe": time.Now().Add(-10 * time.Minute).Unix()})
	_, newerRaw := changed("b@new.example", map[string]any{"toe": time.Now().Add(-time.Minute).Unix()})
	for _, raw := range []string{olderRaw, newerRaw} {
		push(raw, http.StatusAccepted)
		f.processAll(t)
	}
	if a := address(); a != "b@new.example" {
		t.Fatalf("address %q after two changes, want b@new.example", a)
	}
	for range 3 {
		push(olderRaw, http.StatusAccepted)
	}
	f.processAll(t)
	if n := f.count(t, `SELECT count(*) FROM account_events`); n != 2 {
		t.Errorf("%d events stored after replays, want 2", n)
	}
	if n := f.count(t, `SELECT attempts FROM account_events WHERE id = $1`, older["jti"]); n != 1 {
		t.Errorf("the replayed event was processed %d times, want once", n)
	}
	if a := address(); a != "b@new.example" {
		t.Errorf("address %q after replaying the older change, want b@new.example", a)
	}

	// A month-old SET under a new jti (SETs need not carry exp) is stored
	// but loses to the newer change already applied.
	stale, staleRaw := changed("c@new.example", map[string]any{
		"iat": time.Now().Add(-30 * 24 * time.Hour).Unix(), "toe": time.Now().Add(-30 * 24 * time.Hour).Unix(),
	})
	push(staleRaw, http.StatusAccepted)
	f.processAll(t)
	if o := f.outcome(t, stale["jti"].(string)); o != events.OutcomeSuperseded || address() != "b@new.example" {
		t.Errorf("month-old change: outcome %q, address %q; want superseded and b@new.example", o, address())
	}

	// An expired SET is refused.
	_, expiredRaw := changed("d@new.example", map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})
	push(expiredRaw, http.StatusBadRequest)
	if n := f.count(t, `SELECT count(*) FROM account_events`); n != 3 {
		t.Errorf("%d events stored, want 3: the expired SET was stored", n)
	}

	// An account-api call replayed with its Idempotency-Key after a newer
	// call was applied changes nothing.
	put := func(email, key string) {
		t.Helper()
		if w := f.call(http.MethodPut, sub, `{"email":"`+email+`","email_verified":true}`, key); w.Code != http.StatusOK {
			t.Fatalf("PUT: %d %s", w.Code, w.Body)
		}
		f.processAll(t)
	}
	put("e@new.example", "key-1")
	put("f@new.example", "key-2")
	put("e@new.example", "key-1")
	if a := address(); a != "f@new.example" {
		t.Errorf("address %q after replaying an account-api call, want f@new.example", a)
	}
}

// TestSecurityEventTimesAreBounded: a SET whose toe or iat is more than
// 60 s ahead of our clock (a bad clock, or milliseconds where seconds
// belong) is refused and stored nowhere, so it cannot become the account's
// newest event and freeze it; one 59 s ahead is within the allowed skew.
// One before 1970 is refused too (rather than failing to store, which the
// sender would retry for ever).
func TestSecurityEventTimesAreBounded(t *testing.T) {
	f := setup(t)
	const sub = "urn:fdc:gov.uk:2022:ann"
	f.linked(t, "ann@example.com", sub)
	changed := func(changes map[string]any) map[string]any {
		return set(sub, events.EventIdentifierChanged, map[string]any{"new-value": "ann@new.example"}, changes)
	}
	now := time.Now()
	for _, tt := range []struct {
		name    string
		changes map[string]any
	}{
		{"toe 90 s ahead", map[string]any{"toe": now.Add(90 * time.Second).Unix()}},
		{"toe an hour ahead", map[string]any{"toe": now.Add(time.Hour).Unix()}},
		{"toe in milliseconds", map[string]any{"toe": now.UnixMilli()}},
		{"iat in milliseconds, no toe", map[string]any{"iat": now.UnixMilli(), "toe": nil}},
		{"toe before 1970", map[string]any{"toe": -1}},
		{"toe before PostgreSQL's earliest time", map[string]any{"toe": -1e15}},
		{"iat before PostgreSQL's earliest time", map[string]any{"iat": -1e15, "toe": nil}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := f.push(f.sign(t, changed(tt.changes), f.key, jose.ES256, "k1"), nil)
			var body struct{ Err, Description string }
			if err := json.Unmarshal(w.Body.Bytes(), &body); w.Code != http.StatusBadRequest || err != nil || body.Err != "invalid_request" {
				t.Errorf("%d %s, want 400 invalid_request", w.Code, w.Body)
			}
		})
	}
	if n := f.count(t, `SELECT count(*) FROM account_events`); n != 0 {
		t.Fatalf("%d events stored from SETs with times out of bounds, want 0", n)
	}

	toe := time.Now().Add(59 * time.Second).Unix()
	ahead := changed(map[string]any{"toe": toe, "iat": time.Now().Add(59 * time.Second).Unix()})
	if w := f.push(f.sign(t, ahead, f.key, jose.ES256, "k1"), nil); w.Code != http.StatusAccepted {
		t.Fatalf("toe and iat 59 s ahead: %d %s, want 202", w.Code, w.Body)
	}
	if n := f.count(t, `SELECT count(*) FROM account_events WHERE id = $1 AND occurred_at = to_timestamp($2)`, ahead["jti"], toe); n != 1 {
		t.Errorf("the SET 59 s ahead was not stored with its toe")
	}
}

// TestSecurityDeletionIsNeverSuperseded: an email change dated (within the
// allowed skew) after the deletion that follows it cannot make the
// deletion superseded: the account is deleted, by an account-api call or a
// SET dated before the change, and a later change still does nothing.
func TestSecurityDeletionIsNeverSuperseded(t *testing.T) {
	for _, tt := range []struct {
		name   string
		delete func(f *fixture, sub string) string // returns the deletion's event id
	}{
		{"DELETE /api/oidc-users/:sub", func(f *fixture, sub string) string {
			if w := f.call(http.MethodDelete, sub, "", "delete-1"); w.Code != http.StatusNoContent {
				t.Fatalf("DELETE: %d %s", w.Code, w.Body)
			}
			var id string
			if err := f.db.Get(&id, `SELECT id FROM account_events WHERE kind = 'deleted'`); err != nil {
				t.Fatal(err)
			}
			return id
		}},
		{"account-purged SET dated before the change", func(f *fixture, sub string) string {
			c := set(sub, events.EventAccountPurged, nil, map[string]any{"toe": time.Now().Add(-time.Hour).Unix()})
			if w := f.push(f.sign(t, c, f.key, jose.ES256, "k1"), nil); w.Code != http.StatusAccepted {
				t.Fatalf("push: %d %s", w.Code, w.Body)
			}
			return c["jti"].(string)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			ctx := context.Background()
			const sub = "urn:fdc:gov.uk:2022:ann"
			s := f.linked(t, "ann@example.com", sub)
			change := set(sub, events.EventIdentifierChanged, map[string]any{"new-value": "ann@new.example"},
				map[string]any{"toe": time.Now().Add(30 * time.Second).Unix()})
			if w := f.push(f.sign(t, change, f.key, jose.ES256, "k1"), nil); w.Code != http.StatusAccepted {
				t.Fatalf("push: %d %s", w.Code, w.Body)
			}
			f.processAll(t)
			if o := f.outcome(t, change["jti"].(string)); o != events.OutcomeApplied {
				t.Fatalf("the change 30 s ahead: outcome %q, want applied", o)
			}

			deletion := tt.delete(f, sub)
			f.processAll(t)
			if o := f.outcome(t, deletion); o != events.OutcomeApplied {
				t.Errorf("deletion outcome %q, want applied", o)
			}
			got, err := f.store.Subscription(ctx, s.ID)
			if err != nil || got.Active() || got.EndedReason == nil || *got.EndedReason != events.EndedAccountDeleted {
				t.Errorf("subscription after deletion: %+v, %v; want ended account_deleted", got, err)
			}
			if n := f.count(t, `SELECT count(*) FROM subscribers WHERE govuk_account_id IS NOT NULL`); n != 0 {
				t.Errorf("still linked")
			}
			if n := f.count(t, `SELECT count(*) FROM deleted_accounts WHERE sub = $1`, sub); n != 1 {
				t.Errorf("no tombstone")
			}

			late := set(sub, events.EventIdentifierChanged, map[string]any{"new-value": "late@example.com"},
				map[string]any{"toe": time.Now().Add(50 * time.Second).Unix()})
			if w := f.push(f.sign(t, late, f.key, jose.ES256, "k1"), nil); w.Code != http.StatusAccepted {
				t.Fatalf("push: %d %s", w.Code, w.Body)
			}
			f.processAll(t)
			if o := f.outcome(t, late["jti"].(string)); o != events.OutcomeAccountDeleted {
				t.Errorf("change after the deletion: outcome %q, want account_deleted", o)
			}
			if n := f.count(t, `SELECT count(*) FROM subscribers WHERE address = 'late@example.com'`); n != 0 {
				t.Errorf("the change after the deletion was applied")
			}
		})
	}
}

// TestSecurityIdempotencyKeyReusedWithAnotherBody: an account-api call
// repeating an Idempotency-Key with another body is a 422 that stores and
// changes nothing; with the same body it is the same event, answered as
// the first time.
func TestSecurityIdempotencyKeyReusedWithAnotherBody(t *testing.T) {
	f := setup(t)
	const sub = "urn:fdc:gov.uk:2022:ann"
	f.linked(t, "ann@example.com", sub)
	first := f.call(http.MethodPut, sub, `{"email":"ann@new.example","email_verified":true}`, "key-1")
	if first.Code != http.StatusOK {
		t.Fatalf("PUT: %d %s", first.Code, first.Body)
	}
	for _, body := range []string{
		`{"email":"mallory@example.com","email_verified":true}`,
		`{"email":"ann@new.example","email_verified":false}`,
		`{"email":"ANN@new.example","email_verified":true}`,
	} {
		w := f.call(http.MethodPut, sub, body, "key-1")
		var answer struct{ Error string }
		if err := json.Unmarshal(w.Body.Bytes(), &answer); w.Code != http.StatusUnprocessableEntity || err != nil || answer.Error == "" {
			t.Errorf("PUT %s with the key of another body: %d %s, want 422 with an error", body, w.Code, w.Body)
		}
	}
	again := f.call(http.MethodPut, sub, `{ "email_verified": true, "email": "ann@new.example" }`, "key-1")
	if again.Code != http.StatusOK || again.Body.String() != first.Body.String() {
		t.Errorf("PUT with the same body again: %d %s, want %d %s", again.Code, again.Body, first.Code, first.Body)
	}
	if n := f.count(t, `SELECT count(*) FROM account_events`); n != 1 {
		t.Errorf("%d events stored, want 1", n)
	}
	f.processAll(t)
	if n := f.count(t, `SELECT count(*) FROM subscribers WHERE address = 'ann@new.example' AND govuk_account_id = $1`, sub); n != 1 {
		t.Errorf("the first call's email was not applied")
	}
	if n := f.count(t, `SELECT count(*) FROM subscribers WHERE lower(address) IN ('mallory@example.com')`); n != 0 {
		t.Errorf("the other body's email was applied")
	}
}
