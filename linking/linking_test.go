package linking_test

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"testing"

	"github.com/jmoiron/sqlx"

	"email-alert/internal/testkit/testdb"
	"email-alert/linking"
	"email-alert/linking/magiclink"
	"email-alert/linking/session"
	"email-alert/mail"
	"email-alert/subscribers"
	"email-alert/templates"
)

type fixture struct {
	db      *sqlx.DB
	store   *subscribers.Store
	service *linking.Service
	list    subscribers.List
}

func setup(t *testing.T) *fixture {
	t.Helper()
	t.Parallel()
	db, _ := testdb.New(t)
	return fixtureOn(t, db)
}

// fixtureOn is setup on a database the test has migrated itself.
func fixtureOn(t *testing.T, db *sqlx.DB) *fixture {
	t.Helper()
	emails, err := mail.ParseTemplates(templates.Email)
	if err != nil {
		t.Fatal(err)
	}
	public, _ := url.Parse("https://www.gov.uk")
	store := subscribers.NewStore(db, magiclink.SubscribedEmail(emails, public))
	f := &fixture{db: db, store: store, service: linking.NewService(db, store, emails, public, nil)}
	f.list, _, err = store.FindOrCreateList(context.Background(), subscribers.NewList{Title: "Tax news", Slug: "tax-news"})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// subscriber subscribes address to the fixture's list.
func (f *fixture) subscriber(t *testing.T, address string) subscribers.Subscriber {
	t.Helper()
	sub, _, err := f.store.Subscribe(context.Background(), subscribers.SubscribeRequest{
		Address: address, ListID: f.list.ID, Frequency: subscribers.Daily, SkipConfirmMail: true, Cause: testCause,
	})
	if err != nil {
		t.Fatal(err)
	}
	return sub.Subscriber
}

func (f *fixture) link(t *testing.T, subscriberID int64, sub string) {
	t.Helper()
	if _, err := f.db.Exec(`UPDATE subscribers SET govuk_account_id = $2, linked_at = now() WHERE id = $1`, subscriberID, sub); err != nil {
		t.Fatal(err)
	}
}

type email struct {
	Kind, Address, Subject, Body string
}

func (f *fixture) emails(t *testing.T) []email {
	t.Helper()
	var out []email
	if err := f.db.Select(&out, `SELECT kind, address, subject, body FROM emails ORDER BY created_at`); err != nil {
		t.Fatal(err)
	}
	return out
}

var linkPattern = regexp.MustCompile(`https://www\.gov\.uk/\S+`)

// lastLink returns the link in the newest email and its token.
func (f *fixture) lastLink(t *testing.T) (*url.URL, string) {
	t.Helper()
	all := f.emails(t)
	if len(all) == 0 {
		t.Fatal("no email written")
	}
	raw := linkPattern.FindString(all[len(all)-1].Body)
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		t.Fatalf("no link in %q", all[len(all)-1].Body)
	}
	return u, u.Query().Get("token")
}

func TestMagicLinkSessionEndsWhenLinked(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	ann := f.subscriber(t, "ann@example.com")
	if _, err := f.service.MagicLinks.RequestSignIn(ctx, "ann@example.com", "/email/manage", ""); err != nil {
		t.Fatal(err)
	}
	_, token := f.lastLink(t)
	sessionToken, _, err := f.service.MagicLinks.RedeemSignIn(ctx, token, "")
	if err != nil {
		t.Fatal(err)
	}
	f.link(t, ann.ID, "urn:fdc:gov.uk:2022:ann")
	if _, err := f.service.Sessions.Get(ctx, sessionToken); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("magic-link session after linking: err = %v, want ErrNoSession", err)
	}
}

func TestPurge(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	f.subscriber(t, "ann@example.com")
	for range 2 {
		if _, err := f.service.MagicLinks.RequestSignIn(ctx, "ann@example.com", "/email/manage", ""); err != nil {
			t.Fatal(err)
		}
	}
	_, token := f.lastLink(t)
	if _, _, err := f.service.MagicLinks.RedeemSignIn(ctx, token, ""); err != nil {
		t.Fatal(err)
	}
	// One token and the session expired two days ago; the other token is live.
	if _, err := f.db.Exec(`UPDATE auth_tokens SET expires_at = now() - interval '2 days' WHERE used_at IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Exec(`UPDATE sessions SET expires_at = now() - interval '2 days'`); err != nil {
		t.Fatal(err)
	}
	n, err := linking.Purge(ctx, f.db)
	if err != nil || n != 2 {
		t.Errorf("Purge = %d, %v; want 2 rows", n, err)
	}
	var left int
	if err := f.db.Get(&left, `SELECT count(*) FROM auth_tokens`); err != nil || left != 1 {
		t.Errorf("%d tokens left, want the live one", left)
	}
}
