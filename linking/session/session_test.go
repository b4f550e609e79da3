package session_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jmoiron/sqlx"

	"email-alert/internal/lib/pgdb"
	"email-alert/internal/testkit/testdb"
	"email-alert/linking/onelogin"
	"email-alert/linking/session"
	"email-alert/subscribers"
)

// TestDeletedAccountSessionsNeverComeBack: deleting an account ends its
// sessions and leaves a tombstone, once; a session of that account is no
// longer found even if it were still in the table, and other accounts'
// sessions are untouched.
func TestDeletedAccountSessionsNeverComeBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := testdb.New(t)
	sessions := session.NewStore(db, subscribers.NewStore(db, nil))
	ann := onelogin.Account{Sub: "urn:fdc:gov.uk:2022:ann", Email: "ann@example.com", EmailVerified: true}
	bob := onelogin.Account{Sub: "urn:fdc:gov.uk:2022:bob", Email: "bob@example.com", EmailVerified: true}
	var annToken, bobToken string
	if err := pgdb.InTx(ctx, db, func(tx *sqlx.Tx) (err error) {
		if annToken, _, err = session.CreateAccount(ctx, tx, ann, "ann-id-token"); err != nil {
			return err
		}
		bobToken, _, err = session.CreateAccount(ctx, tx, bob, "bob-id-token")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if s, err := sessions.Get(ctx, annToken); err != nil || s.Method != session.MethodAccount || s.Account != ann || s.HasSubscriber() {
		t.Fatalf("ann's session before deletion: %+v, %v", s, err)
	}

	for range 2 { // a second deletion keeps the first tombstone
		if err := pgdb.InTx(ctx, db, func(tx *sqlx.Tx) error {
			return session.DeleteAccount(ctx, tx, ann.Sub, "event-1")
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sessions.Get(ctx, annToken); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("ann's session after deletion: err = %v, want ErrNoSession", err)
	}
	if s, err := sessions.Get(ctx, bobToken); err != nil || s.Account != bob {
		t.Errorf("bob's session after ann's deletion: %+v, %v", s, err)
	}
	for sub, want := range map[string]bool{ann.Sub: true, bob.Sub: false} {
		if deleted, err := session.AccountDeleted(ctx, db, sub); err != nil || deleted != want {
			t.Errorf("AccountDeleted(%s) = %v, %v; want %v", sub, deleted, err, want)
		}
	}
	var tombstones int
	if err := db.GetContext(ctx, &tombstones, `SELECT count(*) FROM deleted_accounts WHERE sub = $1 AND event_id = 'event-1'`, ann.Sub); err != nil || tombstones != 1 {
		t.Errorf("%d tombstones (%v), want 1", tombstones, err)
	}

	// A session row of the deleted account that outlived the deletion (a
	// sign-in finishing at the same moment) is still not live.
	if err := pgdb.InTx(ctx, db, func(tx *sqlx.Tx) (err error) {
		annToken, _, err = session.CreateAccount(ctx, tx, ann, "ann-id-token")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := sessions.Get(ctx, annToken); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("new session of a deleted account: err = %v, want ErrNoSession", err)
	}
}

// TestEndForSignOut: signing out ends the session and hands back the ID
// token of an account session; a second sign-out, or a malformed token,
// finds nothing.
func TestEndForSignOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := testdb.New(t)
	sessions := session.NewStore(db, subscribers.NewStore(db, nil))
	var token string
	if err := pgdb.InTx(ctx, db, func(tx *sqlx.Tx) (err error) {
		token, _, err = session.CreateAccount(ctx, tx, onelogin.Account{Sub: "urn:test:ann"}, "the-id-token")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	account, idToken, err := sessions.EndForSignOut(ctx, token)
	if err != nil || !account || idToken != "the-id-token" {
		t.Fatalf("sign-out: account %v, ID token %q, %v", account, idToken, err)
	}
	for _, tok := range []string{token, "not a token"} {
		if _, _, err := sessions.EndForSignOut(ctx, tok); !errors.Is(err, session.ErrNoSession) {
			t.Errorf("sign-out of %q: err = %v, want ErrNoSession", tok, err)
		}
	}
}
