package magiclink_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"email-alert/linking/magiclink"
	"email-alert/linking/session"
	"email-alert/mail"
	"email-alert/subscribers"
)

func TestSignInToken(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	ann := f.subscriber(t, "ann@example.com")
	if _, err := f.service.RequestSignIn(ctx, "ANN@example.com", "/email/manage/authenticate/process?from=api", ""); err != nil {
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

	sessionToken, got, err := f.service.RedeemSignIn(ctx, token, "")
	if err != nil || got.ID != ann.ID || sessionToken == "" {
		t.Fatalf("redeem: %v, subscriber %d, session %q", err, got.ID, sessionToken)
	}
	s, err := f.sessions.Get(ctx, sessionToken)
	if err != nil || s.Subscriber.ID != ann.ID || s.Method != session.MethodMagicLink {
		t.Errorf("session: %+v, %v", s, err)
	}
	if _, _, err := f.service.RedeemSignIn(ctx, token, ""); !errors.Is(err, magiclink.ErrTokenInvalid) {
		t.Errorf("second use: err = %v, want ErrTokenInvalid", err)
	}
	if err := f.sessions.End(ctx, sessionToken); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sessions.Get(ctx, sessionToken); !errors.Is(err, session.ErrNoSession) {
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
			if err := f.service.RequestConfirmation(ctx, "ann@example.com", "tax-news", subscribers.Weekly, ""); err != nil {
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
			if _, err := f.service.RequestSignIn(ctx, "ann@example.com", "/email/manage", ""); err != nil {
				t.Fatal(err)
			}
			_, token := f.lastLink(t)
			if _, _, err := f.service.RedeemSignIn(ctx, tt.spoil(t, f, token), ""); !errors.Is(err, magiclink.ErrTokenInvalid) {
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

	if _, err := f.service.RequestSignIn(ctx, "nobody@example.com", "/email/manage", ""); !errors.Is(err, subscribers.ErrNotFound) {
		t.Errorf("unknown address: err = %v, want ErrNotFound", err)
	}
	if _, err := f.service.RequestSignIn(ctx, "bob@example.com", "/email/manage", ""); !errors.Is(err, magiclink.ErrLinked) {
		t.Errorf("linked subscriber: err = %v, want ErrLinked", err)
	}
	for _, bad := range []string{"//evil.example/x", "http://evil.example", "/\\evil.example", "evil", "", "/a#b", "/a\nb", "https:/evil"} {
		if _, err := f.service.RequestSignIn(ctx, "ann@example.com", bad, ""); !errors.Is(err, magiclink.ErrBadDestination) {
			t.Errorf("destination %q: err = %v, want ErrBadDestination", bad, err)
		}
	}
	if n := len(f.emails(t)); n != 0 {
		t.Errorf("%d emails written, want none", n)
	}
	if _, err := f.service.RequestSignIn(ctx, "ann@example.com", "/email/manage", ""); err != nil {
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
		if err := f.service.RequestManageLink(ctx, address, "", ""); err != nil {
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
		if err := f.service.RequestManageLink(ctx, address, back, ""); err != nil {
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
	if err := f.service.RequestManageLink(ctx, "ann@example.com", "//evil.example/", ""); err != nil {
		t.Fatal(err)
	}
	if got := f.emails(t); strings.Contains(got[len(got)-1].Body, "evil") {
		t.Errorf("an off-site redirect path reached the email:\n%s", got[len(got)-1].Body)
	}
}

func TestConfirmSubscription(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	if err := f.service.RequestConfirmation(ctx, "Carol@example.com", "tax-news", subscribers.Weekly, ""); err != nil {
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
	if _, err := f.service.RedeemConfirmation(ctx, token, "tax-news", "daily", ""); !errors.Is(err, magiclink.ErrTokenInvalid) {
		t.Errorf("frequency changed in the link: err = %v, want ErrTokenInvalid", err)
	}
	if _, _, err := f.service.RedeemSignIn(ctx, token, ""); !errors.Is(err, magiclink.ErrTokenInvalid) {
		t.Errorf("confirmation token as a sign-in token: err = %v, want ErrTokenInvalid", err)
	}
	got, err := f.service.RedeemConfirmation(ctx, token, "tax-news", "weekly", "")
	if err != nil {
		t.Fatal(err)
	}
	if got.Session == "" || got.Subscription.Frequency != subscribers.Weekly || *got.Subscription.Subscriber.Address != "Carol@example.com" {
		t.Errorf("confirmed %+v", got)
	}
	again, err := f.service.RedeemConfirmation(ctx, token, "tax-news", "weekly", "")
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
	if _, err := f.service.RedeemConfirmation(ctx, token, "tax-news", "weekly", ""); !errors.Is(err, magiclink.ErrTokenInvalid) {
		t.Errorf("expired: err = %v, want ErrTokenInvalid", err)
	}
	if err := f.service.RequestConfirmation(ctx, "carol@example.com", "nope", subscribers.Weekly, ""); !errors.Is(err, subscribers.ErrListNotFound) {
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
	if err := f.service.RequestConfirmation(ctx, "dan@example.com", other.Slug, subscribers.Daily, ""); err != nil {
		t.Fatal(err)
	}
	_, token := f.lastLink(t)
	got, err := f.service.RedeemConfirmation(ctx, token, other.Slug, "daily", "")
	if err != nil || got.Session != "" || got.Subscription.List.ID != other.ID {
		t.Errorf("linked subscriber: %+v, %v; want subscribed and no session", got, err)
	}
}
