package alerts_test

import (
	"context"
	"email-alert/internal/app"
	"email-alert/internal/testkit/testrig"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"email-alert/internal/testkit/testdb"
)

func TestAPISubscriberListCriteria(t *testing.T) {
	t.Parallel()
	f := testrig.NewAPI(t)
	decode := func(w interface{ Result() *http.Response }) map[string]any {
		var body map[string]any
		b, _ := io.ReadAll(w.Result().Body)
		_ = json.Unmarshal(b, &body)
		return body
	}
	// Two spellings of the same criteria are one list, found concurrently.
	bodies := []string{
		`{"title":"VAT","tags":{"topics":{"any":["vat","income-tax"]}},"links":{"organisations":["hmrc"]}}`,
		`{"title":"VAT","links":{"organisations":{"any":["hmrc","hmrc"]}},"tags":{"topics":["income-tax","vat"]}}`,
	}
	var wg sync.WaitGroup
	ids := make([]any, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := f.Do("POST", "/subscriber-lists", bodies[i%2], nil)
			if w.Code != http.StatusOK {
				t.Errorf("create %d: %d %s", i, w.Code, w.Body)
			}
			ids[i] = testrig.Get(decode(w), "subscriber_list.id")
		}()
	}
	wg.Wait()
	for i := range ids {
		if ids[i] != ids[0] || ids[i] == nil {
			t.Fatalf("concurrent identical criteria made lists %v", ids)
		}
	}
	// Other criteria, same title: a new list with a slug made unique.
	w := f.Do("POST", "/subscriber-lists", `{"title":"VAT","tags":{"topics":{"all":["vat","income-tax"]}}}`, nil)
	other := decode(w)
	if w.Code != http.StatusOK || testrig.Get(other, "subscriber_list.id") == ids[0] ||
		!strings.HasPrefix(fmt.Sprint(testrig.Get(other, "subscriber_list.slug")), "vat-") {
		t.Fatalf("other criteria: %d %v", w.Code, other)
	}

	// Find by a Rails-style query.
	w = f.Do("GET", "/subscriber-lists?tags[topics][any][]=vat&tags[topics][any][]=income-tax&links[organisations][]=hmrc", "", nil)
	found := decode(w)
	if w.Code != http.StatusOK || testrig.Get(found, "subscriber_list.id") != ids[0] {
		t.Fatalf("find by criteria: %d %v", w.Code, found)
	}
	if got := fmt.Sprint(testrig.Get(found, "subscriber_list.tags")); got != "map[topics:map[any:[income-tax vat]]]" {
		t.Errorf("tags = %s", got)
	}
	if testrig.Get(found, "subscriber_list.active_subscriptions_count") != float64(0) {
		t.Errorf("active_subscriptions_count = %v", testrig.Get(found, "subscriber_list.active_subscriptions_count"))
	}
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"tags[topics][any][]=vat", http.StatusNotFound},
		{"tags[topics][some][]=vat", http.StatusUnprocessableEntity},
		{"colour=red", http.StatusUnprocessableEntity},
		{"content_id=not-a-uuid", http.StatusUnprocessableEntity},
		{"tags[topics][any][]=%01", http.StatusUnprocessableEntity},
	} {
		if w := f.Do("GET", "/subscriber-lists?"+tc.query, "", nil); w.Code != tc.want {
			t.Errorf("GET ?%s: %d %s, want %d", tc.query, w.Code, w.Body, tc.want)
		}
	}
	for _, bad := range []string{
		`{"title":"X","tags":{"topics":{"some":["vat"]}}}`,
		`{"title":"X","tags":{"topics":[1]}}`,
		`{"title":"X","tags":{"topics":[]}}`,
		`{"title":"X","links":"hmrc"}`,
		`{"title":"X","content_id":"nope"}`,
		`{"title":"X","tags":{"topics":{"any":["a"],"all":["b"]}}}`,
	} {
		if w := f.Do("POST", "/subscriber-lists", bad, nil); w.Code != http.StatusUnprocessableEntity {
			t.Errorf("POST %s: %d %s, want 422", bad, w.Code, w.Body)
		}
	}

	// PATCH
	slug := f.Slug
	w = f.Do("PATCH", "/subscriber-lists/"+slug, `{"title":"Tax news, renamed"}`, nil)
	if w.Code != http.StatusOK || testrig.Get(decode(w), "subscriber_list.title") != "Tax news, renamed" {
		t.Errorf("PATCH: %d %s", w.Code, w.Body)
	}
	if w := f.Do("PATCH", "/subscriber-lists/"+slug, `{}`, nil); w.Code != http.StatusUnprocessableEntity {
		t.Errorf("PATCH with nothing: %d", w.Code)
	}
	if w := f.Do("PATCH", "/subscriber-lists/no-such-list", `{"title":"x"}`, nil); w.Code != http.StatusNotFound {
		t.Errorf("PATCH unknown: %d", w.Code)
	}
}

func TestAPIContentChanges(t *testing.T) {
	t.Parallel()
	f := testrig.NewAPI(t)
	var list map[string]any
	f.MustDo(t, "POST", "/subscriber-lists", `{"title":"VAT","tags":{"topics":["vat"]}}`, &list)
	f.MustDo(t, "POST", "/subscriptions", fmt.Sprintf(`{"address":"bob@example.com","subscriber_list_id":%v,"skip_confirmation_email":true}`,
		testrig.Get(list, "subscriber_list.id")), nil)

	w := f.Do("POST", "/content-changes", testrig.ContentChangeBody, nil)
	if w.Code != http.StatusAccepted || !strings.Contains(w.Body.String(), "Content change queued for sending") {
		t.Fatalf("POST /content-changes: %d %s", w.Code, w.Body)
	}
	if w := f.Do("POST", "/content-changes", testrig.ContentChangeBody, nil); w.Code != http.StatusConflict ||
		!strings.Contains(w.Body.String(), "Content change already received") {
		t.Errorf("again: %d %s, want 409", w.Code, w.Body)
	}
	for name, tc := range map[string]struct {
		from, to string
		want     int
	}{
		"missing title":     {`"title":"Tax rules",`, ``, http.StatusBadRequest},
		"not a UUID":        {`"5f9c6c15-7631-11e4-a3cb-005056011aef"`, `"5f9c"`, http.StatusUnprocessableEntity},
		"not RFC 3339":      {`"2026-12-01T10:05:00Z"`, `"1 December 2026"`, http.StatusUnprocessableEntity},
		"absolute URL":      {`"/government/news/tax-rules"`, `"https://evil.example/"`, http.StatusUnprocessableEntity},
		"space in the path": {`"/government/news/tax-rules"`, `"/government/news/tax rules"`, http.StatusUnprocessableEntity},
		"control character": {`"Tax rules"`, `"Tax\u0007rules"`, http.StatusUnprocessableEntity},
		"bidi override":     {`"Tax rules"`, `"Tax\u202erules"`, http.StatusUnprocessableEntity},
		"bad priority":      {`"publishing_app":"whitehall"`, `"publishing_app":"whitehall","priority":"urgent"`, http.StatusUnprocessableEntity},
		"tags not strings":  {`["vat","income-tax"]`, `[1]`, http.StatusUnprocessableEntity},
	} {
		body := strings.Replace(testrig.ContentChangeBody, tc.from, tc.to, 1)
		if w := f.Do("POST", "/content-changes", body, nil); w.Code != tc.want {
			t.Errorf("%s: %d %s, want %d", name, w.Code, w.Body, tc.want)
		}
	}
}

// TestDigestCommand runs `email-alert digest` as an operator would, twice:
// the second run is the same run and writes nothing more.
func TestDigestCommand(t *testing.T) {
	t.Parallel()
	db, dbURL := testdb.New(t)
	a := testrig.NewAppOn(t, db, map[string]string{"DATABASE_URL": dbURL})
	f := &testrig.API{Router: a.APIRouter()}
	var list map[string]any
	f.MustDo(t, "POST", "/subscriber-lists", `{"title":"VAT","tags":{"topics":["vat"]}}`, &list)
	for _, addr := range []string{"d1@example.com", "d2@example.com"} {
		f.MustDo(t, "POST", "/subscriptions", fmt.Sprintf(`{"address":%q,"subscriber_list_id":%v,"frequency":"daily","skip_confirmation_email":true}`,
			addr, testrig.Get(list, "subscriber_list.id")), nil)
	}
	if w := f.Do("POST", "/content-changes", testrig.ContentChangeBody, nil); w.Code != http.StatusAccepted {
		t.Fatalf("content change: %d %s", w.Code, w.Body)
	}
	var id string
	if err := db.Get(&id, `SELECT id::text FROM content_changes`); err != nil {
		t.Fatal(err)
	}
	if err := a.Alerts().FanOut(context.Background(), mustUUID(t, id)); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(time.Hour).Format(time.RFC3339)
	env := map[string]string{"DATABASE_URL": dbURL, "API_TOKENS": testrig.Token}
	for range 2 {
		var out strings.Builder
		err := app.Run(context.Background(), []string{"digest", "daily", "--at", at},
			func(k string) string { return env[k] }, &out, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), ": 2 emails in the outbox") {
			t.Errorf("digest printed %q", out.String())
		}
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM emails WHERE kind = 'digest'`); err != nil || n != 2 {
		t.Errorf("digest emails: %d %v, want 2", n, err)
	}
	for _, args := range [][]string{{"digest"}, {"digest", "hourly"}, {"digest", "daily", "--at", "tomorrow"}} {
		if err := app.Run(context.Background(), args, func(k string) string { return env[k] }, io.Discard, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

func mustUUID(t *testing.T, s string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestMain(m *testing.M) { testrig.Main(m) }
