package magiclink_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"email-alert/internal/testkit/testdb"
	"email-alert/migrations"
	"email-alert/subscribers"
)

var unsubscribeLink = regexp.MustCompile(`https://www\.gov\.uk/email/unsubscribe/\S+`)

// unsubscribeToken subscribes address to the fixture's list at f, with the
// "You've subscribed" email, and returns the subscription and the token of
// the email's unsubscribe link.
func (f *fixture) unsubscribeToken(t *testing.T, address string, freq subscribers.Frequency) (subscribers.Subscription, string) {
	t.Helper()
	sub, _, err := f.store.Subscribe(context.Background(), subscribers.SubscribeRequest{
		Address: address, ListID: f.list.ID, Frequency: freq, Cause: testCause,
	})
	if err != nil {
		t.Fatal(err)
	}
	all := f.emails(t)
	u, err := url.Parse(unsubscribeLink.FindString(all[len(all)-1].Body))
	if err != nil || !strings.HasSuffix(u.Path, sub.ID.String()) {
		t.Fatalf("no unsubscribe link for %s in %q", sub.ID, all[len(all)-1].Body)
	}
	return sub, u.Query().Get("token")
}

// activeIDs returns the ids of the active subscriptions.
func (f *fixture) activeIDs(t *testing.T) []uuid.UUID {
	t.Helper()
	var ids []uuid.UUID
	if err := f.db.Select(&ids, `SELECT id FROM subscriptions WHERE ended_at IS NULL ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestUnsubscribeTokenFollowsTheList: the link in the "You've subscribed"
// email ends the subscription to that list that is active when it is
// followed, after any number of frequency changes, and says when there is
// none.
func TestUnsubscribeTokenFollowsTheList(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	first, token := f.unsubscribeToken(t, "ann@example.com", subscribers.Daily)
	second, err := f.store.ChangeFrequency(ctx, first.ID, subscribers.Weekly)
	if err != nil {
		t.Fatal(err)
	}
	now, err := f.store.ChangeFrequency(ctx, second.ID, subscribers.Immediately)
	if err != nil {
		t.Fatal(err)
	}

	checked, err := f.service.CheckUnsubscribeToken(ctx, token)
	if err != nil || checked.ID != now.ID || !checked.Active() {
		t.Fatalf("check: %s (active %v), %v; want the active %s", checked.ID, checked.Active(), err, now.ID)
	}
	ended, didEnd, err := f.service.UnsubscribeByToken(ctx, token)
	if err != nil || !didEnd || ended.ID != now.ID {
		t.Fatalf("unsubscribe: %s, ended %v, %v; want %s ended", ended.ID, didEnd, err, now.ID)
	}
	if active := f.activeIDs(t); len(active) != 0 {
		t.Errorf("active after unsubscribing: %v, want none", active)
	}
	var reason string
	if err := f.db.Get(&reason, `SELECT ended_reason FROM subscriptions WHERE id = $1`, now.ID); err != nil || reason != subscribers.EndedUnsubscribed {
		t.Errorf("ended_reason %q, %v; want unsubscribed", reason, err)
	}

	// Nothing active now: the link says so and ends nothing.
	checked, err = f.service.CheckUnsubscribeToken(ctx, token)
	if err != nil || checked.Active() || checked.List.ID != f.list.ID {
		t.Errorf("check with nothing active: active %v, list %d, %v", checked.Active(), checked.List.ID, err)
	}
	if _, didEnd, err := f.service.UnsubscribeByToken(ctx, token); err != nil || didEnd {
		t.Errorf("second unsubscribe: ended %v, %v; want nothing ended", didEnd, err)
	}
	// One ending in the audit trail, caused by the emailed link.
	n := f.count(t, `SELECT count(*) FROM subscriber_audit a JOIN auth_tokens k ON k.id::text = a.cause_id
		WHERE a.action = 'subscriptions_ended' AND a.cause_kind = 'email_link' AND k.purpose = 'unsubscribe'`)
	if all := f.count(t, `SELECT count(*) FROM subscriber_audit WHERE action = 'subscriptions_ended'`); n != 1 || all != 1 {
		t.Errorf("endings in the audit trail: %d by the link, %d in all; want 1", n, all)
	}
}

// TestUnsubscribeTokensFromBeforeTheMigrationKeepWorking: a token written
// when tokens were bound to one subscription row (version 7), whose row a
// frequency change has since ended, ends the active subscription once the
// schema is migrated.
func TestUnsubscribeTokensFromBeforeTheMigrationKeepWorking(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := testdb.Empty(t)
	if err := migrations.UpTo(ctx, db.DB, 7); err != nil {
		t.Fatal(err)
	}
	token := base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("old token of 32 bytes ..", 2)[:32]))
	hash := sha256.Sum256([]byte(token))
	var old, active uuid.UUID
	err := db.QueryRowx(`
		WITH l AS (INSERT INTO subscriber_lists (slug, title) VALUES ('tax-news', 'Tax news') RETURNING id),
		     p AS (INSERT INTO subscribers (address) VALUES ('ann@example.com') RETURNING id)
		INSERT INTO subscriptions (subscriber_id, subscriber_list_id, frequency, source, ended_at, ended_reason)
		SELECT p.id, l.id, 'daily', 'user_signed_up', now(), 'frequency_changed' FROM l, p
		RETURNING id`).Scan(&old)
	if err != nil {
		t.Fatal(err)
	}
	err = db.QueryRowx(`
		INSERT INTO subscriptions (subscriber_id, subscriber_list_id, frequency, source)
		SELECT subscriber_id, subscriber_list_id, 'weekly', 'frequency_changed' FROM subscriptions WHERE id = $1
		RETURNING id`, old).Scan(&active)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`
		INSERT INTO auth_tokens (token_hash, purpose, subscriber_id, subscription_id, address, expires_at)
		SELECT $1, 'unsubscribe', subscriber_id, id, 'ann@example.com', now() + interval '365 days'
		FROM subscriptions WHERE id = $2`, hash[:], old)
	if err != nil {
		t.Fatal(err)
	}

	if _, err := migrations.Up(ctx, db.DB); err != nil {
		t.Fatal(err)
	}
	f := fixtureOn(t, db)
	checked, err := f.service.CheckUnsubscribeToken(ctx, token)
	if err != nil || checked.ID != active || checked.List.Title != "Tax news" {
		t.Fatalf("old token: %s (%s), %v; want the active %s", checked.ID, checked.List.Title, err, active)
	}
	ended, didEnd, err := f.service.UnsubscribeByToken(ctx, token)
	if err != nil || !didEnd || ended.ID != active {
		t.Fatalf("unsubscribe by old token: %s, ended %v, %v; want %s ended", ended.ID, didEnd, err, active)
	}
	if ids := f.activeIDs(t); len(ids) != 0 {
		t.Errorf("active after unsubscribing: %v, want none", ids)
	}
}

// TestUnsubscribeTokenFollowsAMerge: after bob's address moves to ann
// (an address change that merges bob into her), the link in an email bob
// was sent ends the subscription that is now ann's, at the same address.
func TestUnsubscribeTokenFollowsAMerge(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	_, token := f.unsubscribeToken(t, "bob@example.com", subscribers.Daily)
	other, _, err := f.store.FindOrCreateList(ctx, subscribers.NewList{Title: "VAT news", Slug: "vat-news"})
	if err != nil {
		t.Fatal(err)
	}
	ann, _, err := f.store.Subscribe(ctx, subscribers.SubscribeRequest{
		Address: "ann@example.com", ListID: other.ID, Frequency: subscribers.Weekly, Cause: testCause,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.ChangeAddress(ctx, ann.Subscriber.ID, "bob@example.com", subscribers.Merge, testCause); err != nil {
		t.Fatal(err)
	}
	var moved uuid.UUID
	if err := f.db.Get(&moved, `SELECT id FROM subscriptions WHERE subscriber_id = $1 AND subscriber_list_id = $2 AND ended_at IS NULL`,
		ann.Subscriber.ID, f.list.ID); err != nil {
		t.Fatalf("bob's subscription did not move to ann: %v", err)
	}

	checked, err := f.service.CheckUnsubscribeToken(ctx, token)
	if err != nil || checked.ID != moved || !checked.Active() {
		t.Fatalf("check: %s (active %v), %v; want ann's active %s", checked.ID, checked.Active(), err, moved)
	}
	ended, didEnd, err := f.service.UnsubscribeByToken(ctx, token)
	if err != nil || !didEnd || ended.ID != moved {
		t.Fatalf("unsubscribe: %s, ended %v, %v; want %s ended", ended.ID, didEnd, err, moved)
	}
	// Ann's own subscription to the other list is untouched.
	if active := f.activeIDs(t); len(active) != 1 || active[0] != ann.ID {
		t.Errorf("active after unsubscribing: %v, want only ann's %s", active, ann.ID)
	}
}
