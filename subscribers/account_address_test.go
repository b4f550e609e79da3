package subscribers_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jmoiron/sqlx"

	"email-alert/subscribers"
)

// TestChangeAccountAddressIn: the account email-change rule, the one path
// of account events and sign-in. The linked subscriber gets the email,
// merging whoever holds it (linked or not); a difference of case alone is
// applied for an event's new email and left alone at sign-in; with no
// subscriber linked it is ErrNotFound and changes nothing.
func TestChangeAccountAddressIn(t *testing.T) {
	const sub = "urn:test:ann"
	tests := []struct {
		name        string
		newAddress  string
		from        subscribers.AccountEmail
		linkAnn     bool
		bobLinked   bool
		wantErr     error
		wantAddress string // ann's afterwards
		wantActive  int    // ann's active subscriptions afterwards
	}{
		{name: "event: new address, merging bob", newAddress: "bob@example.com", from: subscribers.EmailChanged, linkAnn: true,
			wantAddress: "bob@example.com", wantActive: 2},
		{name: "sign-in: new address, merging a linked bob", newAddress: "bob@example.com", from: subscribers.EmailAtSignIn, linkAnn: true, bobLinked: true,
			wantAddress: "bob@example.com", wantActive: 2},
		{name: "event: case alone is applied", newAddress: "Ann@Example.com", from: subscribers.EmailChanged, linkAnn: true,
			wantAddress: "Ann@Example.com", wantActive: 1},
		{name: "sign-in: case alone is the same address", newAddress: "Ann@Example.com", from: subscribers.EmailAtSignIn, linkAnn: true,
			wantAddress: "ann@example.com", wantActive: 1},
		{name: "no subscriber linked", newAddress: "bob@example.com", from: subscribers.EmailChanged,
			wantErr: subscribers.ErrNotFound, wantAddress: "ann@example.com", wantActive: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := setup(t)
			ann := f.subscribe(t, "ann@example.com", f.list(t, "News"), subscribers.Daily).Subscriber
			f.subscribe(t, "bob@example.com", f.list(t, "Tax"), subscribers.Weekly)
			if tt.linkAnn {
				if _, err := f.db.Exec(`UPDATE subscribers SET govuk_account_id = $2, linked_at = now() WHERE id = $1`, ann.ID, sub); err != nil {
					t.Fatal(err)
				}
			}
			if tt.bobLinked {
				if _, err := f.db.Exec(`UPDATE subscribers SET govuk_account_id = 'urn:test:bob', linked_at = now() WHERE address = 'bob@example.com'`); err != nil {
					t.Fatal(err)
				}
			}
			err := f.store.InTx(ctx, func(tx *sqlx.Tx) error {
				_, err := subscribers.ChangeAccountAddressIn(ctx, tx, sub, tt.newAddress, tt.from, testCause)
				return err
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			got, err := f.store.SubscriberByID(ctx, ann.ID)
			if err != nil || got.Address == nil || *got.Address != tt.wantAddress {
				t.Errorf("ann's address %v (%v), want %s", got.Address, err, tt.wantAddress)
			}
			if n := f.count(t, `SELECT count(*) FROM subscriptions WHERE subscriber_id = $1 AND ended_at IS NULL`, ann.ID); n != tt.wantActive {
				t.Errorf("ann has %d active subscriptions, want %d", n, tt.wantActive)
			}
		})
	}
}
