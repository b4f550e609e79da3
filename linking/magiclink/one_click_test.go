package magiclink_test

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/google/uuid"

	"email-alert/linking/magiclink"
	"email-alert/subscribers"
)

// oneClick returns the one-click URL the newest email carries for
// List-Unsubscribe.
func (f *fixture) oneClick(t *testing.T) *url.URL {
	t.Helper()
	var raw *string
	if err := f.db.Get(&raw, `SELECT list_unsubscribe_url FROM emails ORDER BY created_at DESC LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	if raw == nil {
		t.Fatal("the newest email has no one-click URL")
	}
	u, err := url.Parse(*raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestSubscribedEmailOneClick: the "You've subscribed" email carries a
// one-click URL naming its subscription, with the token of its
// unsubscribe link; posting it ends the subscription active now, once,
// recorded in the audit trail with the one-click cause; any other email
// carries none.
func TestSubscribedEmailOneClick(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	first, token := f.unsubscribeToken(t, "ann@example.com", subscribers.Daily)
	u := f.oneClick(t)
	if want := "https://www.gov.uk/email/unsubscribe/one-click/" + first.ID.String(); u.Scheme+"://"+u.Host+u.Path != want {
		t.Errorf("one-click URL %s, want %s?token=…", u, want)
	}
	if got := u.Query().Get("token"); got != token {
		t.Errorf("one-click token %q, want the unsubscribe link's %q", got, token)
	}
	if err := f.service.RequestConfirmation(ctx, "bob@example.com", f.list.Slug, subscribers.Daily, "en"); err != nil {
		t.Fatal(err)
	}
	if n := f.count(t, `SELECT count(*) FROM emails WHERE kind = 'confirm_subscription' AND list_unsubscribe_url IS NOT NULL`); n != 0 {
		t.Errorf("%d confirmation emails with a one-click URL, want none", n)
	}

	now, err := f.store.ChangeFrequency(ctx, first.ID, subscribers.Weekly)
	if err != nil {
		t.Fatal(err)
	}
	ended, didEnd, err := f.service.OneClickUnsubscribe(ctx, first.ID, token)
	if err != nil || !didEnd || ended.ID != now.ID {
		t.Fatalf("one-click: %s, ended %v, %v; want %s (active now) ended", ended.ID, didEnd, err, now.ID)
	}
	if _, didEnd, err := f.service.OneClickUnsubscribe(ctx, first.ID, token); err != nil || didEnd {
		t.Errorf("second one-click: ended %v, %v; want nothing ended", didEnd, err)
	}
	trail, err := f.store.AuditTrail(ctx, first.Subscriber.ID)
	if err != nil {
		t.Fatal(err)
	}
	var endings []subscribers.AuditEntry
	for _, e := range trail {
		if e.Action == subscribers.AuditSubscriptionsEnded {
			endings = append(endings, e)
		}
	}
	if len(endings) != 1 || endings[0].Cause.Kind != subscribers.CauseOneClick || endings[0].Cause.ID == "" {
		t.Fatalf("endings in the audit trail: %+v, want one with the one_click cause", endings)
	}
	var tokenID string
	if err := f.db.Get(&tokenID, `SELECT id::text FROM auth_tokens WHERE purpose = 'unsubscribe'`); err != nil || endings[0].Cause.ID != tokenID {
		t.Errorf("cause id %q, want the token's id %q (%v)", endings[0].Cause.ID, tokenID, err)
	}
}

// TestOneClickRefusesAnotherURL: a token that is not a valid unsubscribe
// token, or whose URL names a subscription of someone else or of another
// list, ends nothing.
func TestOneClickRefusesAnotherURL(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	ann, token := f.unsubscribeToken(t, "ann@example.com", subscribers.Daily)
	bob, bobToken := f.unsubscribeToken(t, "bob@example.com", subscribers.Daily)
	other, _, err := f.store.FindOrCreateList(ctx, subscribers.NewList{Title: "Other news", Slug: "other-news"})
	if err != nil {
		t.Fatal(err)
	}
	annOther, _, err := f.store.Subscribe(ctx, subscribers.SubscribeRequest{
		Address: "ann@example.com", ListID: other.ID, Frequency: subscribers.Daily, SkipConfirmMail: true, Cause: testCause,
	})
	if err != nil {
		t.Fatal(err)
	}
	signIn := func() string {
		if _, err := f.service.RequestSignIn(ctx, "ann@example.com", "/email/manage", "en"); err != nil {
			t.Fatal(err)
		}
		_, tok := f.lastLink(t)
		return tok
	}()
	tests := []struct {
		name  string
		id    uuid.UUID
		token string
	}{
		{"another subscriber's subscription", bob.ID, token},
		{"the same subscriber's other list", annOther.ID, token},
		{"an unknown subscription", uuid.New(), token},
		{"a tampered token", ann.ID, token[:len(token)-2] + "xx"},
		{"no token", ann.ID, ""},
		{"a sign-in token", ann.ID, signIn},
		{"bob's token on ann's URL", ann.ID, bobToken},
	}
	for _, tt := range tests {
		if _, _, err := f.service.OneClickUnsubscribe(ctx, tt.id, tt.token); !errors.Is(err, magiclink.ErrTokenInvalid) {
			t.Errorf("%s: %v, want ErrTokenInvalid", tt.name, err)
		}
	}
	if n := len(f.activeIDs(t)); n != 3 {
		t.Errorf("%d active subscriptions, want all 3", n)
	}
}
