package alerts_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"email-alert/alerts"
	"email-alert/internal/testkit/testdb"
	"email-alert/linking/magiclink"
	"email-alert/mail"
	"email-alert/subscribers"
	"email-alert/templates"
)

type fixture struct {
	db     *sqlx.DB
	store  *subscribers.Store
	alerts *alerts.Service
	queue  string
}

func setup(t *testing.T, batch int) *fixture {
	t.Helper()
	t.Parallel()
	db, _ := testdb.New(t)
	rdb := testdb.Redis(t)
	client := asynq.NewClientFromRedisClient(rdb)
	emails, err := mail.ParseTemplates(templates.Email)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := url.Parse("https://www.gov.uk")
	public, _ := url.Parse("http://localhost:3000")
	queue := testdb.Queue(t)
	s, err := alerts.New(db, client, alerts.Config{
		Queues:      alerts.Queues{Normal: queue, High: queue + "-high", Maintenance: queue},
		WebsiteRoot: root, DigestHour: 8, BatchSize: batch,
	}, emails, magiclink.NewUnsubscribeLinks(db, public))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{db: db, store: subscribers.NewStore(db, nil), alerts: s, queue: queue}
}

// list creates a list with criteria given as the JSON of a request.
func (f *fixture) list(t *testing.T, title, criteriaJSON string) subscribers.ListDetails {
	t.Helper()
	var body struct {
		Tags, Links                 json.RawMessage
		DocumentType                string `json:"document_type"`
		EmailDocumentSupertype      string `json:"email_document_supertype"`
		GovernmentDocumentSupertype string `json:"government_document_supertype"`
		ContentID                   string `json:"content_id"`
	}
	if err := json.Unmarshal([]byte(criteriaJSON), &body); err != nil {
		t.Fatal(err)
	}
	var c subscribers.Criteria
	var p []string
	if c.Tags, p = subscribers.ParseRules(body.Tags); p != nil {
		t.Fatal(p)
	}
	if c.Links, p = subscribers.ParseRules(body.Links); p != nil {
		t.Fatal(p)
	}
	c.DocumentType, c.EmailDocumentSupertype, c.GovernmentDocumentSupertype =
		body.DocumentType, body.EmailDocumentSupertype, body.GovernmentDocumentSupertype
	c.ContentID, _ = subscribers.ParseContentID(body.ContentID)
	n := subscribers.NewList{Title: title}
	if problems := n.Validate(); problems != nil {
		t.Fatal(problems)
	}
	if problems := c.Validate(); problems != nil {
		t.Fatal(problems)
	}
	var l subscribers.ListDetails
	var err error
	if c.Empty() {
		var plain subscribers.List
		plain, _, err = f.store.FindOrCreateList(context.Background(), n)
		l.List = plain
	} else {
		l, _, err = f.store.FindOrCreateListWithCriteria(context.Background(), n, false, c)
	}
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (f *fixture) subscribe(t *testing.T, address string, listID int64, freq subscribers.Frequency) subscribers.Subscription {
	t.Helper()
	sub, _, err := f.store.Subscribe(context.Background(), subscribers.SubscribeRequest{
		Address: address, ListID: listID, Frequency: freq, Cause: subscribers.SystemCause("test"),
		SkipConfirmMail: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

var contentID = "5f9c6c15-7631-11e4-a3cb-005056011aef"

// change receives a content change with the given tags/links JSON fields.
func (f *fixture) change(t *testing.T, title, extraJSON string) uuid.UUID {
	t.Helper()
	body := fmt.Sprintf(`{"content_id":%q,"title":%q,"base_path":"/government/news/%s","change_note":"First published.",
		"public_updated_at":"2026-12-01T10:05:00Z","document_type":"news_story","email_document_supertype":"announcements",
		"government_document_supertype":"news","publishing_app":"whitehall"%s}`,
		contentID, title, strings.ReplaceAll(strings.ToLower(title), " ", "-"), extraJSON)
	var req alerts.ContentChangeRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	cc, missing, invalid := req.Parse()
	if missing != nil || invalid != nil {
		t.Fatal(missing, invalid)
	}
	id, err := f.alerts.Receive(context.Background(), cc)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *fixture) matched(t *testing.T, id uuid.UUID) []int64 {
	t.Helper()
	var lists []int64
	if err := f.db.Select(&lists, `SELECT subscriber_list_id FROM content_change_matches WHERE content_change_id = $1 ORDER BY 1`, id); err != nil {
		t.Fatal(err)
	}
	return lists
}

func TestMatchingRules(t *testing.T) {
	f := setup(t, 100)
	tests := []struct {
		name, criteria string
		match          bool
	}{
		{"any with one value in common", `{"tags":{"topics":{"any":["a","x"]}}}`, true},
		{"bare array is any", `{"tags":{"topics":["x","b"]}}`, true},
		{"any with nothing in common", `{"tags":{"topics":{"any":["x"]}}}`, false},
		{"all present", `{"tags":{"topics":{"all":["a","b"]}}}`, true},
		{"all with one missing", `{"tags":{"topics":{"all":["a","z"]}}}`, false},
		{"key the change lacks", `{"tags":{"topics":["a"],"people":["p"]}}`, false},
		{"links and tags together", `{"tags":{"topics":["a"]},"links":{"organisations":{"all":["org-1"]}}}`, true},
		{"document type equal", `{"document_type":"news_story"}`, true},
		{"document type differs", `{"document_type":"guide"}`, false},
		{"tags and document type differs", `{"tags":{"topics":["a"]},"email_document_supertype":"publications"}`, false},
		{"tags and supertype equal", `{"tags":{"topics":["a"]},"government_document_supertype":"news"}`, true},
		{"content id", `{"content_id":"` + contentID + `"}`, true},
		{"other content id", `{"content_id":"00000000-0000-4000-8000-000000000000"}`, false},
		{"no criteria", `{}`, false},
	}
	lists := map[int64]bool{}
	ids := map[string]int64{}
	for i, tt := range tests {
		l := f.list(t, fmt.Sprintf("List %d", i), tt.criteria)
		lists[l.ID] = tt.match
		ids[tt.name] = l.ID
	}
	id := f.change(t, "Tax rules", `,"tags":{"topics":["a","b","c"]},"links":{"organisations":["org-1","org-2"]}`)
	if err := f.alerts.FanOut(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	got := map[int64]bool{}
	for _, l := range f.matched(t, id) {
		got[l] = true
	}
	for _, tt := range tests {
		if got[ids[tt.name]] != tt.match {
			t.Errorf("%s: matched = %v, want %v", tt.name, got[ids[tt.name]], tt.match)
		}
	}
}

func (f *fixture) alertEmails(t *testing.T, id uuid.UUID) map[string]int {
	t.Helper()
	var rows []string
	if err := f.db.Select(&rows, `SELECT address FROM emails WHERE content_change_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, a := range rows {
		counts[a]++
	}
	return counts
}

func TestFanOutOneEmailPerSubscriberConcurrently(t *testing.T) {
	f := setup(t, 7) // small batches: many of them, and lists ending mid-batch
	topics := f.list(t, "Topic", `{"tags":{"topics":["a"]}}`)
	orgs := f.list(t, "Org", `{"links":{"organisations":["org-1"]}}`)
	other := f.list(t, "Other", `{"tags":{"topics":["zzz"]}}`)
	want := map[string]int{}
	for i := range 40 {
		addr := fmt.Sprintf("p%d@example.com", i)
		switch {
		case i%5 == 0: // daily: no immediate email
			f.subscribe(t, addr, topics.ID, subscribers.Daily)
		case i%3 == 0: // on both matching lists: still one email
			f.subscribe(t, addr, topics.ID, subscribers.Immediately)
			f.subscribe(t, addr, orgs.ID, subscribers.Immediately)
			want[addr] = 1
		case i%2 == 0:
			f.subscribe(t, addr, orgs.ID, subscribers.Immediately)
			want[addr] = 1
		default:
			f.subscribe(t, addr, other.ID, subscribers.Immediately)
		}
	}
	id := f.change(t, "Tax rules", `,"tags":{"topics":["a"]},"links":{"organisations":["org-1"]}`)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 { // four workers on one job, as after a lost Redis
		wg.Add(1)
		go func() { defer wg.Done(); errs <- f.alerts.FanOut(context.Background(), id) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := f.alertEmails(t, id)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("emails = %v\nwant %v", got, want)
	}
	var status string
	var emails int
	if err := f.db.QueryRow(`SELECT status, emails FROM content_changes WHERE id = $1`, id).Scan(&status, &emails); err != nil {
		t.Fatal(err)
	}
	if status != "done" || emails != len(want) {
		t.Errorf("job = %s with %d emails, want done with %d", status, emails, len(want))
	}
	// Run again, as a retried task would: nothing new.
	if _, err := f.db.Exec(`UPDATE content_changes SET status = 'fanning_out', fanout_list_id = 0, fanout_subscriber_id = 0 WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if err := f.alerts.FanOut(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if got := f.alertEmails(t, id); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after a rerun: emails = %v", got)
	}
}

func TestDuplicateContentChange(t *testing.T) {
	f := setup(t, 100)
	f.change(t, "Tax rules", "")
	var req alerts.ContentChangeRequest
	body := fmt.Sprintf(`{"content_id":%q,"title":"Tax rules","base_path":"/government/news/tax-rules","change_note":"x",
		"public_updated_at":"2026-12-01T10:05:00Z","document_type":"news_story","email_document_supertype":"",
		"government_document_supertype":"","publishing_app":"whitehall"}`, contentID)
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	cc, _, _ := req.Parse()
	if _, err := f.alerts.Receive(context.Background(), cc); !errors.Is(err, alerts.ErrDuplicate) {
		t.Fatalf("second receipt: %v, want ErrDuplicate", err)
	}
}

type recordingSender struct {
	mu   sync.Mutex
	sent []mail.Message
}

func (r *recordingSender) Send(_ context.Context, m mail.Message) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, m)
	return "ref", nil
}

func TestAlertEmailRenderedAtSend(t *testing.T) {
	f := setup(t, 100)
	l := f.list(t, "Tax topics", `{"tags":{"topics":["a"]}}`)
	f.subscribe(t, "ann@example.com", l.ID, subscribers.Immediately)
	gone := f.subscribe(t, "bob@example.com", l.ID, subscribers.Immediately)
	id := f.change(t, "Tax rules", `,"tags":{"topics":["a"]},"description":"What changed.","footnote":"A footnote."`)
	if err := f.alerts.FanOut(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Unsubscribe(context.Background(), gone.ID); err != nil {
		t.Fatal(err)
	}
	sender := &recordingSender{}
	d := mail.NewDeliverer(f.db, sender)
	d.ComposeWith(alerts.KindAlert, f.alerts.ComposeAlert)
	var emails []struct {
		ID      uuid.UUID `db:"id"`
		Address string    `db:"address"`
	}
	if err := f.db.Select(&emails, `SELECT id, address FROM emails WHERE content_change_id = $1 ORDER BY address`, id); err != nil {
		t.Fatal(err)
	}
	for _, e := range emails {
		if err := d.Deliver(context.Background(), e.ID); err != nil {
			t.Fatal(err)
		}
	}
	if len(sender.sent) != 1 || sender.sent[0].To != "ann@example.com" {
		t.Fatalf("sent %+v, want one email to ann (bob unsubscribed before it went)", sender.sent)
	}
	m := sender.sent[0]
	for _, want := range []string{
		"Tax topics", "Tax rules", "https://www.gov.uk/government/news/tax-rules", "What changed.",
		"First published.", "10:05am, 1 December 2026", "A footnote.",
		"http://localhost:3000/email/unsubscribe/", "?token=", "http://localhost:3000/email/manage/authenticate",
	} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Body)
		}
	}
	if m.Subject != "Update from GOV.UK for: Tax rules" {
		t.Errorf("subject = %q", m.Subject)
	}
	checkOneClick(t, m)
	var status string
	if err := f.db.Get(&status, `SELECT status FROM emails WHERE address = 'bob@example.com'`); err != nil || status != "failed" {
		t.Errorf("bob's email: %q %v, want failed (cancelled)", status, err)
	}
}

func TestDigestRun(t *testing.T) {
	f := setup(t, 3)
	topics := f.list(t, "Topic", `{"tags":{"topics":["a"]}}`)
	quiet := f.list(t, "Quiet", `{"tags":{"topics":["q"]}}`)
	want := map[string]int{}
	for i := range 10 {
		addr := fmt.Sprintf("d%d@example.com", i)
		f.subscribe(t, addr, topics.ID, subscribers.Daily)
		f.subscribe(t, addr, quiet.ID, subscribers.Daily) // nothing new: no email
		want[addr] = 1
	}
	f.subscribe(t, "weekly@example.com", topics.ID, subscribers.Weekly)
	f.subscribe(t, "now@example.com", topics.ID, subscribers.Immediately)
	id := f.change(t, "Tax rules", `,"tags":{"topics":["a"]}`)
	if err := f.alerts.FanOut(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	f.subscribe(t, "late@example.com", topics.ID, subscribers.Daily) // after the change: nothing to send
	at := time.Now().Add(time.Minute)
	n, err := f.alerts.Digest(context.Background(), alerts.Daily, at)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Errorf("digest wrote %d emails, want %d", n, len(want))
	}
	var rows []string
	if err := f.db.Select(&rows, `SELECT address FROM emails WHERE kind = 'digest'`); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, a := range rows {
		got[a]++
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("digest emails = %v\nwant %v", got, want)
	}
	// The same run again (another worker, the command twice): the same
	// run, nothing new.
	if n, err := f.alerts.Digest(context.Background(), alerts.Daily, at.Add(time.Minute)); err != nil || n != len(want) {
		t.Errorf("second digest: %d, %v", n, err)
	}
	var total int
	if err := f.db.Get(&total, `SELECT count(*) FROM emails WHERE kind = 'digest'`); err != nil || total != len(want) {
		t.Errorf("digest emails after a second run: %d %v", total, err)
	}

	sender := &recordingSender{}
	d := mail.NewDeliverer(f.db, sender)
	d.ComposeWith(alerts.KindDigest, f.alerts.ComposeDigest)
	var first uuid.UUID
	if err := f.db.Get(&first, `SELECT id FROM emails WHERE kind = 'digest' LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	if err := d.Deliver(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	if len(sender.sent) != 1 || !strings.Contains(sender.sent[0].Body, "Tax rules") ||
		sender.sent[0].Subject != "Daily update from GOV.UK for: Topic" {
		t.Errorf("digest sent: %+v", sender.sent)
	}
	checkOneClick(t, sender.sent[0])
}

func TestLatestScheduled(t *testing.T) {
	f := setup(t, 100)
	london, _ := time.LoadLocation("Europe/London")
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, london)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct{ frequency, now, want string }{
		{alerts.Daily, "2026-12-01 09:00", "2026-12-01 08:00"},
		{alerts.Daily, "2026-12-01 07:59", "2026-11-30 08:00"},
		{alerts.Weekly, "2026-12-01 09:00", "2026-11-28 08:00"}, // a Tuesday: last Saturday
		{alerts.Weekly, "2026-12-05 08:00", "2026-12-05 08:00"}, // Saturday, on time
		{alerts.Weekly, "2026-12-05 07:00", "2026-11-28 08:00"},
		{alerts.Daily, "2026-07-01 08:30", "2026-07-01 08:00"}, // summer time
	}
	for _, tt := range tests {
		if got := f.alerts.LatestScheduled(tt.frequency, at(tt.now)); !got.Equal(at(tt.want)) {
			t.Errorf("%s at %s: %s, want %s", tt.frequency, tt.now, got.In(london), tt.want)
		}
	}
}

var bodyUnsubscribe = regexp.MustCompile(`http://localhost:3000/email/unsubscribe/([0-9a-f-]{36})\?token=(\S+)`)

// checkOneClick fails the test unless m, an alert or a digest, carries the
// one-click URL (List-Unsubscribe) of the subscription and token of the
// unsubscribe link in its body.
func checkOneClick(t *testing.T, m mail.Message) {
	t.Helper()
	link := bodyUnsubscribe.FindStringSubmatch(m.Body)
	if link == nil {
		t.Fatalf("no unsubscribe link in %q", m.Body)
	}
	want := "http://localhost:3000/email/unsubscribe/one-click/" + link[1] + "?token=" + link[2]
	if m.ListUnsubscribeURL != want {
		t.Errorf("one-click URL %q, want %q", m.ListUnsubscribeURL, want)
	}
}

// TestAlertAndDigestInWelsh: alert and digest emails are written in the
// subscriber's locale as it is when they are sent, dates in Welsh and the
// links opening the pages in Welsh.
func TestAlertAndDigestInWelsh(t *testing.T) {
	f := setup(t, 100)
	l := f.list(t, "Tax topics", `{"tags":{"topics":["a"]}}`)
	ann := f.subscribe(t, "ann@example.com", l.ID, subscribers.Immediately)
	dai := f.subscribe(t, "dai@example.com", l.ID, subscribers.Weekly)
	id := f.change(t, "Tax rules", `,"tags":{"topics":["a"]}`)
	if err := f.alerts.FanOut(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := f.alerts.Digest(context.Background(), alerts.Weekly, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Written in English; Welsh by the time they are sent.
	for _, sub := range []subscribers.Subscription{ann, dai} {
		if err := subscribers.SetLocaleIn(context.Background(), f.db, sub.Subscriber.ID, "cy"); err != nil {
			t.Fatal(err)
		}
	}
	sender := &recordingSender{}
	d := mail.NewDeliverer(f.db, sender)
	d.ComposeWith(alerts.KindAlert, f.alerts.ComposeAlert)
	d.ComposeWith(alerts.KindDigest, f.alerts.ComposeDigest)
	var ids []uuid.UUID
	if err := f.db.Select(&ids, `SELECT id FROM emails WHERE kind IN ('alert', 'digest') ORDER BY kind`); err != nil || len(ids) != 2 {
		t.Fatalf("emails %v, %v: want an alert and a digest", ids, err)
	}
	for _, id := range ids {
		if err := d.Deliver(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	if len(sender.sent) != 2 {
		t.Fatalf("sent %d emails", len(sender.sent))
	}
	alert, digest := sender.sent[0], sender.sent[1]
	if alert.Subject != "Diweddariad gan GOV.UK ar gyfer: Tax rules" || digest.Subject != "Diweddariad wythnosol gan GOV.UK ar gyfer: Tax topics" {
		t.Errorf("subjects %q, %q", alert.Subject, digest.Subject)
	}
	for _, m := range sender.sent {
		for _, want := range []string{"Diweddarwyd y dudalen: 10:05yb, 1 Rhagfyr 2026", "Pam ydw i’n cael yr e-bost hwn?",
			"lang=cy", "Negeseuon e-bost GOV.UK"} {
			if !strings.Contains(m.Body, want) {
				t.Errorf("%s lacks %q:\n%s", m.Subject, want, m.Body)
			}
		}
		for _, english := range []string{"Page updated", "Why am I getting", "Unsubscribe from these emails"} {
			if strings.Contains(m.Body, english) {
				t.Errorf("%s has the English %q", m.Subject, english)
			}
		}
	}
}
