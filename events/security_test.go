package events_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
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
		req := httptest.NewRequest(http.MethodPut, "/api/oidc-users/"+sub, strings.NewReader(`{"email":"`+email+`","email_verified":true}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		w := httptest.NewRecorder()
		f.router.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
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
