package linking_test

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"email-alert/internal/testdb"
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

func TestSignInToken(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	ann := f.subscriber(t, "ann@example.com")
	if _, err := f.service.MagicLinks.RequestSignIn(ctx, "ANN@example.com", "/email/manage/authenticate/process?from=api"); err != nil {
		t.Fatal(err)
	}
	u, token := f.lastLink(t)
	if u.Path != "/email/manage/authenticate/process" || u.Query().Get("from") != "api" || len(token) != 43 {
		t.Errorf("link %s: want the destination with its query and a 43-character token", u)
	}
	var stored int
	if err := f.db.Get(&stored, `SELECT count(*) FROM auth_tokens WHERE token_hash = convert_to($1, 'UTF8')`, token); err != nil || stored != 0 {
		t.Errorf("the token is stored in clear (%d rows, %v)", stored, err)
	}

	sessionToken, got, err := f.service.MagicLinks.RedeemSignIn(ctx, token)
	if err != nil || got.ID != ann.ID || sessionToken == "" {
		t.Fatalf("redeem: %v, subscriber %d, session %q", err, got.ID, sessionToken)
	}
	s, err := f.service.Sessions.Get(ctx, sessionToken)
	if err != nil || s.Subscriber.ID != ann.ID || s.Method != session.MethodMagicLink {
		t.Errorf("session: %+v, %v", s, err)
	}
	if _, _, err := f.service.MagicLinks.RedeemSignIn(ctx, token); !errors.Is(err, magiclink.ErrTokenInvalid) {
		t.Errorf("second use: err = %v, want ErrTokenInvalid", err)
	}
	if err := f.service.Sessions.End(ctx, sessionToken); err != nil {
		t.Fatal(err)
	}
	if _, err := f.service.Sessions.Get(ctx, sessionToken); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("ended session: err = %v, want ErrNoSession", err)
	}
}

func TestSignInTokenRejected(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		spoil func(t *testing.T, f *fixture, token string) string
	}{
		{"expired", func(t *testing.T, f *fixture, token string) string {
			if _, err := f.db.Exec(`UPDATE auth_tokens SET expires_at = now() - interval '1 second'`); err != nil {
				t.Fatal(err)
			}
			return token
		}},
		{"tampered", func(t *testing.T, f *fixture, token string) string {
			last := "A"
			if strings.HasSuffix(token, "A") {
				last = "B"
			}
			return token[:len(token)-1] + last
		}},
		{"truncated", func(t *testing.T, f *fixture, token string) string { return token[:20] }},
		{"empty", func(t *testing.T, f *fixture, token string) string { return "" }},
		{"not base64", func(t *testing.T, f *fixture, token string) string { return strings.Repeat("!", 43) }},
		{"subscriber linked since", func(t *testing.T, f *fixture, token string) string {
			var id int64
			if err := f.db.Get(&id, `SELECT id FROM subscribers`); err != nil {
				t.Fatal(err)
			}
			f.link(t, id, "urn:fdc:gov.uk:2022:ann")
			return token
		}},
		{"confirmation token used to sign in", func(t *testing.T, f *fixture, token string) string {
			if err := f.service.MagicLinks.RequestConfirmation(ctx, "ann@example.com", "tax-news", subscribers.Weekly); err != nil {
				t.Fatal(err)
			}
			_, confirm := f.lastLink(t)
			return confirm
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			f.subscriber(t, "ann@example.com")
			if _, err := f.service.MagicLinks.RequestSignIn(ctx, "ann@example.com", "/email/manage"); err != nil {
				t.Fatal(err)
			}
			_, token := f.lastLink(t)
			if _, _, err := f.service.MagicLinks.RedeemSignIn(ctx, tt.spoil(t, f, token)); !errors.Is(err, magiclink.ErrTokenInvalid) {
				t.Errorf("err = %v, want ErrTokenInvalid", err)
			}
		})
	}
}

func TestRequestSignIn(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	ann := f.subscriber(t, "ann@example.com")
	bob := f.subscriber(t, "bob@example.com")
	f.link(t, bob.ID, "urn:fdc:gov.uk:2022:bob")

	if _, err := f.service.MagicLinks.RequestSignIn(ctx, "nobody@example.com", "/email/manage"); !errors.Is(err, subscribers.ErrNotFound) {
		t.Errorf("unknown address: err = %v, want ErrNotFound", err)
	}
	if _, err := f.service.MagicLinks.RequestSignIn(ctx, "bob@example.com", "/email/manage"); !errors.Is(err, magiclink.ErrLinked) {
		t.Errorf("linked subscriber: err = %v, want ErrLinked", err)
	}
	for _, bad := range []string{"//evil.example/x", "http://evil.example", "/\\evil.example", "evil", "", "/a#b", "/a\nb", "https:/evil"} {
		if _, err := f.service.MagicLinks.RequestSignIn(ctx, "ann@example.com", bad); !errors.Is(err, magiclink.ErrBadDestination) {
			t.Errorf("destination %q: err = %v, want ErrBadDestination", bad, err)
		}
	}
	if n := len(f.emails(t)); n != 0 {
		t.Errorf("%d emails written, want none", n)
	}
	if _, err := f.service.MagicLinks.RequestSignIn(ctx, "ann@example.com", "/email/manage"); err != nil {
		t.Fatal(err)
	}
	got := f.emails(t)
	if len(got) != 1 || got[0].Kind != mail.KindSignIn || got[0].Address != "ann@example.com" {
		t.Errorf("emails %+v, want one sign-in email to ann", got)
	}
	_ = ann
}

func TestRequestManageLink(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	f.subscriber(t, "ann@example.com")
	bob := f.subscriber(t, "bob@example.com")
	f.link(t, bob.ID, "urn:fdc:gov.uk:2022:bob")

	for _, address := range []string{"ann@example.com", "bob@example.com", "nobody@example.com"} {
		if err := f.service.MagicLinks.RequestManageLink(ctx, address, ""); err != nil {
			t.Fatalf("%s: %v", address, err)
		}
	}
	got := f.emails(t)
	if len(got) != 2 {
		t.Fatalf("emails %+v, want two (none for the unknown address)", got)
	}
	if got[0].Kind != mail.KindSignIn || got[0].Address != "ann@example.com" ||
		!strings.Contains(got[0].Body, "https://www.gov.uk/email/manage/authenticate/process?token=") {
		t.Errorf("ann's email %+v, want a sign-in link", got[0])
	}
	if got[1].Kind != mail.KindUseOneLogin || got[1].Address != "bob@example.com" || strings.Contains(got[1].Body, "token=") {
		t.Errorf("bob's email %+v, want the One Login email without a token", got[1])
	}
	for _, e := range got {
		if strings.Contains(e.Body, "redirect_path") {
			t.Errorf("%s's email without a redirect path has one: %s", e.Address, e.Body)
		}
	}
}

// TestRequestManageLinkReturnsToRedirectPath: both kinds of link return the
// person where they were going, but only to a path on this site.
func TestRequestManageLinkReturnsToRedirectPath(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	f.subscriber(t, "ann@example.com")
	bob := f.subscriber(t, "bob@example.com")
	f.link(t, bob.ID, "urn:fdc:gov.uk:2022:bob")
	const back = "/email/manage/frequency/5b7f?x=1"
	for _, address := range []string{"ann@example.com", "bob@example.com"} {
		if err := f.service.MagicLinks.RequestManageLink(ctx, address, back); err != nil {
			t.Fatal(err)
		}
	}
	got := f.emails(t)
	want := []string{
		"https://www.gov.uk/email/manage/authenticate/process?",
		"https://www.gov.uk/email/manage/authenticate/account?",
	}
	for i, e := range got {
		if !strings.Contains(e.Body, want[i]) || !strings.Contains(e.Body, "redirect_path="+url.QueryEscape(back)) {
			t.Errorf("%s's email does not return to %s:\n%s", e.Address, back, e.Body)
		}
	}
	if err := f.service.MagicLinks.RequestManageLink(ctx, "ann@example.com", "//evil.example/"); err != nil {
		t.Fatal(err)
	}
	if got := f.emails(t); strings.Contains(got[len(got)-1].Body, "evil") {
		t.Errorf("an off-site redirect path reached the email:\n%s", got[len(got)-1].Body)
	}
}

func TestConfirmSubscription(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	if err := f.service.MagicLinks.RequestConfirmation(ctx, "Carol@example.com", "tax-news", subscribers.Weekly); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := f.db.Get(&n, `SELECT (SELECT count(*) FROM subscribers) + (SELECT count(*) FROM subscriptions)`); err != nil || n != 0 {
		t.Fatalf("requesting a confirmation created %d rows, want none", n)
	}
	u, token := f.lastLink(t)
	if u.Path != magiclink.ConfirmPath || u.Query().Get("topic_id") != "tax-news" || u.Query().Get("frequency") != "weekly" {
		t.Errorf("link %s", u)
	}
	if _, err := f.service.MagicLinks.RedeemConfirmation(ctx, token, "tax-news", "daily"); !errors.Is(err, magiclink.ErrTokenInvalid) {
		t.Errorf("frequency changed in the link: err = %v, want ErrTokenInvalid", err)
	}
	if _, _, err := f.service.MagicLinks.RedeemSignIn(ctx, token); !errors.Is(err, magiclink.ErrTokenInvalid) {
		t.Errorf("confirmation token as a sign-in token: err = %v, want ErrTokenInvalid", err)
	}
	got, err := f.service.MagicLinks.RedeemConfirmation(ctx, token, "tax-news", "weekly")
	if err != nil {
		t.Fatal(err)
	}
	if got.Session == "" || got.Subscription.Frequency != subscribers.Weekly || *got.Subscription.Subscriber.Address != "Carol@example.com" {
		t.Errorf("confirmed %+v", got)
	}
	again, err := f.service.MagicLinks.RedeemConfirmation(ctx, token, "tax-news", "weekly")
	if err != nil || !again.Used || again.Session != "" || again.Subscription.ID != got.Subscription.ID || !again.Subscription.Active() {
		t.Errorf("second click: %+v, %v; want the same subscription, used, and no session", again, err)
	}
	emails := f.emails(t)
	if last := emails[len(emails)-1]; last.Kind != mail.KindSubscribed || last.Subject != "You’ve subscribed to: Tax news" {
		t.Errorf("last email %+v, want the subscribed email", last)
	}

	if _, err := f.db.Exec(`UPDATE auth_tokens SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.service.MagicLinks.RedeemConfirmation(ctx, token, "tax-news", "weekly"); !errors.Is(err, magiclink.ErrTokenInvalid) {
		t.Errorf("expired: err = %v, want ErrTokenInvalid", err)
	}
	if err := f.service.MagicLinks.RequestConfirmation(ctx, "carol@example.com", "nope", subscribers.Weekly); !errors.Is(err, subscribers.ErrListNotFound) {
		t.Errorf("unknown list: err = %v, want ErrListNotFound", err)
	}
}

func TestConfirmSubscriptionOfLinkedSubscriberOpensNoSession(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	dan := f.subscriber(t, "dan@example.com")
	f.link(t, dan.ID, "urn:fdc:gov.uk:2022:dan")
	other, _, err := f.store.FindOrCreateList(ctx, subscribers.NewList{Title: "Travel", Slug: "travel"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.service.MagicLinks.RequestConfirmation(ctx, "dan@example.com", other.Slug, subscribers.Daily); err != nil {
		t.Fatal(err)
	}
	_, token := f.lastLink(t)
	got, err := f.service.MagicLinks.RedeemConfirmation(ctx, token, other.Slug, "daily")
	if err != nil || got.Session != "" || got.Subscription.List.ID != other.ID {
		t.Errorf("linked subscriber: %+v, %v; want subscribed and no session", got, err)
	}
}

func TestMagicLinkSessionEndsWhenLinked(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	ann := f.subscriber(t, "ann@example.com")
	if _, err := f.service.MagicLinks.RequestSignIn(ctx, "ann@example.com", "/email/manage"); err != nil {
		t.Fatal(err)
	}
	_, token := f.lastLink(t)
	sessionToken, _, err := f.service.MagicLinks.RedeemSignIn(ctx, token)
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
		if _, err := f.service.MagicLinks.RequestSignIn(ctx, "ann@example.com", "/email/manage"); err != nil {
			t.Fatal(err)
		}
	}
	_, token := f.lastLink(t)
	if _, _, err := f.service.MagicLinks.RedeemSignIn(ctx, token); err != nil {
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
