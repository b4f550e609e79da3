package migrations_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"email-alert/internal/testkit/testdb"
	"email-alert/migrations"
	"email-alert/subscribers"
)

// TestCanonicalAddresses migrates a schema holding one mailbox in several
// spellings to 00009: the spellings become one subscriber, which keeps the
// address in its canonical form and the merged subscriptions.
func TestCanonicalAddresses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := testdb.Empty(t)
	if err := migrations.UpTo(ctx, db.DB, 8); err != nil {
		t.Fatal(err)
	}
	// zoe: three spellings; the oldest keeps the row. ann: the linked one
	// keeps it, though it is younger. bob: alone, just rewritten. eve: a
	// domain IDNA refuses, left alone.
	if _, err := db.Exec(`
		INSERT INTO subscriber_lists (id, slug, title) VALUES (1, 'tax', 'Tax'), (2, 'news', 'News'), (3, 'travel', 'Travel');
		INSERT INTO subscribers (id, address, govuk_account_id) VALUES
			(1, 'Zoe@exämple.com', NULL), (2, 'zoe@XN--EXMPLE-CUA.COM', NULL), (3, 'ZOE@ｅｘäｍｐｌｅ．ｃｏｍ', NULL),
			(4, 'ann@exämple.com', NULL), (5, 'ann@xn--exmple-cua.com', 'urn:fdc:gov.uk:2022:ann'),
			(6, 'bob@exämple.com', NULL), (7, 'eve@exämple..com', NULL), (8, 'kim@example.com', NULL);
		INSERT INTO subscriptions (subscriber_id, subscriber_list_id, frequency, source) VALUES
			(1, 1, 'weekly', 'user_signed_up'), (2, 1, 'immediately', 'user_signed_up'), (2, 2, 'daily', 'user_signed_up'),
			(3, 2, 'weekly', 'user_signed_up'), (3, 3, 'daily', 'user_signed_up'),
			(4, 1, 'daily', 'user_signed_up'), (5, 1, 'weekly', 'user_signed_up'),
			(6, 1, 'daily', 'user_signed_up'), (8, 1, 'daily', 'user_signed_up');
		INSERT INTO subscriptions (subscriber_id, subscriber_list_id, frequency, source, ended_at, ended_reason)
			VALUES (3, 1, 'daily', 'user_signed_up', now(), 'unsubscribed');`); err != nil {
		t.Fatal(err)
	}
	if _, err := migrations.Up(ctx, db.DB); err != nil {
		t.Fatal(err)
	}

	type subscriber struct {
		ID      int64   `db:"id"`
		Address *string `db:"address"`
	}
	var got []subscriber
	if err := db.Select(&got, `SELECT id, address FROM subscribers ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	s := func(v string) *string { return &v }
	want := []subscriber{
		{1, s("Zoe@xn--exmple-cua.com")}, {2, nil}, {3, nil}, {4, nil}, {5, s("ann@xn--exmple-cua.com")},
		{6, s("bob@xn--exmple-cua.com")}, {7, s("eve@exämple..com")}, {8, s("kim@example.com")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("subscribers (-want +got):\n%s", diff)
	}
	for _, spelling := range []string{"zoe@exämple.com", "ZOE@XN--EXMPLE-CUA.COM", "zoe@ｅｘäｍｐｌｅ．ｃｏｍ"} {
		address, ok := subscribers.NormalizeAddress(spelling)
		sub, err := subscribers.SubscriberByAddress(ctx, db, address)
		if !ok || err != nil || sub.ID != 1 {
			t.Errorf("%q (%q) finds %d, %v; want subscriber 1", spelling, address, sub.ID, err)
		}
	}

	type subscription struct {
		Subscriber int64   `db:"subscriber_id"`
		List       int64   `db:"subscriber_list_id"`
		Frequency  string  `db:"frequency"`
		Source     string  `db:"source"`
		Ended      *string `db:"ended_reason"`
	}
	var active []subscription
	if err := db.Select(&active, `SELECT subscriber_id, subscriber_list_id, frequency, source, ended_reason
		FROM subscriptions WHERE ended_at IS NULL ORDER BY subscriber_id, subscriber_list_id`); err != nil {
		t.Fatal(err)
	}
	wantActive := []subscription{
		{1, 1, "immediately", "subscriber_merged", nil}, // the more frequent of 2's and 1's
		{1, 2, "daily", "subscriber_merged", nil},       // 2's daily beats 3's weekly
		{1, 3, "daily", "subscriber_merged", nil},
		{5, 1, "daily", "subscriber_merged", nil},
		{6, 1, "daily", "user_signed_up", nil},
		{8, 1, "daily", "user_signed_up", nil},
	}
	if diff := cmp.Diff(wantActive, active); diff != "" {
		t.Errorf("active subscriptions (-want +got):\n%s", diff)
	}
	var endedMerged int
	if err := db.Get(&endedMerged, `SELECT count(*) FROM subscriptions WHERE ended_reason = 'subscriber_merged'`); err != nil {
		t.Fatal(err)
	}
	if endedMerged != 7 { // 1's weekly; 2's two; 3's two; 4's one; 5's weekly
		t.Errorf("%d subscriptions ended subscriber_merged, want 7", endedMerged)
	}

	type entry struct {
		Subscriber int64  `db:"subscriber_id"`
		Action     string `db:"action"`
		Cause      string `db:"cause"`
		Details    string `db:"details"`
	}
	var audit []entry
	if err := db.Select(&audit, `SELECT subscriber_id, action, cause_kind || ':' || cause_id AS cause, details::text AS details
		FROM subscriber_audit ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	const cause = "system:migration 00009"
	merged := func(from, into, moved int) string {
		return `{"from_subscriber_id": ` + itoa(from) + `, "into_subscriber_id": ` + itoa(into) + `, "subscriptions_moved": ` + itoa(moved) + `}`
	}
	const normalised = `{"reason": "idna_normalisation"}`
	wantAudit := []entry{
		{4, "merged", cause, merged(4, 5, 1)}, {5, "merged", cause, merged(4, 5, 1)},
		{2, "merged", cause, merged(2, 1, 2)}, {1, "merged", cause, merged(2, 1, 2)},
		{3, "merged", cause, merged(3, 1, 2)}, {1, "merged", cause, merged(3, 1, 2)},
		{1, "address_changed", cause, normalised}, {6, "address_changed", cause, normalised},
	}
	if diff := cmp.Diff(wantAudit, audit); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

func itoa(n int) string { return string(rune('0' + n)) }
