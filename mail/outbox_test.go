package mail_test

import (
	"context"
	"testing"

	"email-alert/internal/testkit/testdb"
	"email-alert/mail"
)

func TestLatest(t *testing.T) {
	t.Parallel()
	db, _ := testdb.New(t)
	first := write(t, db, "ann@example.com")
	if _, err := db.Exec(`UPDATE emails SET created_at = now() - interval '1 minute' WHERE id = $1`, first); err != nil {
		t.Fatal(err)
	}
	second := write(t, db, "bob@example.com")
	write(t, db, "cat@example.com")
	if _, err := db.Exec(`UPDATE emails SET created_at = now() - interval '2 minutes' WHERE address = 'cat@example.com'`); err != nil {
		t.Fatal(err)
	}
	got, err := mail.Latest(context.Background(), db, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != second || got[1].ID != first {
		t.Fatalf("Latest(2) = %+v; want bob's email, then ann's", got)
	}
	if e := got[0]; e.Address != "bob@example.com" || e.Kind != "test" || e.Subject != "Hello" || e.Body != "Body" ||
		e.Status != "pending" || e.CreatedAt.IsZero() {
		t.Errorf("Latest()[0] = %+v", e)
	}
}
