package migrations_test

import (
	"context"
	"database/sql"
	"testing"

	"email-alert/internal/testkit/testdb"
	"email-alert/migrations"
	"email-alert/subscribers"
)

// TestMergedIntoFromTheAuditTrail: migration 00030 records, for each
// subscriber merged before it, the one it went into, from the audit
// trail's merge entries.
func TestMergedIntoFromTheAuditTrail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := testdb.New(t)
	store := subscribers.NewStore(db, nil)
	cause := subscribers.APICause("test0000")
	list, _, err := store.FindOrCreateList(ctx, subscribers.NewList{Title: "News", Slug: "news"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, address := range []string{"ann@example.com", "bob@example.com", "cat@example.com"} {
		s, _, err := store.Subscribe(ctx, subscribers.SubscribeRequest{Address: address, ListID: list.ID, Frequency: subscribers.Daily, Cause: cause})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.Subscriber.ID)
	}
	ann, bob, cat := ids[0], ids[1], ids[2]
	// Ann takes bob's address (bob merges into her); cat is left alone.
	if _, err := store.ChangeAddress(ctx, ann, "bob@example.com", subscribers.Merge, cause); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Reapply(ctx, db.DB, 30); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id   int64
		want sql.NullInt64
	}{{ann, sql.NullInt64{}}, {bob, sql.NullInt64{Int64: ann, Valid: true}}, {cat, sql.NullInt64{}}} {
		var got sql.NullInt64
		if err := db.GetContext(ctx, &got, `SELECT merged_into FROM subscribers WHERE id = $1`, tc.id); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("subscriber %d: merged_into %v, want %v", tc.id, got, tc.want)
		}
	}
}
