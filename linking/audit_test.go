package linking_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"email-alert/linking/magiclink"
	"email-alert/linking/onelogin"
	"email-alert/subscribers"
	"email-alert/subscribers/subscriberstest"
)

// testCause is the cause the tests of this package make changes with.
var testCause = subscribers.APICause("test0000")

// audited is the part of an audit entry the tests compare.
type audited = subscriberstest.Audited

func (f *fixture) audit(t *testing.T, id int64) []audited {
	t.Helper()
	return subscriberstest.Audit(t, f.store, id)
}

func TestAuditLink(t *testing.T) {
	ctx := context.Background()
	const sub, otherSub = "urn:fdc:gov.uk:2022:ann", "urn:fdc:gov.uk:2022:before"
	linker := subscribers.SessionCause(7)
	created := audited{Action: subscribers.AuditCreated, Cause: testCause, Details: map[string]any{}}

	t.Run("a new subscriber is created and linked", func(t *testing.T) {
		f := setup(t)
		got, err := f.service.Link(ctx, onelogin.Account{Sub: sub, Email: "ann@example.com", EmailVerified: true}, linker)
		if err != nil {
			t.Fatal(err)
		}
		want := []audited{
			{Action: subscribers.AuditCreated, Cause: linker, Details: map[string]any{}},
			{Action: subscribers.AuditLinked, Cause: linker, Details: map[string]any{"govuk_account_id": sub}},
		}
		if diff := cmp.Diff(want, f.audit(t, got.ID)); diff != "" {
			t.Errorf("audit (-want +got):\n%s", diff)
		}
		// Linking again changes nothing and records nothing.
		if _, err := f.service.Link(ctx, onelogin.Account{Sub: sub, Email: "ANN@example.com", EmailVerified: true}, linker); err != nil {
			t.Fatal(err)
		}
		if n := len(f.audit(t, got.ID)); n != 2 {
			t.Errorf("%d audit entries after linking again, want 2", n)
		}
	})

	t.Run("a link to another account is replaced", func(t *testing.T) {
		f := setup(t)
		ann := f.subscriber(t, "ann@example.com")
		f.link(t, ann.ID, otherSub)
		if _, err := f.service.Link(ctx, onelogin.Account{Sub: sub, Email: "ann@example.com", EmailVerified: true}, linker); err != nil {
			t.Fatal(err)
		}
		want := []audited{created, {Action: subscribers.AuditLinked, Cause: linker, Details: map[string]any{
			"govuk_account_id": sub, "replaced_govuk_account_id": otherSub,
		}}}
		if diff := cmp.Diff(want, f.audit(t, ann.ID)); diff != "" {
			t.Errorf("audit (-want +got):\n%s", diff)
		}
	})

	t.Run("the account's new email is applied with merge", func(t *testing.T) {
		f := setup(t)
		ann, bob := f.subscriber(t, "ann@example.com"), f.subscriber(t, "bob@example.com")
		f.link(t, ann.ID, sub)
		if _, err := f.service.Link(ctx, onelogin.Account{Sub: sub, Email: "bob@example.com", EmailVerified: true}, linker); err != nil {
			t.Fatal(err)
		}
		merged := map[string]any{"from_subscriber_id": float64(bob.ID), "into_subscriber_id": float64(ann.ID), "subscriptions_moved": float64(1)}
		want := []audited{created,
			{Action: subscribers.AuditMerged, Cause: linker, Details: merged},
			{Action: subscribers.AuditAddressChanged, Cause: linker, Details: map[string]any{"merged_subscriber_id": float64(bob.ID)}},
		}
		if diff := cmp.Diff(want, f.audit(t, ann.ID)); diff != "" {
			t.Errorf("audit of ann (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]audited{created, {Action: subscribers.AuditMerged, Cause: linker, Details: merged}}, f.audit(t, bob.ID)); diff != "" {
			t.Errorf("audit of bob (-want +got):\n%s", diff)
		}
	})
}

// tokenID returns the database id of the auth token of purpose, the only one.
func (f *fixture) tokenID(t *testing.T, purpose magiclink.Purpose) string {
	t.Helper()
	var id int64
	if err := f.db.Get(&id, `SELECT id FROM auth_tokens WHERE purpose = $1`, string(purpose)); err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(id, 10)
}

func TestAuditEmailLinks(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	if err := f.service.MagicLinks.RequestConfirmation(ctx, "carol@example.com", "tax-news", subscribers.Daily, ""); err != nil {
		t.Fatal(err)
	}
	_, token := f.lastLink(t)
	confirmed, err := f.service.MagicLinks.RedeemConfirmation(ctx, token, "tax-news", "daily", "")
	if err != nil {
		t.Fatal(err)
	}
	carol := confirmed.Subscription.Subscriber
	confirmation := subscribers.Cause{Kind: subscribers.CauseEmailLink, ID: f.tokenID(t, magiclink.PurposeConfirmSubscription)}

	if err := f.service.MagicLinks.RequestAddressChange(ctx, carol, "carol@new.example.com", ""); err != nil {
		t.Fatal(err)
	}
	_, token = f.lastLink(t)
	if _, err := f.service.MagicLinks.ConfirmAddressChange(ctx, token); err != nil {
		t.Fatal(err)
	}
	change := subscribers.Cause{Kind: subscribers.CauseEmailLink, ID: f.tokenID(t, magiclink.PurposeChangeAddress)}

	want := []audited{
		{Action: subscribers.AuditCreated, Cause: confirmation, Details: map[string]any{}},
		{Action: subscribers.AuditAddressChanged, Cause: change, Details: map[string]any{}},
	}
	if diff := cmp.Diff(want, f.audit(t, carol.ID)); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}
