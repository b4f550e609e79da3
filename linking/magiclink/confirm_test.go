package magiclink_test

import (
	"context"
	"sync"
	"testing"

	"email-alert/subscribers"
)

// TestConfirmationLinkSignsInOnce: a confirmation link clicked many times,
// some of them at once, subscribes and opens a session once; later clicks
// report the subscription as it is (after a frequency or address change
// too) and, after unsubscribing, do not subscribe again.
func TestConfirmationLinkSignsInOnce(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	if err := f.service.RequestConfirmation(ctx, "carol@example.com", "tax-news", subscribers.Weekly, ""); err != nil {
		t.Fatal(err)
	}
	_, token := f.lastLink(t)

	const clicks = 8
	results := make([]struct {
		session string
		err     error
	}, clicks)
	var wg sync.WaitGroup
	for i := range clicks {
		wg.Go(func() {
			c, err := f.service.RedeemConfirmation(ctx, token, "tax-news", "weekly", "")
			results[i].session, results[i].err = c.Session, err
		})
	}
	wg.Wait()
	sessions := 0
	for _, r := range results {
		if r.err != nil {
			t.Fatalf("click: %v", r.err)
		}
		if r.session != "" {
			sessions++
		}
	}
	if n := f.count(t, `SELECT count(*) FROM sessions`); sessions != 1 || n != 1 {
		t.Errorf("%d clicks at once opened %d sessions (%d rows), want 1", clicks, sessions, n)
	}
	if n := f.count(t, `SELECT count(*) FROM subscriptions`); n != 1 {
		t.Errorf("%d subscriptions, want 1", n)
	}

	// The person changes the frequency and their address; the link still
	// finds the subscription, and changes neither back.
	first := f.activeIDs(t)[0]
	changed, err := f.store.ChangeFrequency(ctx, first, subscribers.Daily)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.ChangeAddress(ctx, changed.Subscriber.ID, "carol@new.example.com", subscribers.Refuse, testCause); err != nil {
		t.Fatal(err)
	}
	later, err := f.service.RedeemConfirmation(ctx, token, "tax-news", "weekly", "")
	if err != nil || !later.Used || later.Session != "" || later.Subscription.ID != changed.ID || !later.Subscription.Active() {
		t.Errorf("click after changes: %+v, %v; want used, the daily subscription, no session", later, err)
	}

	// Unsubscribed from everything: a later click subscribes nobody.
	if _, err := f.store.UnsubscribeAll(ctx, changed.Subscriber.ID, subscribers.EndedUnsubscribed, testCause); err != nil {
		t.Fatal(err)
	}
	later, err = f.service.RedeemConfirmation(ctx, token, "tax-news", "weekly", "")
	if err != nil || !later.Used || later.Session != "" || later.Subscription.Active() {
		t.Errorf("click after unsubscribing: %+v, %v; want used, not subscribed, no session", later, err)
	}
	if ids := f.activeIDs(t); len(ids) != 0 {
		t.Errorf("a click after unsubscribing subscribed again: %v", ids)
	}
	if n := f.count(t, `SELECT count(*) FROM sessions`); n != 1 {
		t.Errorf("%d sessions after later clicks, want 1", n)
	}
}
