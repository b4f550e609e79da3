package subscribers_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"email-alert/subscribers"
)

// TestForgetInactive: only a subscriber with nothing active, nothing ended
// within retention and created before it loses its address, and the
// removal is in its audit trail.
func TestForgetInactive(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	news := f.list(t, "News")
	active := f.subscribe(t, "active@example.com", news, subscribers.Immediately)
	recent := f.subscribe(t, "recent@example.com", news, subscribers.Immediately)
	old := f.subscribe(t, "old@example.com", news, subscribers.Immediately)
	for _, s := range []subscribers.Subscription{recent, old} {
		if err := f.store.Unsubscribe(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.db.Exec(`UPDATE subscriptions SET ended_at = now() - interval '40 days' WHERE id = $1`, old.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Exec(`UPDATE subscribers SET created_at = now() - interval '60 days'`); err != nil {
		t.Fatal(err)
	}
	n, err := f.store.ForgetInactive(ctx, 28*24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("ForgetInactive = %d, %v; want 1", n, err)
	}
	for id, want := range map[int64]bool{active.Subscriber.ID: true, recent.Subscriber.ID: true, old.Subscriber.ID: false} {
		if has := f.count(t, `SELECT count(*) FROM subscribers WHERE id = $1 AND address IS NOT NULL`, id) == 1; has != want {
			t.Errorf("subscriber %d keeps its address: %v, want %v", id, has, want)
		}
	}
	trail := f.audit(t, old.Subscriber.ID)
	want := audited{Subscriber: old.Subscriber.ID, Action: subscribers.AuditAddressRemoved,
		Cause: subscribers.SystemCause("forget_inactive"), Details: map[string]any{}}
	if diff := cmp.Diff(want, trail[len(trail)-1]); diff != "" {
		t.Errorf("last audit entry (-want +got):\n%s", diff)
	}
	if n, err := f.store.ForgetInactive(ctx, 28*24*time.Hour); err != nil || n != 0 {
		t.Errorf("ForgetInactive again = %d, %v; want 0", n, err)
	}
}
