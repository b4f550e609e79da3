package migrations_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/lib/pq"

	"email-alert/internal/testkit/testdb"
	"email-alert/migrations"
	"email-alert/subscribers"
)

// TestNarrowMatchKeys: migration 00029 gives every stored list the match
// keys that subscribers.Criteria.MatchKeys gives a new list of the same
// criteria, whatever keys it had before.
func TestNarrowMatchKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := testdb.New(t)
	store := subscribers.NewStore(db, nil)
	page := uuid.MustParse("5f0b3e6a-1c1d-4c4e-9a57-3b8f0f1b2c3d")
	anyOf := func(vs ...string) subscribers.Rule {
		return subscribers.Rule{Operator: subscribers.OperatorAny, Values: vs}
	}
	allOf := func(vs ...string) subscribers.Rule {
		return subscribers.Rule{Operator: subscribers.OperatorAll, Values: vs}
	}
	cases := []subscribers.Criteria{
		{ContentID: &page},
		{Links: subscribers.Rules{"organisations": anyOf("hmrc")}},
		{Links: subscribers.Rules{"organisations": anyOf("hmrc"), "taxon_tree": anyOf("a", "b", "c")}, EmailDocumentSupertype: "news_and_communications"},
		{Links: subscribers.Rules{"taxon_tree": allOf("t1", "t2"), "organisations": anyOf("dfe", "hmrc")}},
		{Tags: subscribers.Rules{"topics": anyOf("x", "y")}, Links: subscribers.Rules{"people": anyOf("p", "q")}},
		{Tags: subscribers.Rules{"Topics": anyOf("x"), "topics": anyOf("y"), "_a": anyOf("z")}},
		{DocumentType: "guide", EmailDocumentSupertype: "publications"},
		{EmailDocumentSupertype: "publications", GovernmentDocumentSupertype: "statistics"},
		{GovernmentDocumentSupertype: "statistics"},
		{ContentID: &page, Links: subscribers.Rules{"organisations": anyOf("hmrc", "dfe")}, DocumentType: "guide"},
	}
	want := map[string][]string{}
	for i, c := range cases {
		l, _, err := store.FindOrCreateListWithCriteria(ctx, subscribers.NewList{Title: fmt.Sprintf("List %d", i), Slug: fmt.Sprintf("list-%d", i)}, true, c)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		want[l.Slug] = c.MatchKeys()
	}
	// Keys as stored before: every value of every criterion.
	if _, err := db.ExecContext(ctx, `UPDATE subscriber_lists SET match_keys = '{stale}'`); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Reapply(ctx, db.DB, 29); err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT slug, match_keys FROM subscriber_lists`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string][]string{}
	for rows.Next() {
		var slug string
		var keys pq.StringArray
		if err := rows.Scan(&slug, &keys); err != nil {
			t.Fatal(err)
		}
		got[slug] = keys
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("match keys after the migration (-Go +SQL):\n%s", diff)
	}
	var fastupdate []string
	if err := db.SelectContext(ctx, &fastupdate, `SELECT unnest(reloptions) FROM pg_class WHERE oid = 'subscriber_lists_match_keys_idx'::regclass`); err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(fastupdate, []string{"fastupdate=off"}) {
		t.Errorf("match keys index options %v, want fastupdate=off", fastupdate)
	}
}
