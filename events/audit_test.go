package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"email-alert/events"
	"email-alert/subscribers"
	"email-alert/subscribers/subscriberstest"
)

// audited is the part of an audit entry the tests compare.
type audited = subscriberstest.Audited

func (f *fixture) audit(t *testing.T, id int64) []audited {
	t.Helper()
	return subscriberstest.Audit(t, f.store, id)
}

// deliver pushes the SET claims and processes it, returning its jti.
func (f *fixture) deliver(t *testing.T, claims map[string]any) string {
	t.Helper()
	if w := f.push(f.sign(t, claims, f.key, jose.ES256, "k1"), nil); w.Code != 202 {
		t.Fatal(w.Body)
	}
	f.processAll(t)
	return claims["jti"].(string)
}

var created = audited{Action: subscribers.AuditCreated, Cause: subscribers.APICause("test0000"), Details: map[string]any{}}

func TestAuditAccountDeletion(t *testing.T) {
	f := setup(t)
	const sub = "urn:fdc:gov.uk:2022:ann"
	ann := f.linked(t, "ann@example.com", sub).Subscriber
	jti := f.deliver(t, set(sub, events.EventAccountPurged, nil, nil))

	cause := subscribers.Cause{Kind: subscribers.CauseEvent, ID: jti}
	want := []audited{created,
		{Action: subscribers.AuditSubscriptionsEnded, Cause: cause, Details: map[string]any{"reason": events.EndedAccountDeleted, "count": float64(1)}},
		{Action: subscribers.AuditUnlinked, Cause: cause, Details: map[string]any{"govuk_account_id": sub}},
	}
	if diff := cmp.Diff(want, f.audit(t, ann.ID)); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

func TestAuditAccountEmailChange(t *testing.T) {
	f := setup(t)
	const sub = "urn:fdc:gov.uk:2022:ann"
	ann := f.linked(t, "ann@example.com", sub).Subscriber
	jti := f.deliver(t, set(sub, events.EventIdentifierChanged, map[string]any{"new-value": "ann@new.example.com"}, nil))
	// An unverified email changes nothing and records nothing.
	f.deliver(t, set(sub, events.EventIdentifierChanged,
		map[string]any{"new-value": "x@example.com", "email_verified": false}, nil))

	want := []audited{created,
		{Action: subscribers.AuditAddressChanged, Cause: subscribers.Cause{Kind: subscribers.CauseEvent, ID: jti}, Details: map[string]any{}},
	}
	if diff := cmp.Diff(want, f.audit(t, ann.ID)); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

func TestAuditForgetInactive(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	old := f.linked(t, "old@example.com", "")
	if _, err := f.store.UnsubscribeAll(ctx, old.Subscriber.ID, subscribers.EndedUnsubscribed, subscribers.SessionCause(3)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Exec(`UPDATE subscriptions SET ended_at = now() - interval '40 days'`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Exec(`UPDATE subscribers SET created_at = now() - interval '60 days'`); err != nil {
		t.Fatal(err)
	}
	if n, err := f.store.ForgetInactive(ctx, 28*24*time.Hour); err != nil || n != 1 {
		t.Fatalf("ForgetInactive = %d, %v; want 1", n, err)
	}
	want := []audited{created,
		{Action: subscribers.AuditSubscriptionsEnded, Cause: subscribers.SessionCause(3), Details: map[string]any{"reason": "unsubscribed", "count": float64(1)}},
		{Action: subscribers.AuditAddressRemoved, Cause: subscribers.SystemCause("forget_inactive"), Details: map[string]any{}},
	}
	if diff := cmp.Diff(want, f.audit(t, old.Subscriber.ID)); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}
