package app_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"email-alert/internal/testkit/sqlrecord"
	"email-alert/internal/testkit/testdb"
	"email-alert/internal/testkit/testrig"
)

// TestSubscribeStatements counts the statements POST /subscriptions sends
// for a known address on a new list, the request the service takes most:
// the subscription (with its subscriber's lock and the check for an active
// one) in one, the unsubscribe token and the "You've subscribed" email in
// another. Each statement is a round trip to PostgreSQL, besides the
// transaction's begin and commit.
func TestSubscribeStatements(t *testing.T) {
	t.Parallel()
	_, dsn := testdb.New(t)
	db, rec, err := sqlrecord.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	api := testrig.NewAppOn(t, db, map[string]string{"DATABASE_URL": dsn}).APIRouter()
	call := func(path, body string) {
		t.Helper()
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testrig.Token)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		api.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("POST %s: %d %s", path, w.Code, w.Body)
		}
	}
	for i := range 2 {
		call("/subscriber-lists", fmt.Sprintf(`{"title":"List %d","url":"/list/%d"}`, i, i))
	}
	call("/subscriptions", `{"address":"someone@example.com","subscriber_list_id":1}`)

	rec.Reset()
	call("/subscriptions", `{"address":"Someone@example.com","subscriber_list_id":2,"frequency":"daily"}`)
	statements := rec.Statements()
	if len(statements) != 2 {
		var b strings.Builder
		for _, s := range statements {
			fmt.Fprintf(&b, "\n---%s", s.Query)
		}
		t.Errorf("subscribing a known address sent %d statements, want 2:%s", len(statements), b.String())
	}
	var emails, tokens int
	if err := db.Get(&emails, `SELECT count(*) FROM emails WHERE kind = 'subscribed'`); err != nil {
		t.Fatal(err)
	}
	if err := db.Get(&tokens, `SELECT count(*) FROM auth_tokens WHERE purpose = 'unsubscribe'`); err != nil {
		t.Fatal(err)
	}
	if emails != 2 || tokens != 2 {
		t.Errorf("%d subscribed emails and %d unsubscribe tokens, want 2 of each", emails, tokens)
	}
}
