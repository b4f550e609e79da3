package subscribers_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"email-alert/subscribers"
)

// testCause is the cause the tests of this package make changes with.
var testCause = subscribers.APICause("test0000")

// audited is the part of an audit entry the tests compare.
type audited struct {
	Subscriber int64
	Action     string
	Cause      subscribers.Cause
	Details    map[string]any
}

// audit returns the audit trail of the subscribers ids, in order.
func (f *fixture) audit(t *testing.T, ids ...int64) []audited {
	t.Helper()
	var got []audited
	for _, id := range ids {
		entries, err := f.store.AuditTrail(context.Background(), id)
		if err != nil {
			t.Fatalf("audit of %d: %v", id, err)
		}
		for _, e := range entries {
			if strings.Contains(string(e.Details), "@") {
				t.Errorf("audit details hold an address: %s", e.Details)
			}
			if e.CreatedAt.IsZero() || e.ID == 0 {
				t.Errorf("audit entry without id or time: %+v", e)
			}
			a := audited{Subscriber: id, Action: e.Action, Cause: e.Cause}
			if err := json.Unmarshal(e.Details, &a.Details); err != nil {
				t.Fatal(err)
			}
			got = append(got, a)
		}
	}
	return got
}

func TestAuditSubscriberCreated(t *testing.T) {
	f := setup(t)
	news, other := f.list(t, "News"), f.list(t, "Other")
	ann := f.subscribe(t, "ann@example.com", news, subscribers.Daily)
	// Subscribing the same person again, to another list and at another
	// frequency, creates no subscriber and records nothing.
	f.subscribe(t, "ANN@example.com", other, subscribers.Weekly)
	f.subscribe(t, "ann@example.com", news, subscribers.Weekly)

	want := []audited{{ann.Subscriber.ID, subscribers.AuditCreated, testCause, map[string]any{}}}
	if diff := cmp.Diff(want, f.audit(t, ann.Subscriber.ID)); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

func TestAuditRefusesAChangeWithoutCause(t *testing.T) {
	f := setup(t)
	list := f.list(t, "News")
	_, _, err := f.store.Subscribe(context.Background(), subscribers.SubscribeRequest{
		Address: "ann@example.com", ListID: list.ID, Frequency: subscribers.Daily,
	})
	if err == nil {
		t.Fatal("a subscriber was created without a cause")
	}
	if n := f.count(t, `SELECT count(*) FROM subscribers`); n != 0 {
		t.Errorf("%d subscribers created, want 0", n)
	}
}

func TestAuditAddressChangeAndMerge(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	list := f.list(t, "News")
	ann := f.subscribe(t, "ann@example.com", list, subscribers.Daily).Subscriber
	bob := f.subscribe(t, "bob@example.com", list, subscribers.Weekly).Subscriber
	changer, merger := subscribers.APICause("aaaa1111"), subscribers.EventCause("jti-1")

	if _, err := f.store.ChangeAddress(ctx, ann.ID, "ann@new.example.com", subscribers.Refuse, changer); err != nil {
		t.Fatal(err)
	}
	// Its own address again: no change, nothing recorded.
	if _, err := f.store.ChangeAddress(ctx, ann.ID, "ann@new.example.com", subscribers.Refuse, changer); err != nil {
		t.Fatal(err)
	}
	// Refused (taken): nothing recorded.
	if _, err := f.store.ChangeAddress(ctx, ann.ID, "bob@example.com", subscribers.Refuse, changer); !errors.Is(err, subscribers.ErrAddressTaken) {
		t.Fatalf("err = %v, want ErrAddressTaken", err)
	}
	if _, err := f.store.ChangeAddress(ctx, ann.ID, "bob@example.com", subscribers.Merge, merger); err != nil {
		t.Fatal(err)
	}

	merged := map[string]any{"from_subscriber_id": float64(bob.ID), "into_subscriber_id": float64(ann.ID), "subscriptions_moved": float64(1)}
	want := []audited{
		{ann.ID, subscribers.AuditCreated, testCause, map[string]any{}},
		{ann.ID, subscribers.AuditAddressChanged, changer, map[string]any{}},
		{ann.ID, subscribers.AuditMerged, merger, merged},
		{ann.ID, subscribers.AuditAddressChanged, merger, map[string]any{"merged_subscriber_id": float64(bob.ID)}},
		{bob.ID, subscribers.AuditCreated, testCause, map[string]any{}},
		{bob.ID, subscribers.AuditMerged, merger, merged},
	}
	if diff := cmp.Diff(want, f.audit(t, ann.ID, bob.ID)); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

func TestAuditUnsubscribeAll(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	news, other := f.list(t, "News"), f.list(t, "Other")
	ann := f.subscribe(t, "ann@example.com", news, subscribers.Daily).Subscriber
	f.subscribe(t, "ann@example.com", other, subscribers.Daily)
	session := subscribers.SessionCause(42)
	for range 2 { // the second ends nothing and records nothing
		if _, err := f.store.UnsubscribeAll(ctx, ann.ID, subscribers.EndedUnsubscribed, session); err != nil {
			t.Fatal(err)
		}
	}
	want := []audited{
		{ann.ID, subscribers.AuditCreated, testCause, map[string]any{}},
		{ann.ID, subscribers.AuditSubscriptionsEnded, session, map[string]any{"reason": "unsubscribed", "count": float64(2)}},
	}
	if diff := cmp.Diff(want, f.audit(t, ann.ID)); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

func TestAuditTrailOfUnknownSubscriber(t *testing.T) {
	f := setup(t)
	if _, err := f.store.AuditTrail(context.Background(), 424242); !errors.Is(err, subscribers.ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
}
