package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/uuid"

	"email-alert/internal/testkit/testrig"
)

// smtpCatcher is a real SMTP server (go-smtp) keeping every message it
// accepts, raw, by its Message-ID.
type smtpCatcher struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (c *smtpCatcher) NewSession(*smtp.Conn) (smtp.Session, error) { return &catcherSession{c: c}, nil }

type catcherSession struct{ c *smtpCatcher }

func (s *catcherSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *catcherSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *catcherSession) Reset()                               {}
func (s *catcherSession) Logout() error                        { return nil }
func (s *catcherSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := netmail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		return err
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	s.c.data[msg.Header.Get("Message-ID")] = raw
	return nil
}

// startSMTPCatcher serves a catcher on 127.0.0.1 until the test ends.
func startSMTPCatcher(t *testing.T) (*smtpCatcher, string) {
	t.Helper()
	c := &smtpCatcher{data: map[string][]byte{}}
	srv := smtp.NewServer(c)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return c, l.Addr().String()
}

// header returns the headers of the message sent as outbox email id.
func (c *smtpCatcher) header(t *testing.T, id uuid.UUID) netmail.Header {
	t.Helper()
	c.mu.Lock()
	raw, ok := c.data["<"+id.String()+"@localhost>"]
	c.mu.Unlock()
	if !ok {
		t.Fatalf("the SMTP server received no message for email %s", id)
	}
	msg, err := netmail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return msg.Header
}

// fakeNotify is GOV.UK Notify's send endpoint, keeping each request's
// one_click_unsubscribe_url (present or not) by reference.
type fakeNotify struct {
	mu       sync.Mutex
	oneClick map[string]*string // nil: the request had no such field
}

func (n *fakeNotify) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v2/notifications/email" {
		http.NotFound(w, r)
		return
	}
	var body struct {
		Reference string  `json:"reference"`
		OneClick  *string `json:"one_click_unsubscribe_url"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Reference == "" {
		http.Error(w, `{"status_code":400}`, http.StatusBadRequest)
		return
	}
	n.mu.Lock()
	n.oneClick[body.Reference] = body.OneClick
	n.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = fmt.Fprintf(w, `{"id":%q}`, uuid.NewString())
}

// mailboxEmails fills the outbox of a with one email of every kind about
// a list (subscribed, alert, digest) and two transactional ones (sign-in,
// confirmation), delivers them all, and returns their ids by kind.
func mailboxEmails(t *testing.T, a *testrig.App) map[string]uuid.UUID {
	t.Helper()
	ctx := context.Background()
	api := &testrig.API{Router: a.APIRouter()}
	var list map[string]any
	api.MustDo(t, "POST", "/subscriber-lists", `{"title":"VAT","tags":{"topics":["vat"]}}`, &list)
	listID, slug := testrig.Get(list, "subscriber_list.id"), testrig.Get(list, "subscriber_list.slug")
	api.MustDo(t, "POST", "/subscriptions", fmt.Sprintf(`{"address":"ann@example.com","subscriber_list_id":%v,"frequency":"immediately"}`, listID), nil)
	api.MustDo(t, "POST", "/subscriptions", fmt.Sprintf(`{"address":"bob@example.com","subscriber_list_id":%v,"frequency":"daily","skip_confirmation_email":true}`, listID), nil)
	if w := api.Do("POST", "/content-changes", testrig.ContentChangeBody, nil); w.Code != http.StatusAccepted {
		t.Fatalf("content change: %d %s", w.Code, w.Body)
	}
	var change uuid.UUID
	if err := a.DB().Get(&change, `SELECT id FROM content_changes`); err != nil {
		t.Fatal(err)
	}
	if err := a.Alerts().FanOut(ctx, change); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Alerts().Digest(ctx, "daily", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if w := api.Do("POST", "/subscribers/auth-token", `{"address":"ann@example.com","destination":"/email/manage"}`, nil); w.Code != http.StatusCreated {
		t.Fatalf("sign-in link: %d %s", w.Code, w.Body)
	}
	api.MustDo(t, "POST", "/subscriptions/auth-token", fmt.Sprintf(`{"address":"carol@example.com","topic_id":%q,"frequency":"daily"}`, slug), nil)

	var emails []struct {
		ID   uuid.UUID `db:"id"`
		Kind string    `db:"kind"`
	}
	if err := a.DB().Select(&emails, `SELECT id, kind FROM emails`); err != nil {
		t.Fatal(err)
	}
	byKind := map[string]uuid.UUID{}
	for _, e := range emails {
		if _, twice := byKind[e.Kind]; twice {
			t.Fatalf("two %s emails", e.Kind)
		}
		byKind[e.Kind] = e.ID
		if err := a.Deliver(ctx, e.ID); err != nil {
			t.Fatalf("deliver %s: %v", e.Kind, err)
		}
	}
	if len(byKind) != 5 {
		t.Fatalf("emails %v, want subscribed, alert, digest, sign_in and confirm_subscription", byKind)
	}
	return byKind
}

var listKinds, transactionalKinds = []string{"subscribed", "alert", "digest"}, []string{"sign_in", "confirm_subscription"}

// oneClickPost posts url, as a mail client does, to the frontend srv.
func oneClickPost(t *testing.T, srv *httptest.Server, raw string) int {
	t.Helper()
	path, ok := strings.CutPrefix(raw, "http://localhost:3000")
	if !ok {
		t.Fatalf("one-click URL %q is not on PUBLIC_URL", raw)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader("List-Unsubscribe=One-Click"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://mail.example")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// activeOf returns the frequency of address's active subscription, or "".
func activeOf(t *testing.T, a *testrig.App, address string) string {
	t.Helper()
	var f []string
	err := a.DB().Select(&f, `SELECT s.frequency FROM subscriptions s JOIN subscribers p ON p.id = s.subscriber_id
		WHERE p.address = $1 AND s.ended_at IS NULL`, address)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(f, ",")
}

// TestOneClickUnsubscribeOverSMTP reads the raw headers a real SMTP server
// receives: every email about a list carries List-Unsubscribe with its
// one-click URL and List-Unsubscribe-Post; transactional emails neither.
// Posted as a mail client does, the URLs end the subscriptions.
func TestOneClickUnsubscribeOverSMTP(t *testing.T) {
	t.Parallel()
	catcher, addr := startSMTPCatcher(t)
	a := testrig.NewApp(t, map[string]string{"EMAIL_DELIVERY": "smtp", "SMTP_URL": "smtp://" + addr})
	srv := httptest.NewServer(a.FrontendHandler())
	t.Cleanup(srv.Close)
	ids := mailboxEmails(t, a)

	urls := map[string]string{}
	for _, kind := range listKinds {
		h := catcher.header(t, ids[kind])
		list, post := h.Get("List-Unsubscribe"), h.Get("List-Unsubscribe-Post")
		raw, ok := strings.CutPrefix(list, "<")
		raw, closed := strings.CutSuffix(raw, ">")
		u, err := url.Parse(raw)
		if !ok || !closed || err != nil || !strings.HasPrefix(raw, "http://localhost:3000/email/unsubscribe/one-click/") ||
			len(u.Query().Get("token")) != 43 {
			t.Errorf("%s: List-Unsubscribe %q, want <PUBLIC_URL/email/unsubscribe/one-click/:id?token=…>", kind, list)
		}
		if post != "List-Unsubscribe=One-Click" {
			t.Errorf("%s: List-Unsubscribe-Post %q, want List-Unsubscribe=One-Click", kind, post)
		}
		urls[kind] = raw
	}
	for _, kind := range transactionalKinds {
		h := catcher.header(t, ids[kind])
		for _, name := range []string{"List-Unsubscribe", "List-Unsubscribe-Post"} {
			if v, ok := h[name]; ok {
				t.Errorf("%s email: %s %q, want none", kind, name, v)
			}
		}
	}

	// The alert's URL ends ann's subscription, the digest's bob's.
	for _, tt := range []struct{ kind, address string }{{"alert", "ann@example.com"}, {"digest", "bob@example.com"}} {
		if activeOf(t, a, tt.address) == "" {
			t.Fatalf("%s has nothing active before the one-click", tt.address)
		}
		if status := oneClickPost(t, srv, urls[tt.kind]); status != http.StatusOK {
			t.Errorf("one-click of the %s: %d, want 200", tt.kind, status)
		}
		if f := activeOf(t, a, tt.address); f != "" {
			t.Errorf("%s still has %q active after the one-click of the %s", tt.address, f, tt.kind)
		}
	}
	// The "You've subscribed" email's URL, posted after the alert's: 200,
	// and nothing more ends.
	if status := oneClickPost(t, srv, urls["subscribed"]); status != http.StatusOK {
		t.Errorf("one-click of the subscribed email, already unsubscribed: %d, want 200", status)
	}
	var endings int
	if err := a.DB().Get(&endings, `SELECT count(*) FROM subscriber_audit WHERE action = 'subscriptions_ended' AND cause_kind = 'one_click'`); err != nil || endings != 2 {
		t.Errorf("%d one-click endings in the audit trail (%v), want 2", endings, err)
	}
}

// TestOneClickUnsubscribeThroughNotify: a fake Notify sees
// one_click_unsubscribe_url on every email about a list, and on no
// transactional email; the URL works.
func TestOneClickUnsubscribeThroughNotify(t *testing.T) {
	t.Parallel()
	notify := &fakeNotify{oneClick: map[string]*string{}}
	ns := httptest.NewServer(notify)
	t.Cleanup(ns.Close)
	a := testrig.NewApp(t, map[string]string{
		"EMAIL_DELIVERY": "notify", "NOTIFY_BASE_URL": ns.URL,
		"NOTIFY_API_KEY": "test-" + uuid.NewString() + "-" + uuid.NewString(), "NOTIFY_TEMPLATE_ID": uuid.NewString(),
	})
	srv := httptest.NewServer(a.FrontendHandler())
	t.Cleanup(srv.Close)
	ids := mailboxEmails(t, a)

	notify.mu.Lock()
	seen := notify.oneClick
	notify.mu.Unlock()
	if len(seen) != len(ids) {
		t.Fatalf("Notify got %d emails, want %d", len(seen), len(ids))
	}
	for _, kind := range listKinds {
		got := seen[ids[kind].String()]
		if got == nil || !strings.HasPrefix(*got, "http://localhost:3000/email/unsubscribe/one-click/") {
			t.Errorf("%s: one_click_unsubscribe_url %v, want PUBLIC_URL/email/unsubscribe/one-click/…", kind, got)
		}
	}
	for _, kind := range transactionalKinds {
		if got := seen[ids[kind].String()]; got != nil {
			t.Errorf("%s: one_click_unsubscribe_url %q, want no such field", kind, *got)
		}
	}
	if status := oneClickPost(t, srv, *seen[ids["subscribed"].String()]); status != http.StatusOK {
		t.Errorf("one-click: %d, want 200", status)
	}
	if f := activeOf(t, a, "ann@example.com"); f != "" {
		t.Errorf("ann still has %q active after the one-click", f)
	}
}
