package subscribers_test

import (
	"email-alert/internal/testkit/testrig"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"email-alert/internal/testkit/testdb"
	"email-alert/subscribers"
)

func TestAPI(t *testing.T) {
	huge := `{"title":"` + strings.Repeat("a", 1<<20) + `"}`
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		header http.Header
		status int
		// want maps dotted paths in the JSON response to expected values
		// (after expanding placeholders); "<set>" only asks for presence.
		want map[string]any
	}{
		// Authentication
		{name: "no token", method: "GET", path: "/subscriber-lists/{slug}",
			header: http.Header{"Authorization": {""}}, status: 401, want: map[string]any{"error": "<set>"}},
		{name: "wrong token", method: "GET", path: "/subscriber-lists/{slug}",
			header: http.Header{"Authorization": {"Bearer nope"}}, status: 401},
		{name: "basic auth instead of bearer", method: "GET", path: "/subscriber-lists/{slug}",
			header: http.Header{"Authorization": {"Basic " + testrig.Token}}, status: 401},
		{name: "second configured token", method: "GET", path: "/subscriber-lists/{slug}",
			header: http.Header{"Authorization": {"Bearer other-token-abcdef"}}, status: 200},
		{name: "live without token", method: "GET", path: "/healthcheck/live",
			header: http.Header{"Authorization": {""}}, status: 200, want: map[string]any{"status": "ok"}},
		{name: "ready without token", method: "GET", path: "/healthcheck/ready",
			header: http.Header{"Authorization": {""}}, status: 200,
			want: map[string]any{"status": "ok", "checks.postgresql.status": "ok", "checks.redis.status": "ok"}},

		// Subscriber lists
		{name: "create list", method: "POST", path: "/subscriber-lists",
			body: `{"title":"Brexit: what's new","description":"All of it"}`, status: 200,
			want: map[string]any{"subscriber_list.slug": "brexit-what-s-new", "subscriber_list.url": nil,
				"subscriber_list.description": "All of it"}},
		{name: "existing slug finds the list", method: "POST", path: "/subscriber-lists",
			body: `{"title":"Another","slug":"{slug}"}`, status: 200,
			want: map[string]any{"subscriber_list.id": "{list}", "subscriber_list.title": "Tax news", "subscriber_list.url": "/tax"}},
		{name: "list without title", method: "POST", path: "/subscriber-lists", body: `{"slug":"x"}`,
			status: 400, want: map[string]any{"details.title.0": "is required"}},
		{name: "list with a blank title", method: "POST", path: "/subscriber-lists", body: `{"title":" ","slug":"x"}`,
			status: 422, want: map[string]any{"details.title.0": "can't be blank"}},
		{name: "list with bad slug", method: "POST", path: "/subscriber-lists", body: `{"title":"T","slug":"Not A Slug"}`,
			status: 422, want: map[string]any{"details.slug": "<set>"}},
		{name: "list with absolute url", method: "POST", path: "/subscriber-lists", body: `{"title":"T","url":"https://evil.example"}`,
			status: 422, want: map[string]any{"details.url": "<set>"}},
		{name: "title of the wrong type", method: "POST", path: "/subscriber-lists", body: `{"title":5}`,
			status: 400, want: map[string]any{"details.title.0": "must be a string"}},
		{name: "malformed JSON", method: "POST", path: "/subscriber-lists", body: `{"title":`, status: 400},
		{name: "JSON array", method: "POST", path: "/subscriber-lists", body: `[]`, status: 400},
		{name: "two JSON objects", method: "POST", path: "/subscriber-lists", body: `{"title":"a"}{}`, status: 400},
		{name: "empty body", method: "POST", path: "/subscriber-lists", body: ` `, status: 400},
		{name: "body over 1 MiB", method: "POST", path: "/subscriber-lists", body: huge, status: 413},
		{name: "form body", method: "POST", path: "/subscriber-lists", body: `title=x`,
			header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, status: 415},
		{name: "get list", method: "GET", path: "/subscriber-lists/{slug}", status: 200,
			want: map[string]any{"subscriber_list.id": "{list}", "subscriber_list.created_at": "<set>"}},
		{name: "get unknown list", method: "GET", path: "/subscriber-lists/nope", status: 404},

		// Subscriptions
		{name: "subscribe", method: "POST", path: "/subscriptions",
			body: `{"address":"bob@example.com","subscriber_list_id":{list}}`, status: 200,
			want: map[string]any{"subscription.frequency": "immediately", "subscription.source": "user_signed_up",
				"subscription.ended_at": nil, "subscription.ended_reason": nil,
				"subscription.subscriber_list.slug": "{slug}", "subscription.subscriber.address": "bob@example.com",
				"subscription.subscriber.govuk_account_id": nil}},
		{name: "subscribe again, same frequency, other case", method: "POST", path: "/subscriptions",
			body: `{"address":"ANN@example.com","subscriber_list_id":{list},"frequency":"daily"}`, status: 200,
			want: map[string]any{"subscription.id": "{subscription}"}},
		{name: "subscribe at another frequency", method: "POST", path: "/subscriptions",
			body: `{"address":"ann@example.com","subscriber_list_id":{list},"frequency":"weekly"}`, status: 200,
			want: map[string]any{"subscription.source": "frequency_changed", "subscription.frequency": "weekly"}},
		{name: "list id as a string", method: "POST", path: "/subscriptions",
			body: `{"address":"bob@example.com","subscriber_list_id":"{list}","skip_confirmation_email":true}`, status: 200},
		{name: "subscribe without address", method: "POST", path: "/subscriptions",
			body: `{"subscriber_list_id":{list}}`, status: 400, want: map[string]any{"details.address.0": "is required"}},
		{name: "subscribe without list", method: "POST", path: "/subscriptions",
			body: `{"address":"bob@example.com","subscriber_list_id":null}`, status: 400,
			want: map[string]any{"details.subscriber_list_id.0": "is required"}},
		{name: "subscribe to unknown list", method: "POST", path: "/subscriptions",
			body: `{"address":"bob@example.com","subscriber_list_id":987654}`, status: 404},
		{name: "subscribe with bad address and frequency", method: "POST", path: "/subscriptions",
			body: `{"address":"bob@example.com\r\nBcc: x@y.z","subscriber_list_id":{list},"frequency":"hourly"}`, status: 422,
			want: map[string]any{"details.address": "<set>", "details.frequency": "<set>"}},
		{name: "subscribe with a non-numeric list id", method: "POST", path: "/subscriptions",
			body: `{"address":"bob@example.com","subscriber_list_id":"tax"}`, status: 422,
			want: map[string]any{"details.subscriber_list_id": "<set>"}},
		{name: "get subscription", method: "GET", path: "/subscriptions/{subscription}", status: 200,
			want: map[string]any{"subscription.id": "{subscription}", "subscription.subscriber.id": "{subscriber}"}},
		{name: "get unknown subscription", method: "GET", path: "/subscriptions/00000000-0000-0000-0000-000000000000", status: 404},
		{name: "get malformed subscription id", method: "GET", path: "/subscriptions/1%27%20or%201=1", status: 404},
		{name: "latest subscription", method: "GET", path: "/subscriptions/{subscription}/latest", status: 200,
			want: map[string]any{"subscription.id": "{subscription}"}},
		{name: "change frequency", method: "PATCH", path: "/subscriptions/{subscription}", body: `{"frequency":"weekly"}`,
			status: 200, want: map[string]any{"subscription.frequency": "weekly", "subscription.source": "frequency_changed"}},
		{name: "change to the same frequency", method: "PATCH", path: "/subscriptions/{subscription}", body: `{"frequency":"daily"}`,
			status: 200, want: map[string]any{"subscription.id": "{subscription}"}},
		{name: "change to a bad frequency", method: "PATCH", path: "/subscriptions/{subscription}", body: `{"frequency":"hourly"}`,
			status: 422, want: map[string]any{"details.frequency": "<set>"}},
		{name: "change without frequency", method: "PATCH", path: "/subscriptions/{subscription}", body: `{}`, status: 400},
		{name: "change unknown subscription", method: "PATCH", path: "/subscriptions/00000000-0000-0000-0000-000000000000",
			body: `{"frequency":"daily"}`, status: 404},
		{name: "unsubscribe", method: "POST", path: "/unsubscribe/{subscription}", status: 204},
		{name: "unsubscribe unknown", method: "POST", path: "/unsubscribe/00000000-0000-0000-0000-000000000000", status: 404},
		{name: "unsubscribe malformed", method: "POST", path: "/unsubscribe/abc", status: 404},

		// Subscribers
		{name: "subscriptions of a subscriber", method: "GET", path: "/subscribers/{subscriber}/subscriptions", status: 200,
			want: map[string]any{"subscriber.id": "{subscriber}", "subscriber.address": "ann@example.com",
				"subscriptions.0.id": "{subscription}", "subscriptions.0.subscriber_list.id": "{list}"}},
		{name: "subscriptions in title order", method: "GET", path: "/subscribers/{subscriber}/subscriptions?order=-title", status: 200},
		{name: "subscriptions in a bad order", method: "GET", path: "/subscribers/{subscriber}/subscriptions?order=address",
			status: 422, want: map[string]any{"error": "Order parameter not valid"}},
		{name: "subscriptions of unknown subscriber", method: "GET", path: "/subscribers/987654/subscriptions", status: 404},
		{name: "subscriptions of malformed id", method: "GET", path: "/subscribers/ann/subscriptions", status: 404},
		{name: "subscriptions of an overflowing id", method: "GET", path: "/subscribers/99999999999999999999999/subscriptions", status: 404},
		{name: "change address", method: "PATCH", path: "/subscribers/{subscriber}", body: `{"new_address":" ann@new.example.com "}`,
			status: 200, want: map[string]any{"subscriber.address": "ann@new.example.com", "subscriber.id": "{subscriber}"}},
		{name: "change to an invalid address", method: "PATCH", path: "/subscribers/{subscriber}", body: `{"new_address":"ann"}`,
			status: 422, want: map[string]any{"details.new_address": "<set>"}},
		{name: "change with unknown on_conflict", method: "PATCH", path: "/subscribers/{subscriber}",
			body: `{"new_address":"x@example.com","on_conflict":"overwrite"}`, status: 422, want: map[string]any{"details.on_conflict": "<set>"}},
		{name: "change without new_address", method: "PATCH", path: "/subscribers/{subscriber}", body: `{}`, status: 400},
		{name: "change address of unknown subscriber", method: "PATCH", path: "/subscribers/987654",
			body: `{"new_address":"x@example.com"}`, status: 404},
		{name: "unsubscribe everything", method: "DELETE", path: "/subscribers/{subscriber}", status: 204},
		{name: "unsubscribe everything of unknown subscriber", method: "DELETE", path: "/subscribers/987654", status: 404},

		// Magic links
		{name: "sign-in token", method: "POST", path: "/subscribers/auth-token",
			body: `{"address":"ANN@example.com","destination":"/email/manage/authenticate/process"}`, status: 201,
			want: map[string]any{"subscriber.id": "{subscriber}", "subscriber.address": "ann@example.com"}},
		{name: "sign-in token for unknown address", method: "POST", path: "/subscribers/auth-token",
			body: `{"address":"nobody@example.com","destination":"/email/manage"}`, status: 404},
		{name: "sign-in token to another host", method: "POST", path: "/subscribers/auth-token",
			body: `{"address":"ann@example.com","destination":"//evil.example/x"}`, status: 422, want: map[string]any{"details.destination": "<set>"}},
		{name: "sign-in token to an absolute URL", method: "POST", path: "/subscribers/auth-token",
			body: `{"address":"ann@example.com","destination":"http://evil.example/"}`, status: 422},
		{name: "sign-in token to a backslash path", method: "POST", path: "/subscribers/auth-token",
			body: `{"address":"ann@example.com","destination":"/\\evil.example"}`, status: 422},
		{name: "sign-in token without fields", method: "POST", path: "/subscribers/auth-token", body: `{}`,
			status: 400, want: map[string]any{"details.address": "<set>", "details.destination": "<set>"}},
		{name: "sign-in token with empty fields", method: "POST", path: "/subscribers/auth-token",
			body: `{"address":"","destination":""}`, status: 422,
			want: map[string]any{"details.address": "<set>", "details.destination": "<set>"}},
		{name: "confirmation token", method: "POST", path: "/subscriptions/auth-token",
			body: `{"address":"new@example.com","topic_id":"{slug}","frequency":"weekly"}`, status: 200},
		{name: "confirmation token for unknown list", method: "POST", path: "/subscriptions/auth-token",
			body: `{"address":"new@example.com","topic_id":"nope","frequency":"weekly"}`, status: 404},
		{name: "confirmation token with bad fields", method: "POST", path: "/subscriptions/auth-token",
			body: `{"address":"new","topic_id":"","frequency":"hourly"}`, status: 422,
			want: map[string]any{"details.address": "<set>", "details.topic_id": "<set>", "details.frequency": "<set>"}},
		// The one exception to "a missing field is a 400" (DESIGN.md).
		{name: "confirmation token without fields", method: "POST", path: "/subscriptions/auth-token", body: `{}`,
			status: 422, want: map[string]any{"details.address": "<set>", "details.topic_id": "<set>", "details.frequency": "<set>"}},

		// Routing
		{name: "unknown path", method: "GET", path: "/nope", status: 404, want: map[string]any{"error": "Not found"}},
		{name: "wrong method", method: "PUT", path: "/subscriptions/{subscription}", body: `{}`, status: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := testrig.NewAPI(t)
			w := f.Do(tt.method, tt.path, tt.body, tt.header)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if w.Code == http.StatusNoContent {
				if w.Body.Len() != 0 {
					t.Errorf("204 with a body: %s", w.Body)
				}
				return
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want JSON", ct)
			}
			var body any
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("response is not JSON: %v: %s", err, w.Body)
			}
			if w.Code >= 400 {
				if msg, _ := testrig.Get(body, "error").(string); msg == "" {
					t.Errorf("error response without an error message: %s", w.Body)
				}
			}
			for path, want := range tt.want {
				got := testrig.Get(body, path)
				if want == "<set>" {
					if got == nil {
						t.Errorf("%s missing from %s", path, w.Body)
					}
					continue
				}
				if s, ok := want.(string); ok {
					want = f.Expand(s)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s = %v, want %v", path, got, want)
				}
			}
		})
	}
}

// TestAPIMerge checks the merge rules end to end: subscriptions move, the
// more frequent wins, and the other subscriber's address is released.
func TestAPIMerge(t *testing.T) {
	t.Parallel()
	f := testrig.NewAPI(t) // ann: Tax news, daily
	var bob struct {
		Subscription subscribers.Subscription `json:"subscription"`
	}
	f.MustDo(t, "POST", "/subscriptions", `{"address":"bob@example.com","subscriber_list_id":{list},"frequency":"immediately"}`, &bob)

	if w := f.Do("PATCH", "/subscribers/{subscriber}", `{"new_address":"Bob@example.com"}`, nil); w.Code != 422 {
		t.Fatalf("taken address without merge: %d, want 422", w.Code)
	}
	w := f.Do("PATCH", "/subscribers/{subscriber}", `{"new_address":"Bob@example.com","on_conflict":"merge"}`, nil)
	if w.Code != 200 {
		t.Fatalf("merge: %d %s", w.Code, w.Body)
	}
	var list struct {
		Subscriptions []subscribers.Subscription `json:"subscriptions"`
	}
	f.MustDo(t, "GET", "/subscribers/{subscriber}/subscriptions", "", &list)
	if len(list.Subscriptions) != 1 || list.Subscriptions[0].Frequency != subscribers.Immediately ||
		list.Subscriptions[0].Source != subscribers.SourceSubscriberMerged {
		t.Errorf("after merge: %+v, want one immediately subscription from subscriber_merged", list.Subscriptions)
	}
	var old struct {
		Subscription subscribers.Subscription `json:"subscription"`
	}
	f.MustDo(t, "GET", "/subscriptions/"+bob.Subscription.ID.String(), "", &old)
	if old.Subscription.EndedReason == nil || *old.Subscription.EndedReason != subscribers.EndedSubscriberMerged ||
		old.Subscription.Subscriber.Address != nil {
		t.Errorf("bob's old subscription: %+v, want ended subscriber_merged with bob's address nulled", old.Subscription)
	}
}

// TestAPIMergeOntoLinkedSubscriberIsRefused: a linked subscriber's address
// changes only through its account, so no API client can take it, merge
// or not, and the linked subscriber keeps its address and subscriptions.
func TestAPIMergeOntoLinkedSubscriberIsRefused(t *testing.T) {
	t.Parallel()
	a := testrig.NewAPIApp(t)
	r := a.APIRouter()
	f := &testrig.API{Router: r}
	f.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news"}`, nil)
	var ann, bob struct {
		Subscription subscribers.Subscription `json:"subscription"`
	}
	f.MustDo(t, "POST", "/subscriptions", `{"address":"ann@example.com","subscriber_list_id":1,"frequency":"daily"}`, &ann)
	f.MustDo(t, "POST", "/subscriptions", `{"address":"bob@example.com","subscriber_list_id":1,"frequency":"weekly"}`, &bob)
	if _, err := a.DB().Exec(`UPDATE subscribers SET govuk_account_id = 'urn:test:bob', linked_at = now() WHERE id = $1`,
		bob.Subscription.Subscriber.ID); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/subscribers/%d", ann.Subscription.Subscriber.ID)
	for _, body := range []string{
		`{"new_address":"Bob@example.com","on_conflict":"merge"}`,
		`{"new_address":"bob@example.com"}`,
	} {
		w := f.Do("PATCH", path, body, nil)
		if w.Code != http.StatusUnprocessableEntity {
			t.Errorf("PATCH %s: %d %s, want 422", body, w.Code, w.Body)
		}
	}
	w := f.Do("PATCH", path, `{"new_address":"bob@example.com","on_conflict":"merge"}`, nil)
	if !strings.Contains(w.Body.String(), "GOV.UK One Login") {
		t.Errorf("merge onto a linked address: %s, want it to say the address is managed through GOV.UK One Login", w.Body)
	}
	var kept struct {
		Subscription subscribers.Subscription `json:"subscription"`
	}
	f.MustDo(t, "GET", "/subscriptions/"+bob.Subscription.ID.String(), "", &kept)
	if kept.Subscription.EndedAt != nil || kept.Subscription.Subscriber.Address == nil ||
		*kept.Subscription.Subscriber.Address != "bob@example.com" {
		t.Errorf("the linked subscriber afterwards: %+v, want its address and subscription kept", kept.Subscription)
	}
}

func TestAPIConcurrentSubscribe(t *testing.T) {
	t.Parallel()
	f := testrig.NewAPI(t)
	const n = 30
	codes := make(chan int, n)
	ids := make(chan string, n)
	for range n {
		go func() {
			w := f.Do("POST", "/subscriptions", `{"address":"carol@example.com","subscriber_list_id":{list},"frequency":"weekly"}`, nil)
			var body struct {
				Subscription struct{ ID string } `json:"subscription"`
			}
			_ = json.Unmarshal(w.Body.Bytes(), &body)
			codes <- w.Code
			ids <- body.Subscription.ID
		}()
	}
	distinct := map[string]bool{}
	for range n {
		if code := <-codes; code != 200 {
			t.Errorf("status %d, want 200", code)
		}
		distinct[<-ids] = true
	}
	if len(distinct) != 1 {
		t.Errorf("%d different subscriptions returned, want 1", len(distinct))
	}
}

// TestAPIAuthTokenEmails checks what the auth-token endpoints write to the
// outbox: a link for an unlinked subscriber, nothing for a linked one.
func TestAPIAuthTokenEmails(t *testing.T) {
	t.Parallel()
	a := testrig.NewAPIApp(t)
	r := a.APIRouter()
	f := &testrig.API{Router: r}
	f.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news"}`, nil)
	f.MustDo(t, "POST", "/subscriptions", `{"address":"ann@example.com","subscriber_list_id":1,"skip_confirmation_email":true}`, nil)
	f.MustDo(t, "POST", "/subscriptions", `{"address":"bob@example.com","subscriber_list_id":1,"skip_confirmation_email":true}`, nil)
	if _, err := a.DB().Exec(`UPDATE subscribers SET govuk_account_id = 'urn:fdc:gov.uk:2022:bob' WHERE address = 'bob@example.com'`); err != nil {
		t.Fatal(err)
	}

	if w := f.Do("POST", "/subscribers/auth-token", `{"address":"bob@example.com","destination":"/email/manage"}`, nil); w.Code != 403 {
		t.Errorf("linked subscriber: %d, want 403", w.Code)
	}
	if w := f.Do("POST", "/subscribers/auth-token", `{"address":"ann@example.com","destination":"/email/manage?x=1"}`, nil); w.Code != 201 {
		t.Fatalf("ann: %d %s", w.Code, w.Body)
	}
	var emails []struct {
		Address string `db:"address"`
		Body    string `db:"body"`
	}
	if err := a.DB().Select(&emails, `SELECT address, body FROM emails`); err != nil {
		t.Fatal(err)
	}
	if len(emails) != 1 || emails[0].Address != "ann@example.com" ||
		!regexp.MustCompile(`http://localhost:3000/email/manage\?token=[A-Za-z0-9_-]{43}&x=1`).MatchString(emails[0].Body) {
		t.Errorf("emails %+v, want one to ann with a link to PUBLIC_URL/email/manage", emails)
	}
}

// TestAPIRateLimitNamesTheLimit: the API's 429 says it is the per-address
// limit that was reached, and when to try again.
func TestAPIRateLimitNamesTheLimit(t *testing.T) {
	t.Parallel()
	f := testrig.NewAPI(t) // ann@example.com is subscribed
	var w *httptest.ResponseRecorder
	for range 5 { // RATE_LIMIT_PER_ADDRESS defaults to 4/minute
		w = f.Do("POST", "/subscribers/auth-token", `{"address":"ann@example.com","destination":"/email/manage"}`, nil)
	}
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("5th request for one address: %d %s, want 429 with Retry-After", w.Code, w.Body)
	}
	var body struct {
		Error   string              `json:"error"`
		Details map[string][]string `json:"details"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Details["address"]) != 1 || !strings.Contains(body.Details["address"][0], "per-address limit") {
		t.Errorf("429 body %s: want details.address to name the per-address limit", w.Body)
	}
}

// TestOperations: metrics and the queue UI answer behind the API token,
// and the queue UI cannot change anything.
func TestOperations(t *testing.T) {
	t.Parallel()
	f := testrig.NewAPI(t)
	w := f.Do("GET", "/metrics", "", nil)
	for _, want := range []string{
		`email_alert_http_requests_total{route="/subscriptions",server="api",status="200"} 1`,
		"email_alert_account_events_received_total", "email_alert_emails_total", "go_goroutines",
	} {
		if w.Code != 200 || !strings.Contains(w.Body.String(), want) {
			t.Errorf("/metrics: %d, missing %q", w.Code, want)
		}
	}
	if w := f.Do("GET", "/metrics", "", http.Header{"Authorization": {""}}); w.Code != 401 {
		t.Errorf("/metrics without a token: %d, want 401", w.Code)
	}
	if w := f.Do("GET", "/admin/queues", "", nil); w.Code != 200 || !strings.Contains(w.Body.String(), "<html") {
		t.Errorf("/admin/queues: %d", w.Code)
	}
	if w := f.Do("GET", "/admin/queues/api/queues", "", nil); w.Code != 200 {
		t.Errorf("/admin/queues/api/queues: %d %s", w.Code, w.Body)
	}
	if w := f.Do("DELETE", "/admin/queues/api/queues/x", "", nil); w.Code != 405 && w.Code != 404 {
		t.Errorf("DELETE on the queue UI: %d, want it refused", w.Code)
	}
	if w := f.Do("GET", "/admin/queues", "", http.Header{"Authorization": {""}}); w.Code != 401 {
		t.Errorf("/admin/queues without a token: %d, want 401", w.Code)
	}
}

// TestAPIAddressSpellings: one mailbox spelt with a Unicode, a punycode
// or a fullwidth domain is one subscriber and one rate-limit key, and
// domains mail cannot go to are refused.
func TestAPIAddressSpellings(t *testing.T) {
	t.Parallel()
	db, dbURL := testdb.New(t)
	a := testrig.NewAppOn(t, db, map[string]string{"DATABASE_URL": dbURL, "RATE_LIMIT_PER_ADDRESS": "2/minute"})
	f := &testrig.API{Router: a.APIRouter()}
	f.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news"}`, nil)
	spellings := []string{"zoe@exämple.com", "zoe@xn--exmple-cua.com", "Zoe@ｅｘäｍｐｌｅ．ｃｏｍ", "ZOE@XN--EXMPLE-CUA.COM"}
	for _, address := range spellings {
		var got struct {
			Subscription subscribers.Subscription `json:"subscription"`
		}
		f.MustDo(t, "POST", "/subscriptions", fmt.Sprintf(`{"address":%q,"subscriber_list_id":1,"skip_confirmation_email":true}`, address), &got)
		if got.Subscription.Subscriber.ID != 1 || *got.Subscription.Subscriber.Address != "zoe@xn--exmple-cua.com" {
			t.Errorf("%s: subscriber %d %q, want 1 zoe@xn--exmple-cua.com", address, got.Subscription.Subscriber.ID, *got.Subscription.Subscriber.Address)
		}
	}
	var count int
	if err := db.Get(&count, `SELECT count(*) FROM subscribers`); err != nil || count != 1 {
		t.Errorf("%d subscribers (%v), want 1", count, err)
	}
	var codes []int
	for _, address := range spellings[1:] {
		w := f.Do("POST", "/subscribers/auth-token", fmt.Sprintf(`{"address":%q,"destination":"/email/manage"}`, address), nil)
		codes = append(codes, w.Code)
	}
	if want := []int{201, 201, 429}; fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Errorf("sign-in tokens for three spellings: %v, want %v (one limit of 2/minute)", codes, want)
	}
	for _, address := range []string{"ann@127.0.0.1", "ann@example.123", "ann@xn--a.com"} {
		w := f.Do("POST", "/subscriptions", fmt.Sprintf(`{"address":%q,"subscriber_list_id":1}`, address), nil)
		if w.Code != 422 {
			t.Errorf("%s: %d, want 422", address, w.Code)
		}
	}
}

func TestMain(m *testing.M) { testrig.Main(m) }
