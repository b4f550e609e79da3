package subscribers_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"email-alert/subscribers"
)

func TestChangeAddress(t *testing.T) {
	type sub struct {
		address, list string
		freq          subscribers.Frequency
	}
	tests := []struct {
		name       string
		before     []sub // ann@example.com is the subscriber whose address changes
		newAddress string
		linked     string // an address whose subscriber is linked to a One Login account
		onConflict subscribers.OnConflict
		wantErr    error
		wantRows   []row
		wantAnn    string // ann's address afterwards
	}{
		{
			name:       "new address nobody has",
			before:     []sub{{"ann@example.com", "news", subscribers.Daily}},
			newAddress: "ann@new.example.com",
			wantRows:   []row{{"ann@new.example.com", "news", "daily", "user_signed_up", ""}},
			wantAnn:    "ann@new.example.com",
		},
		{
			name: "address of another subscriber without merge",
			before: []sub{
				{"ann@example.com", "news", subscribers.Daily},
				{"bob@example.com", "tax", subscribers.Weekly},
			},
			newAddress: "BOB@example.com",
			wantErr:    subscribers.ErrAddressTaken,
			wantRows: []row{
				{"ann@example.com", "news", "daily", "user_signed_up", ""},
				{"bob@example.com", "tax", "weekly", "user_signed_up", ""},
			},
			wantAnn: "ann@example.com",
		},
		{
			name: "merge moves the other's subscriptions and frees its address",
			before: []sub{
				{"ann@example.com", "news", subscribers.Daily},
				{"bob@example.com", "tax", subscribers.Weekly},
			},
			newAddress: "bob@example.com",
			onConflict: subscribers.Merge,
			wantRows: []row{
				{"bob@example.com", "news", "daily", "user_signed_up", ""},
				{"<nil>", "tax", "weekly", "user_signed_up", "subscriber_merged"},
				{"bob@example.com", "tax", "weekly", "subscriber_merged", ""},
			},
			wantAnn: "bob@example.com",
		},
		{
			name: "merge on a shared list: the other's more frequent subscription wins",
			before: []sub{
				{"ann@example.com", "news", subscribers.Weekly},
				{"bob@example.com", "news", subscribers.Immediately},
			},
			newAddress: "bob@example.com",
			onConflict: subscribers.Merge,
			wantRows: []row{
				{"bob@example.com", "news", "weekly", "user_signed_up", "subscriber_merged"},
				{"<nil>", "news", "immediately", "user_signed_up", "subscriber_merged"},
				{"bob@example.com", "news", "immediately", "subscriber_merged", ""},
			},
			wantAnn: "bob@example.com",
		},
		{
			name: "merge on a shared list: our more frequent subscription is kept",
			before: []sub{
				{"ann@example.com", "news", subscribers.Daily},
				{"bob@example.com", "news", subscribers.Weekly},
			},
			newAddress: "bob@example.com",
			onConflict: subscribers.Merge,
			wantRows: []row{
				{"bob@example.com", "news", "daily", "user_signed_up", ""},
				{"<nil>", "news", "weekly", "user_signed_up", "subscriber_merged"},
			},
			wantAnn: "bob@example.com",
		},
		{
			name: "merge on a shared list at the same frequency keeps ours",
			before: []sub{
				{"ann@example.com", "news", subscribers.Daily},
				{"bob@example.com", "news", subscribers.Daily},
			},
			newAddress: "bob@example.com",
			onConflict: subscribers.Merge,
			wantRows: []row{
				{"bob@example.com", "news", "daily", "user_signed_up", ""},
				{"<nil>", "news", "daily", "user_signed_up", "subscriber_merged"},
			},
			wantAnn: "bob@example.com",
		},
		{
			name:       "merge with itself changes no subscription",
			before:     []sub{{"ann@example.com", "news", subscribers.Daily}},
			newAddress: "ann@example.com",
			onConflict: subscribers.Merge,
			wantRows:   []row{{"ann@example.com", "news", "daily", "user_signed_up", ""}},
			wantAnn:    "ann@example.com",
		},
		{
			name: "merge onto a linked subscriber's address is refused",
			before: []sub{
				{"ann@example.com", "news", subscribers.Daily},
				{"bob@example.com", "tax", subscribers.Weekly},
			},
			newAddress: "Bob@example.com",
			linked:     "bob@example.com",
			onConflict: subscribers.Merge,
			wantErr:    subscribers.ErrAddressLinked,
			wantRows: []row{
				{"ann@example.com", "news", "daily", "user_signed_up", ""},
				{"bob@example.com", "tax", "weekly", "user_signed_up", ""},
			},
			wantAnn: "ann@example.com",
		},
		{
			name: "an account's own change merges a linked subscriber",
			before: []sub{
				{"ann@example.com", "news", subscribers.Daily},
				{"bob@example.com", "tax", subscribers.Weekly},
			},
			newAddress: "bob@example.com",
			linked:     "bob@example.com",
			onConflict: subscribers.MergeForAccount,
			wantRows: []row{
				{"bob@example.com", "news", "daily", "user_signed_up", ""},
				{"<nil>", "tax", "weekly", "user_signed_up", "subscriber_merged"},
				{"bob@example.com", "tax", "weekly", "subscriber_merged", ""},
			},
			wantAnn: "bob@example.com",
		},
		{
			name:       "own address in another case only changes the case",
			before:     []sub{{"ann@example.com", "news", subscribers.Daily}},
			newAddress: "Ann@Example.com",
			wantRows:   []row{{"Ann@Example.com", "news", "daily", "user_signed_up", ""}},
			wantAnn:    "Ann@Example.com",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := setup(t)
			lists := map[string]subscribers.List{"news": f.list(t, "News"), "tax": f.list(t, "Tax")}
			var annID int64
			for _, b := range tt.before {
				s := f.subscribe(t, b.address, lists[b.list], b.freq)
				if b.address == "ann@example.com" {
					annID = s.Subscriber.ID
				}
			}
			if tt.linked != "" {
				if _, err := f.db.Exec(`UPDATE subscribers SET govuk_account_id = 'urn:test:linked', linked_at = now() WHERE address = $1`, tt.linked); err != nil {
					t.Fatal(err)
				}
			}
			got, err := f.store.ChangeAddress(ctx, annID, tt.newAddress, tt.onConflict, testCause)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantRows, f.rows(t)); diff != "" {
				t.Errorf("subscriptions (-want +got):\n%s", diff)
			}
			ann, err := f.store.SubscriberByID(ctx, annID)
			if err != nil {
				t.Fatal(err)
			}
			if ann.Address == nil || *ann.Address != tt.wantAnn {
				t.Errorf("ann's address = %v, want %s", ann.Address, tt.wantAnn)
			}
			if tt.wantErr == nil && (got.ID != annID || *got.Address != tt.wantAnn) {
				t.Errorf("returned %+v, want ann with %s", got, tt.wantAnn)
			}
		})
	}
}

func TestChangeAddressMergeIgnoresEndedSubscriptions(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	news := f.list(t, "News")
	ann := f.subscribe(t, "ann@example.com", f.list(t, "Tax"), subscribers.Daily)
	bobs := f.subscribe(t, "bob@example.com", news, subscribers.Daily)
	if err := f.store.Unsubscribe(ctx, bobs.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.ChangeAddress(ctx, ann.Subscriber.ID, "bob@example.com", subscribers.Merge, testCause); err != nil {
		t.Fatal(err)
	}
	if n := f.count(t, `SELECT count(*) FROM subscriptions WHERE subscriber_list_id = $1 AND ended_at IS NULL`, news.ID); n != 0 {
		t.Errorf("%d active subscriptions to news, want 0: an ended subscription came back", n)
	}
}

func TestChangeAddressUnknownSubscriber(t *testing.T) {
	f := setup(t)
	if _, err := f.store.ChangeAddress(context.Background(), 424242, "ann@example.com", subscribers.Merge, testCause); !errors.Is(err, subscribers.ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
}

// TestChangeAddressMergeBothWays merges two subscribers into each other at
// the same time: the row locks are taken in one order, so neither deadlocks
// and exactly one subscriber keeps the address.
func TestChangeAddressMergeBothWays(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	news := f.list(t, "News")
	ann := f.subscribe(t, "ann@example.com", news, subscribers.Daily).Subscriber
	bob := f.subscribe(t, "bob@example.com", news, subscribers.Weekly).Subscriber
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			var err error
			if i%2 == 0 {
				_, err = f.store.ChangeAddress(ctx, ann.ID, "bob@example.com", subscribers.Merge, testCause)
			} else {
				_, err = f.store.ChangeAddress(ctx, bob.ID, "ann@example.com", subscribers.Merge, testCause)
			}
			errs <- err
		}()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Errorf("ChangeAddress: %v", err)
		}
	}
	if n := f.count(t, `SELECT count(*) FROM subscriptions WHERE ended_at IS NULL`); n != 1 {
		t.Errorf("%d active subscriptions, want 1", n)
	}
}
