package linking_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"email-alert/linking"
	"email-alert/linking/magiclink"
	"email-alert/linking/onelogin"
	"email-alert/linking/session"
	"email-alert/mail"
)

func TestLinkRules(t *testing.T) {
	ctx := context.Background()
	const sub, otherSub = "urn:fdc:gov.uk:2022:ann", "urn:fdc:gov.uk:2022:someone-else"
	// person is a subscriber (subscribed to the fixture's list) before Link.
	type person struct {
		address string
		linkTo  string // govuk_account_id, "" for none
	}
	tests := []struct {
		name    string
		before  []person
		account onelogin.Account
		wantErr error
		// the subscriber linked to sub afterwards: its address; "" for none
		wantAddress string
		wantEmails  []string // kinds written by Link
		check       func(t *testing.T, f *fixture)
	}{
		{
			name:        "new subscriber",
			account:     onelogin.Account{Sub: sub, Email: "Ann@Example.com", EmailVerified: true},
			wantAddress: "Ann@Example.com",
		},
		{
			name:        "existing unlinked subscriber with subscriptions gets the linked email",
			before:      []person{{address: "ann@example.com"}},
			account:     onelogin.Account{Sub: sub, Email: "ANN@example.com", EmailVerified: true},
			wantAddress: "ann@example.com",
			wantEmails:  []string{mail.KindAccountLinked},
		},
		{
			name: "already linked with a stale address: the account's email is applied with merge",
			before: []person{
				{address: "old@example.com", linkTo: sub},
				{address: "new@example.com"},
			},
			account:     onelogin.Account{Sub: sub, Email: "new@example.com", EmailVerified: true},
			wantAddress: "new@example.com",
			check: func(t *testing.T, f *fixture) {
				var nulled, active int
				if err := f.db.Get(&nulled, `SELECT count(*) FROM subscribers WHERE address IS NULL`); err != nil || nulled != 1 {
					t.Errorf("%d subscribers with a nulled address, want the merged one (%v)", nulled, err)
				}
				if err := f.db.Get(&active, `SELECT count(*) FROM subscriptions s JOIN subscribers p ON p.id = s.subscriber_id
					WHERE p.govuk_account_id = $1 AND s.ended_at IS NULL`, sub); err != nil || active != 1 {
					t.Errorf("%d active subscriptions on the linked subscriber, want 1 (%v)", active, err)
				}
			},
		},
		{
			name:        "address owned by a subscriber linked to another sub: the new account wins",
			before:      []person{{address: "ann@example.com", linkTo: otherSub}},
			account:     onelogin.Account{Sub: sub, Email: "ann@example.com", EmailVerified: true},
			wantAddress: "ann@example.com",
			check: func(t *testing.T, f *fixture) {
				var n int
				if err := f.db.Get(&n, `SELECT count(*) FROM subscribers WHERE govuk_account_id = $1`, otherSub); err != nil || n != 0 {
					t.Errorf("the other account is still linked (%d, %v)", n, err)
				}
			},
		},
		{
			name:    "unverified email is refused",
			before:  []person{{address: "ann@example.com"}},
			account: onelogin.Account{Sub: sub, Email: "ann@example.com", EmailVerified: false},
			wantErr: linking.ErrEmailUnverified,
		},
		{
			name:    "missing email is refused",
			account: onelogin.Account{Sub: sub, Email: "", EmailVerified: true},
			wantErr: linking.ErrEmailUnverified,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			for _, p := range tt.before {
				f.subscriber(t, p.address)
				if p.linkTo != "" {
					if _, err := f.db.Exec(`UPDATE subscribers SET govuk_account_id = $2 WHERE address = $1`, p.address, p.linkTo); err != nil {
						t.Fatal(err)
					}
				}
			}
			got, err := f.service.Link(ctx, tt.account, testCause)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			linked, lookupErr := f.store.SubscriberByAccount(ctx, sub)
			if tt.wantAddress == "" {
				if lookupErr == nil {
					t.Errorf("subscriber %d is linked, want none", linked.ID)
				}
				return
			}
			if lookupErr != nil || linked.Address == nil || *linked.Address != tt.wantAddress || got.ID != linked.ID {
				t.Errorf("linked subscriber %+v (%v), returned %d; want address %s", linked, lookupErr, got.ID, tt.wantAddress)
			}
			var kinds []string
			for _, e := range f.emails(t) {
				kinds = append(kinds, e.Kind)
			}
			if len(kinds) != len(tt.wantEmails) || (len(kinds) > 0 && kinds[0] != tt.wantEmails[0]) {
				t.Errorf("emails %v, want %v", kinds, tt.wantEmails)
			}
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

// TestLinkEndsMagicLinksAndSendsOneEmail: linking kills the subscriber's
// sign-in tokens and magic-link sessions; linking again sends nothing.
func TestLinkEndsMagicLinksAndSendsOneEmail(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	f.subscriber(t, "ann@example.com")
	if _, err := f.service.MagicLinks.RequestSignIn(ctx, "ann@example.com", "/email/manage", ""); err != nil {
		t.Fatal(err)
	}
	_, used := f.lastLink(t)
	sessionToken, _, err := f.service.MagicLinks.RedeemSignIn(ctx, used, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.service.MagicLinks.RequestSignIn(ctx, "ann@example.com", "/email/manage", ""); err != nil {
		t.Fatal(err)
	}
	_, unused := f.lastLink(t)

	account := onelogin.Account{Sub: "urn:fdc:gov.uk:2022:ann", Email: "ann@example.com", EmailVerified: true}
	for range 2 {
		if _, err := f.service.Link(ctx, account, testCause); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := f.service.MagicLinks.RedeemSignIn(ctx, unused, ""); !errors.Is(err, magiclink.ErrTokenInvalid) {
		t.Errorf("sign-in token issued before the link: err = %v, want ErrTokenInvalid", err)
	}
	if _, err := f.service.Sessions.Get(ctx, sessionToken); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("magic-link session after the link: err = %v, want ErrNoSession", err)
	}
	if _, err := f.service.MagicLinks.RequestSignIn(ctx, "ann@example.com", "/email/manage", ""); !errors.Is(err, magiclink.ErrLinked) {
		t.Errorf("magic link for a linked subscriber: err = %v, want ErrLinked", err)
	}
	var linkedEmails int
	if err := f.db.Get(&linkedEmails, `SELECT count(*) FROM emails WHERE kind = $1`, mail.KindAccountLinked); err != nil || linkedEmails != 1 {
		t.Errorf("%d linked-account emails after linking twice, want 1", linkedEmails)
	}
}

func TestLinkConcurrently(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	f.subscriber(t, "ann@example.com")
	account := onelogin.Account{Sub: "urn:fdc:gov.uk:2022:ann", Email: "ann@example.com", EmailVerified: true}
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.service.Link(ctx, account, testCause); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var linked, emails int
	if err := f.db.Get(&linked, `SELECT count(*) FROM subscribers WHERE govuk_account_id IS NOT NULL`); err != nil || linked != 1 {
		t.Errorf("%d linked subscribers, want 1", linked)
	}
	if err := f.db.Get(&emails, `SELECT count(*) FROM emails WHERE kind = $1`, mail.KindAccountLinked); err != nil || emails != 1 {
		t.Errorf("%d linked-account emails, want 1", emails)
	}
}

func TestFindOrCreateForAccount(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	ann := f.subscriber(t, "ann@example.com")
	got, err := f.service.FindOrCreateForAccount(ctx, onelogin.Account{Sub: "s1", Email: "ANN@example.com", EmailVerified: true}, testCause)
	if err != nil || got.ID != ann.ID || got.Linked() {
		t.Errorf("by address: %+v, %v; want ann, unlinked", got, err)
	}
	created, err := f.service.FindOrCreateForAccount(ctx, onelogin.Account{Sub: "s2", Email: "new@example.com", EmailVerified: true}, testCause)
	if err != nil || created.ID == ann.ID || created.Address == nil || *created.Address != "new@example.com" {
		t.Errorf("created: %+v, %v", created, err)
	}
	if _, err := f.db.Exec(`UPDATE subscribers SET govuk_account_id = 's3' WHERE id = $1`, ann.ID); err != nil {
		t.Fatal(err)
	}
	byLink, err := f.service.FindOrCreateForAccount(ctx, onelogin.Account{Sub: "s3", Email: "changed@example.com", EmailVerified: true}, testCause)
	if err != nil || byLink.ID != ann.ID {
		t.Errorf("by link: %+v, %v; want ann", byLink, err)
	}
	if _, err := f.service.FindOrCreateForAccount(ctx, onelogin.Account{Sub: "s4", Email: "x@example.com"}, testCause); !errors.Is(err, linking.ErrEmailUnverified) {
		t.Errorf("unverified: %v", err)
	}
}
