package subscribers_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"email-alert/internal/testkit/testdb"
	"email-alert/subscribers"
)

// fixture is a store on a fresh schema, recording the OnSubscribed calls.
type fixture struct {
	db         *sqlx.DB
	store      *subscribers.Store
	mu         sync.Mutex
	subscribed []uuid.UUID
	hookErr    error
}

func setup(t *testing.T) *fixture {
	t.Helper()
	t.Parallel()
	db, _ := testdb.New(t)
	f := &fixture{db: db}
	f.store = subscribers.NewStore(db, func(ctx context.Context, tx *sqlx.Tx, sub subscribers.Subscription) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.hookErr != nil {
			return f.hookErr
		}
		f.subscribed = append(f.subscribed, sub.ID)
		return nil
	})
	return f
}

func (f *fixture) list(t *testing.T, title string) subscribers.List {
	t.Helper()
	n := subscribers.NewList{Title: title}
	if problems := n.Validate(); problems != nil {
		t.Fatalf("list %q: %v", title, problems)
	}
	l, _, err := f.store.FindOrCreateList(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (f *fixture) subscribe(t *testing.T, address string, list subscribers.List, freq subscribers.Frequency) subscribers.Subscription {
	t.Helper()
	sub, _, err := f.store.Subscribe(context.Background(), subscribers.SubscribeRequest{
		Address: address, ListID: list.ID, Frequency: freq, Cause: testCause,
	})
	if err != nil {
		t.Fatalf("subscribe %s to %s: %v", address, list.Slug, err)
	}
	return sub
}

// row is the part of a subscription the tests compare.
type row struct {
	Address   string
	List      string
	Frequency string
	Source    string
	Ended     string
}

// rows returns every subscription in the schema, ended ones too, in the
// order they were made.
func (f *fixture) rows(t *testing.T) []row {
	t.Helper()
	var rows []row
	err := f.db.Select(&rows, `
		SELECT coalesce(p.address, '<nil>') AS address, l.slug AS list, s.frequency, s.source,
		       coalesce(s.ended_reason, '') AS ended
		FROM subscriptions s JOIN subscribers p ON p.id = s.subscriber_id
		JOIN subscriber_lists l ON l.id = s.subscriber_list_id
		ORDER BY s.created_at, s.id`)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func (f *fixture) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.Get(&n, query, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSubscribe(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		before      []subscribers.SubscribeRequest // list ids are filled in
		req         subscribers.SubscribeRequest
		wantCreated bool
		wantRows    []row
		wantEmails  int // OnSubscribed calls for req
	}{
		{
			name:        "new subscriber",
			req:         subscribers.SubscribeRequest{Address: "Ann@Example.com", Frequency: subscribers.Immediately},
			wantCreated: true,
			wantRows:    []row{{"Ann@Example.com", "news", "immediately", "user_signed_up", ""}},
			wantEmails:  1,
		},
		{
			name:        "address matched case-insensitively, same frequency is the same subscription",
			before:      []subscribers.SubscribeRequest{{Address: "ann@example.com", Frequency: subscribers.Daily}},
			req:         subscribers.SubscribeRequest{Address: "ANN@example.COM", Frequency: subscribers.Daily},
			wantCreated: false,
			wantRows:    []row{{"ann@example.com", "news", "daily", "user_signed_up", ""}},
			wantEmails:  0,
		},
		{
			name:        "other frequency ends the old one and creates a new one",
			before:      []subscribers.SubscribeRequest{{Address: "ann@example.com", Frequency: subscribers.Daily}},
			req:         subscribers.SubscribeRequest{Address: "ann@example.com", Frequency: subscribers.Weekly},
			wantCreated: true,
			wantRows: []row{
				{"ann@example.com", "news", "daily", "user_signed_up", "frequency_changed"},
				{"ann@example.com", "news", "weekly", "frequency_changed", ""},
			},
			wantEmails: 1,
		},
		{
			name:        "skip confirmation email",
			req:         subscribers.SubscribeRequest{Address: "ann@example.com", Frequency: subscribers.Weekly, SkipConfirmMail: true},
			wantCreated: true,
			wantRows:    []row{{"ann@example.com", "news", "weekly", "user_signed_up", ""}},
			wantEmails:  0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			list := f.list(t, "News")
			for _, b := range tt.before {
				b.ListID, b.Cause = list.ID, testCause
				if _, _, err := f.store.Subscribe(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			f.subscribed = nil
			tt.req.ListID, tt.req.Cause = list.ID, testCause
			sub, created, err := f.store.Subscribe(ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if created != tt.wantCreated {
				t.Errorf("created = %v, want %v", created, tt.wantCreated)
			}
			if sub.List.ID != list.ID || sub.Frequency != tt.req.Frequency || !sub.Active() {
				t.Errorf("returned %+v, want an active %s subscription to %d", sub, tt.req.Frequency, list.ID)
			}
			if diff := cmp.Diff(tt.wantRows, f.rows(t)); diff != "" {
				t.Errorf("subscriptions (-want +got):\n%s", diff)
			}
			if len(f.subscribed) != tt.wantEmails {
				t.Errorf("OnSubscribed called %d times, want %d", len(f.subscribed), tt.wantEmails)
			}
		})
	}
}

func TestSubscribeUnknownListCreatesNothing(t *testing.T) {
	f := setup(t)
	_, _, err := f.store.Subscribe(context.Background(), subscribers.SubscribeRequest{
		Address: "ann@example.com", ListID: 999, Frequency: subscribers.Daily, Cause: testCause,
	})
	if !errors.Is(err, subscribers.ErrListNotFound) {
		t.Fatalf("err = %v, want ErrListNotFound", err)
	}
	if n := f.count(t, `SELECT count(*) FROM subscribers`); n != 0 {
		t.Errorf("%d subscribers created, want 0", n)
	}
}

func TestSubscribeHookFailureRollsBack(t *testing.T) {
	f := setup(t)
	list := f.list(t, "News")
	f.hookErr = errors.New("outbox down")
	_, _, err := f.store.Subscribe(context.Background(), subscribers.SubscribeRequest{
		Address: "ann@example.com", ListID: list.ID, Frequency: subscribers.Daily, Cause: testCause,
	})
	if err == nil {
		t.Fatal("Subscribe succeeded although its email could not be written")
	}
	if n := f.count(t, `SELECT count(*) FROM subscriptions`); n != 0 {
		t.Errorf("%d subscriptions left without their email, want 0", n)
	}
}

// TestSubscribeConcurrently sends the same subscription many times at once,
// with the address in different cases and some at another frequency: one
// subscriber and exactly one active subscription must remain.
func TestSubscribeConcurrently(t *testing.T) {
	f := setup(t)
	list := f.list(t, "News")
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			address := "ann@example.com"
			if i%2 == 1 {
				address = "ANN@example.com"
			}
			freq := subscribers.Immediately
			if i%5 == 0 {
				freq = subscribers.Weekly
			}
			_, _, err := f.store.Subscribe(context.Background(), subscribers.SubscribeRequest{
				Address: address, ListID: list.ID, Frequency: freq, Cause: testCause,
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Subscribe: %v", err)
		}
	}
	if got := f.count(t, `SELECT count(*) FROM subscribers`); got != 1 {
		t.Errorf("%d subscribers, want 1", got)
	}
	if got := f.count(t, `SELECT count(*) FROM subscriptions WHERE ended_at IS NULL`); got != 1 {
		t.Errorf("%d active subscriptions, want 1", got)
	}
}

func TestChangeFrequency(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	list := f.list(t, "News")
	first := f.subscribe(t, "ann@example.com", list, subscribers.Daily)

	same, err := f.store.ChangeFrequency(ctx, first.ID, subscribers.Daily)
	if err != nil || same.ID != first.ID {
		t.Fatalf("same frequency: got %v, %v; want the same subscription", same.ID, err)
	}
	changed, err := f.store.ChangeFrequency(ctx, first.ID, subscribers.Weekly)
	if err != nil {
		t.Fatal(err)
	}
	if changed.ID == first.ID || changed.Frequency != subscribers.Weekly || changed.Source != subscribers.SourceFrequencyChanged {
		t.Errorf("changed = %+v, want a new weekly subscription from frequency_changed", changed)
	}
	want := []row{
		{"ann@example.com", "news", "daily", "user_signed_up", "frequency_changed"},
		{"ann@example.com", "news", "weekly", "frequency_changed", ""},
	}
	if diff := cmp.Diff(want, f.rows(t)); diff != "" {
		t.Errorf("subscriptions (-want +got):\n%s", diff)
	}
	if len(f.subscribed) != 1 {
		t.Errorf("OnSubscribed called %d times, want 1 (a frequency change sends no email)", len(f.subscribed))
	}
	if _, err := f.store.ChangeFrequency(ctx, first.ID, subscribers.Immediately); !errors.Is(err, subscribers.ErrNotFound) {
		t.Errorf("changing an ended subscription: err = %v, want ErrNotFound", err)
	}
	if _, err := f.store.ChangeFrequency(ctx, uuid.New(), subscribers.Immediately); !errors.Is(err, subscribers.ErrNotFound) {
		t.Errorf("changing an unknown subscription: err = %v, want ErrNotFound", err)
	}
	latest, err := f.store.LatestSubscription(ctx, first.ID)
	if err != nil || latest.ID != changed.ID {
		t.Errorf("LatestSubscription(first) = %v, %v; want %v", latest.ID, err, changed.ID)
	}
}

func TestUnsubscribe(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	news, tax := f.list(t, "News"), f.list(t, "Tax")
	sub := f.subscribe(t, "ann@example.com", news, subscribers.Daily)
	f.subscribe(t, "ann@example.com", tax, subscribers.Weekly)
	f.subscribe(t, "bob@example.com", tax, subscribers.Weekly)

	if err := f.store.Unsubscribe(ctx, sub.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Unsubscribe(ctx, sub.ID); !errors.Is(err, subscribers.ErrNotFound) {
		t.Errorf("second unsubscribe: err = %v, want ErrNotFound", err)
	}
	got, err := f.store.Subscription(ctx, sub.ID)
	if err != nil || got.Active() || *got.EndedReason != subscribers.EndedUnsubscribed {
		t.Errorf("after unsubscribe: %+v, %v; want ended unsubscribed", got, err)
	}

	ended, err := f.store.UnsubscribeAll(ctx, sub.Subscriber.ID, subscribers.EndedUnsubscribed, testCause)
	if err != nil || ended != 1 {
		t.Errorf("UnsubscribeAll = %d, %v; want 1 ended", ended, err)
	}
	if n := f.count(t, `SELECT count(*) FROM subscriptions WHERE ended_at IS NULL`); n != 1 {
		t.Errorf("%d active subscriptions, want 1 (bob's)", n)
	}
	if _, err := f.store.UnsubscribeAll(ctx, 999999, subscribers.EndedUnsubscribed, testCause); !errors.Is(err, subscribers.ErrNotFound) {
		t.Errorf("UnsubscribeAll(unknown) err = %v, want ErrNotFound", err)
	}
}

func TestActiveSubscriptionsOrder(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	// Created in this order: b, a, c.
	for _, title := range []string{"Bravo", "Alpha", "Charlie"} {
		f.subscribe(t, "ann@example.com", f.list(t, title), subscribers.Daily)
	}
	ended := f.subscribe(t, "ann@example.com", f.list(t, "Delta"), subscribers.Daily)
	if err := f.store.Unsubscribe(ctx, ended.ID); err != nil {
		t.Fatal(err)
	}
	lonely := f.subscribe(t, "bob@example.com", f.list(t, "Echo"), subscribers.Daily)
	if err := f.store.Unsubscribe(ctx, lonely.ID); err != nil {
		t.Fatal(err)
	}
	id := ended.Subscriber.ID

	tests := []struct {
		order string
		want  []string
	}{
		{"title", []string{"Alpha", "Bravo", "Charlie"}},
		{"-title", []string{"Charlie", "Bravo", "Alpha"}},
		{"created_at", []string{"Bravo", "Alpha", "Charlie"}},
		{"-created_at", []string{"Charlie", "Alpha", "Bravo"}},
	}
	for _, tt := range tests {
		t.Run(tt.order, func(t *testing.T) {
			subscriber, subs, err := f.store.ActiveSubscriptions(ctx, id, tt.order)
			if err != nil {
				t.Fatal(err)
			}
			var titles []string
			for _, s := range subs {
				titles = append(titles, s.List.Title)
				if s.Subscriber.ID != id {
					t.Errorf("subscription %s has subscriber %d, want %d", s.ID, s.Subscriber.ID, id)
				}
			}
			if diff := cmp.Diff(tt.want, titles); diff != "" {
				t.Errorf("titles (-want +got):\n%s", diff)
			}
			if subscriber.ID != id {
				t.Errorf("subscriber %d, want %d", subscriber.ID, id)
			}
		})
	}

	if _, _, err := f.store.ActiveSubscriptions(ctx, id, "address"); !errors.Is(err, subscribers.ErrInvalidOrder) {
		t.Errorf("bad order: err = %v, want ErrInvalidOrder", err)
	}
	if _, _, err := f.store.ActiveSubscriptions(ctx, 999999, "title"); !errors.Is(err, subscribers.ErrNotFound) {
		t.Errorf("unknown subscriber: err = %v, want ErrNotFound", err)
	}
	subscriber, subs, err := f.store.ActiveSubscriptions(ctx, lonely.Subscriber.ID, "title")
	if err != nil || len(subs) != 0 || subscriber.ID != lonely.Subscriber.ID {
		t.Errorf("subscriber with none active: %v, %d subscriptions, %v; want the subscriber and none", subscriber.ID, len(subs), err)
	}
}

func TestFindOrCreateList(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	first, created, err := f.store.FindOrCreateList(ctx, subscribers.NewList{Title: "Tax", Slug: "tax", URL: "/tax"})
	if err != nil || !created {
		t.Fatalf("first: created=%v err=%v", created, err)
	}
	again, created, err := f.store.FindOrCreateList(ctx, subscribers.NewList{Title: "Other title", Slug: "tax"})
	if err != nil || created || again.ID != first.ID || again.Title != "Tax" {
		t.Errorf("same slug: %+v created=%v err=%v; want the first list unchanged", again, created, err)
	}
	if _, err := f.store.ListBySlug(ctx, "nope"); !errors.Is(err, subscribers.ErrListNotFound) {
		t.Errorf("unknown slug: err = %v, want ErrListNotFound", err)
	}
}

// TestFindOrCreateListByTitle: without a slug, the same title is the same
// list, and another title whose slug collides is refused, naming the slug.
func TestFindOrCreateListByTitle(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	byTitle := func(title string) (subscribers.List, bool, error) {
		n := subscribers.NewList{Title: title}
		if problems := n.Validate(); problems != nil {
			t.Fatalf("%q: %v", title, problems)
		}
		return f.store.FindOrCreateList(ctx, n)
	}
	cpp, created, err := byTitle("C++ updates")
	if err != nil || !created || cpp.Slug != "c-updates" {
		t.Fatalf("first: %+v created=%v err=%v", cpp, created, err)
	}
	again, created, err := byTitle("  C++ updates ")
	if err != nil || created || again.ID != cpp.ID {
		t.Errorf("same title again: %+v created=%v err=%v; want the same list", again, created, err)
	}
	for _, title := range []string{"C# updates", "C updates", "c++ updates"} {
		_, _, err := byTitle(title)
		var taken *subscribers.SlugTakenError
		if !errors.As(err, &taken) || taken.Slug != "c-updates" {
			t.Errorf("%q: err = %v, want a SlugTakenError naming c-updates", title, err)
		}
	}
	csharp, created, err := f.store.FindOrCreateList(ctx, subscribers.NewList{Title: "C# updates", Slug: "c-sharp-updates"})
	if err != nil || !created || csharp.ID == cpp.ID {
		t.Errorf("with its own slug: %+v created=%v err=%v; want a new list", csharp, created, err)
	}
	var count int
	if err := f.db.Get(&count, `SELECT count(*) FROM subscriber_lists`); err != nil || count != 2 {
		t.Errorf("%d lists (%v), want 2", count, err)
	}
}

func TestNewListValidate(t *testing.T) {
	tests := []struct {
		name     string
		in       subscribers.NewList
		wantSlug string
		wantBad  []string // fields with problems
	}{
		{"slug from title", subscribers.NewList{Title: "  Brexit: what's new?  "}, "brexit-what-s-new", nil},
		{"given slug", subscribers.NewList{Title: "Tax", Slug: "tax-2"}, "tax-2", nil},
		{"blank title", subscribers.NewList{Title: "  "}, "", []string{"title"}},
		{"title without letters", subscribers.NewList{Title: "!!!"}, "", []string{"slug"}},
		{"title of no ASCII letter", subscribers.NewList{Title: "Ŵŷ"}, "", []string{"slug"}},
		{"title of no ASCII letter, slug given", subscribers.NewList{Title: "Ŵŷ", Slug: "wy"}, "wy", nil},
		{"Welsh title", subscribers.NewList{Title: "Newyddion treth: ŵyl"}, "newyddion-treth-yl", nil},
		{"title with CRLF", subscribers.NewList{Title: "Tax\r\nBcc: eve@example.com"}, "", []string{"title"}},
		{"title with tab", subscribers.NewList{Title: "Tax\tnews"}, "", []string{"title"}},
		{"title with bidi override", subscribers.NewList{Title: "Tax \u202enews"}, "", []string{"title"}},
		{"title with RTL mark", subscribers.NewList{Title: "Tax\u200f news"}, "", []string{"title"}},
		{"description of paragraphs", subscribers.NewList{Title: "Tax", Description: "One.\n\nTwo."}, "tax", nil},
		{"description with CR", subscribers.NewList{Title: "Tax", Description: "One.\r\nTwo."}, "", []string{"description"}},
		{"description with escape", subscribers.NewList{Title: "Tax", Description: "a\x1b[2Jb"}, "", []string{"description"}},
		{"description with isolate", subscribers.NewList{Title: "Tax", Description: "a\u2066b"}, "", []string{"description"}},
		{"url with space", subscribers.NewList{Title: "Tax", URL: "/tax news"}, "", []string{"url"}},
		{"url with newline", subscribers.NewList{Title: "Tax", URL: "/tax\nnews"}, "", []string{"url"}},
		{"url with bidi override", subscribers.NewList{Title: "Tax", URL: "/tax\u202e"}, "", []string{"url"}},
		{"url with backslash", subscribers.NewList{Title: "Tax", URL: "/\\evil.example"}, "", []string{"url"}},
		{"bad slug", subscribers.NewList{Title: "Tax", Slug: "Tax Rules"}, "Tax Rules", []string{"slug"}},
		{"absolute url", subscribers.NewList{Title: "Tax", URL: "https://evil.example/"}, "tax", []string{"url"}},
		{"protocol-relative url", subscribers.NewList{Title: "Tax", URL: "//evil.example/"}, "tax", []string{"url"}},
		{"nul byte", subscribers.NewList{Title: "Tax", Description: "a\x00b"}, "tax", []string{"description"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.in
			problems := n.Validate()
			var bad []string
			for field := range problems {
				bad = append(bad, field)
			}
			if diff := cmp.Diff(tt.wantBad, bad); diff != "" {
				t.Errorf("fields with problems (-want +got):\n%s (%v)", diff, problems)
			}
			if tt.wantBad == nil && n.Slug != tt.wantSlug {
				t.Errorf("slug = %q, want %q", n.Slug, tt.wantSlug)
			}
		})
	}
}

func TestNormalizeAddress(t *testing.T) {
	long := fmt.Sprintf("%s@example.com", string(make([]byte, 0)))
	for i := 0; i < 250; i++ {
		long = "a" + long
	}
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"ann@example.com", "ann@example.com", true},
		{"  Ann.Smith+news@Example.co.uk \n", "Ann.Smith+news@Example.co.uk", true},
		{"zoë@exämple.com", "zoë@xn--exmple-cua.com", true},
		{"zoe@exämple.com", "zoe@xn--exmple-cua.com", true},
		{"zoe@xn--exmple-cua.com", "zoe@xn--exmple-cua.com", true},
		{"zoe@XN--EXMPLE-CUA.COM", "zoe@XN--EXMPLE-CUA.COM", true}, // compared by lower()
		{"zoe@ｅｘäｍｐｌｅ．ｃｏｍ", "zoe@xn--exmple-cua.com", true},        // fullwidth
		{"zoe@ＥＸＡＭＰＬＥ.com", "zoe@example.com", true},               // fullwidth capitals
		{"zoe@exämple。com", "zoe@xn--exmple-cua.com", true},        // ideographic full stop
		{"ann@faß.de", "ann@xn--fa-hia.de", true},                  // non-transitional: ß is kept
		{"ann@例え.テスト", "ann@xn--r8jz45g.xn--zckzah", true},
		{"ann@127.0.0.1", "", false},
		{"ann@example.123", "", false},
		{"ann@example.c0m", "ann@example.c0m", true},
		{"ann@ex_ample.com", "", false},
		{"ann@ab--cd.com", "", false},
		{"ann@xn--a.com", "", false}, // not punycode
		{"ann@exa\u00admple.com", "", false},
		{"ann@example.com.", "", false},
		{"", "", false},
		{"ann", "", false},
		{"ann@localhost", "", false},
		{"ann@@example.com", "", false},
		{"@example.com", "", false},
		{"ann@example..com", "", false},
		{"ann@-example.com", "", false},
		{"Ann <ann@example.com>", "", false},
		{"ann@example.com\r\nBcc: eve@example.com", "", false},
		{"ann smith@example.com", "", false},
		{`"ann"@example.com`, "", false},
		{"ann@example.com,bob@example.com", "", false},
		{"ann\x00@example.com", "", false},
		{"<script>@example.com", "", false},
		{"'; DROP TABLE subscribers;--@example.com", "", false},
		{long, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := subscribers.NormalizeAddress(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("NormalizeAddress(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}
