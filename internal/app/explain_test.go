package app_test

import (
	"context"
	"email-alert/internal/testkit/testrig"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"email-alert/events"
	"email-alert/internal/testkit/sqlrecord"
	"email-alert/internal/testkit/testdb"
)

// Volumes of the seeded schema: enough rows that the planner prefers an
// index whenever one fits, so a missing one shows up as a Seq Scan.
const (
	seedSubscribers = 100_000
	seedLists       = 200
	// Every fourth subscriber is linked to an account: 25,000.
	seedLinkedEvery = 4
)

// seedSQL fills a fresh schema: 100,000 subscribers (25,000 linked), three
// subscriptions each over 200 lists (a tenth ended), sign-in and
// unsubscribe tokens, magic-link and account sessions, and 50,000
// processed account events with their cursors.
const seedSQL = `
INSERT INTO subscriber_lists (id, slug, title, url)
SELECT g, 'list-' || g, 'List ' || g, '/list-' || g FROM generate_series(1, 200) g;
SELECT setval(pg_get_serial_sequence('subscriber_lists', 'id'), 200);

INSERT INTO subscribers (id, address, govuk_account_id, linked_at, created_at, updated_at)
SELECT g, 'person' || g || '@example.com',
       CASE WHEN g % 4 = 0 THEN 'urn:fdc:gov.uk:2022:' || g END,
       CASE WHEN g % 4 = 0 THEN now() - interval '1 day' END,
       now() - g * interval '1 minute', now() - g * interval '1 minute'
FROM generate_series(1, 100000) g;
SELECT setval(pg_get_serial_sequence('subscribers', 'id'), 100000);

INSERT INTO subscriptions (subscriber_id, subscriber_list_id, frequency, source, ended_at, ended_reason,
                           created_at, updated_at)
SELECT s, (s * 7 + k * 61) % 200 + 1, (ARRAY['immediately', 'daily', 'weekly'])[(s + k) % 3 + 1], 'user_signed_up',
       CASE WHEN (s + k) % 10 = 0 THEN now() - interval '1 hour' END,
       CASE WHEN (s + k) % 10 = 0 THEN 'unsubscribed' END,
       now() - (s * 3 + k) * interval '1 second', now() - (s * 3 + k) * interval '1 second'
FROM generate_series(1, 100000) s, generate_series(0, 2) k;

INSERT INTO auth_tokens (token_hash, purpose, subscriber_id, address, expires_at, used_at)
SELECT sha256(convert_to('sign-in-' || g, 'UTF8')), 'sign_in', g, 'person' || g || '@example.com',
       now() + CASE WHEN g % 2 = 0 THEN interval '1 day' ELSE interval '-1 day' END,
       CASE WHEN g % 3 = 0 THEN now() END
FROM generate_series(1, 100000, 5) g;
INSERT INTO auth_tokens (token_hash, purpose, subscriber_id, subscriber_list_id, address, expires_at)
SELECT sha256(convert_to('unsubscribe-' || s.id, 'UTF8')), 'unsubscribe', s.subscriber_id, s.subscriber_list_id,
       'person' || s.subscriber_id || '@example.com', now() + interval '365 days'
FROM subscriptions s WHERE s.subscriber_id % 10 = 1 AND s.ended_at IS NULL;

INSERT INTO sessions (token_hash, subscriber_id, method, expires_at)
SELECT sha256(convert_to('session-' || g, 'UTF8')), g, 'magic_link', now() + interval '4 hours'
FROM generate_series(1, 100000, 5) g WHERE g % 4 <> 0;
INSERT INTO sessions (token_hash, method, govuk_account_id, email, email_verified, expires_at)
SELECT sha256(convert_to('account-session-' || g, 'UTF8')), 'account', 'urn:fdc:gov.uk:2022:' || g,
       'person' || g || '@example.com', true, now() + interval '4 hours'
FROM generate_series(20, 100000, 20) g;

INSERT INTO account_events (id, kind, event_type, sub, payload, occurred_at, received_at, status, attempts,
                            outcome, processed_at)
SELECT 'seed-' || g, 'email_changed', 'https://schemas.openid.net/secevent/risc/event-type/identifier-changed',
       'urn:fdc:gov.uk:2022:' || (g % 25000 + 1) * 4, '{"email":"old@example.com","email_verified":true}',
       now() - g * interval '1 minute', now() - g * interval '1 minute', 'done', 1, 'applied',
       now() - g * interval '1 minute'
FROM generate_series(1, 50000) g;
INSERT INTO account_event_cursors (sub, last_applied_at)
SELECT sub, max(occurred_at) FROM account_events GROUP BY sub;

ANALYZE subscriber_lists, subscribers, subscriptions, auth_tokens, sessions, account_events,
        account_event_cursors, deleted_accounts, emails;
`

// TestHotQueriesUseIndexes drives the busiest requests and the event
// processor against a production-sized schema, records every statement
// they send, and checks with EXPLAIN ANALYZE that none of them reads
// subscribers or subscriptions sequentially.
func TestHotQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	seed, dsn := testdb.New(t)
	start := time.Now()
	if _, err := seed.Exec(seedSQL); err != nil {
		t.Fatalf("seed: %v", err)
	}
	t.Logf("seeded in %s", time.Since(start).Round(time.Millisecond))

	db, rec, err := sqlrecord.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a := testrig.NewAppOn(t, db, map[string]string{"DATABASE_URL": dsn})

	h := &hotPaths{t: t, seed: seed, api: a.APIRouter(), pages: a.FrontendHandler(), used: map[int64]bool{}}
	h.drive(a)

	// Every distinct statement is explained with each set of arguments it
	// was sent with, as the plan can depend on them.
	statements := rec.Statements()
	var queries []string
	argSets := map[string][][]any{}
	seen := map[string]bool{}
	for _, s := range statements {
		if !explainable(s.Query) {
			continue
		}
		args := make([]any, len(s.Args))
		for i, arg := range s.Args {
			args[i] = arg.Value
		}
		if key := s.Query + fmt.Sprintf("%#v", args); !seen[key] {
			seen[key] = true
			if argSets[s.Query] == nil {
				queries = append(queries, s.Query)
			}
			argSets[s.Query] = append(argSets[s.Query], args)
		}
	}
	for _, q := range queries {
		h.checkPlans(q, argSets[q])
	}
	if len(queries) < 20 {
		t.Errorf("only %d distinct statements recorded: is the recorder wired in?", len(queries))
	}
	t.Logf("checked %d distinct statements (%d EXPLAINs; %d statements recorded in all)",
		len(queries), len(seen), len(statements))
}

// hotPaths drives the application through its routers; seed is the plain
// connection used to pick rows and read results without being recorded.
type hotPaths struct {
	t     *testing.T
	seed  *sqlx.DB
	api   http.Handler
	pages http.Handler
	used  map[int64]bool
}

// subscriber returns a random seeded subscriber, linked or not, not
// returned before, so no step sees another step's changes.
func (h *hotPaths) subscriber(linked bool) int64 {
	for {
		id := rand.Int64N(seedSubscribers) + 1
		if (id%seedLinkedEvery == 0) == linked && !h.used[id] {
			h.used[id] = true
			return id
		}
	}
}

func seededAddress(id int64) string { return fmt.Sprintf("person%d@example.com", id) }

func seededAccount(id int64) string { return fmt.Sprintf("urn:fdc:gov.uk:2022:%d", id) }

// activeSubscription returns the id and frequency of an active
// subscription of subscriber.
func (h *hotPaths) activeSubscription(subscriber int64) (id, frequency string) {
	h.t.Helper()
	var row struct {
		ID        string `db:"id"`
		Frequency string `db:"frequency"`
	}
	err := h.seed.Get(&row, `SELECT id, frequency FROM subscriptions
		WHERE subscriber_id = $1 AND ended_at IS NULL ORDER BY created_at LIMIT 1`, subscriber)
	if err != nil {
		h.t.Fatalf("active subscription of %d: %v", subscriber, err)
	}
	return row.ID, row.Frequency
}

// call sends an API request and fails unless it answers want.
func (h *hotPaths) call(method, path, body string, want int) {
	h.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testrig.Token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	h.api.ServeHTTP(w, req)
	if w.Code != want {
		h.t.Fatalf("%s %s: %d, want %d: %s", method, path, w.Code, want, w.Body)
	}
}

// page sends a frontend request and fails unless it answers want.
func (h *hotPaths) page(req *http.Request, want int) *httptest.ResponseRecorder {
	h.t.Helper()
	w := httptest.NewRecorder()
	h.pages.ServeHTTP(w, req)
	if w.Code != want {
		h.t.Fatalf("%s %s: %d, want %d: %s", req.Method, req.URL, w.Code, want, w.Body)
	}
	return w
}

var signInLink = regexp.MustCompile(`/email/manage/authenticate/process\?token=[A-Za-z0-9_-]+`)

func (h *hotPaths) drive(a *testrig.App) {
	t := h.t
	t.Helper()

	// The API
	for range 5 {
		h.call("GET", fmt.Sprintf("/subscribers/%d/subscriptions", h.subscriber(false)), "", 200)
	}
	h.call("GET", fmt.Sprintf("/subscribers/%d/subscriptions?order=title", h.subscriber(true)), "", 200)
	existing := h.subscriber(false)
	h.call("POST", "/subscriptions", fmt.Sprintf(`{"address":%q,"subscriber_list_id":%d,"frequency":"weekly"}`,
		seededAddress(existing), (existing*7)%seedLists+1), 200) // on that list already
	h.call("POST", "/subscriptions", fmt.Sprintf(`{"address":%q,"subscriber_list_id":%d}`,
		strings.ToUpper(seededAddress(existing)), (existing*7+30)%seedLists+1), 200) // a new list
	h.call("POST", "/subscriptions", `{"address":"someone.new@example.com","subscriber_list_id":17,"frequency":"daily"}`, 200)

	id, _ := h.activeSubscription(h.subscriber(false))
	h.call("GET", "/subscriptions/"+id, "", 200)
	h.call("GET", "/subscriptions/"+id+"/latest", "", 200)
	id, frequency := h.activeSubscription(h.subscriber(false))
	other := map[string]string{"immediately": "daily", "daily": "weekly", "weekly": "immediately"}[frequency]
	h.call("PATCH", "/subscriptions/"+id, fmt.Sprintf(`{"frequency":%q}`, other), 200)
	id, _ = h.activeSubscription(h.subscriber(false))
	h.call("POST", "/unsubscribe/"+id, "", 204)

	changing := h.subscriber(false)
	h.call("PATCH", fmt.Sprintf("/subscribers/%d", changing), fmt.Sprintf(`{"new_address":"changed-%d@example.com"}`, changing), 200)
	into, from := h.subscriber(false), h.subscriber(false)
	h.call("PATCH", fmt.Sprintf("/subscribers/%d", into),
		fmt.Sprintf(`{"new_address":%q,"on_conflict":"merge"}`, seededAddress(from)), 200)

	h.call("POST", "/subscribers/auth-token",
		fmt.Sprintf(`{"address":%q,"destination":"/email/manage"}`, seededAddress(h.subscriber(false))), 201)
	h.call("GET", "/subscribers/govuk-account/"+seededAccount(h.subscriber(true)), "", 200)

	// The pages: sign in by magic link, redeem it, see the subscriptions.
	signingIn := h.subscriber(false)
	req := httptest.NewRequest("POST", "/email/manage/authenticate",
		strings.NewReader(url.Values{"address": {seededAddress(signingIn)}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.page(req, 200)
	var body string
	if err := h.seed.Get(&body, `SELECT body FROM emails WHERE address = $1 AND kind = 'sign_in'`, seededAddress(signingIn)); err != nil {
		t.Fatalf("sign-in email: %v", err)
	}
	link := signInLink.FindString(body)
	if link == "" {
		t.Fatalf("no sign-in link in %q", body)
	}
	w := h.page(httptest.NewRequest("GET", link, nil), 303)
	req = httptest.NewRequest("GET", "/email/manage", nil)
	for _, c := range w.Result().Cookies() {
		req.AddCookie(c)
	}
	h.page(req, 200)

	// The event processor: a verified email change and an account deletion
	// of linked subscribers.
	ctx := context.Background()
	for i, e := range []struct{ kind, eventType, payload string }{
		{events.KindEmailChanged, events.EventIdentifierChanged, `{"email":"x@y.z","email_verified":true}`},
		{events.KindDeleted, events.EventAccountPurged, `{}`},
	} {
		eventID := fmt.Sprintf("explain-%d", i)
		if _, err := h.seed.Exec(`INSERT INTO account_events (id, kind, event_type, sub, payload, occurred_at)
			VALUES ($1, $2, $3, $4, $5, now())`, eventID, e.kind, e.eventType, seededAccount(h.subscriber(true)), e.payload); err != nil {
			t.Fatal(err)
		}
		if err := a.Processor().Process(ctx, eventID); err != nil {
			t.Fatalf("process %s: %v", e.kind, err)
		}
		var outcome string
		if err := h.seed.Get(&outcome, `SELECT coalesce(outcome, status) FROM account_events WHERE id = $1`, eventID); err != nil {
			t.Fatal(err)
		}
		if outcome != events.OutcomeApplied {
			t.Fatalf("%s event: outcome %q, want %q", e.kind, outcome, events.OutcomeApplied)
		}
	}
}

// explainable reports whether query is one of the application's own
// statements that EXPLAIN can plan: a SELECT, UPDATE, DELETE, WITH or
// INSERT … SELECT, and not locking, migration or catalog housekeeping.
func explainable(query string) bool {
	lower := strings.ToLower(query)
	for _, skip := range []string{"pg_advisory", "pg_try_advisory", "goose", "pg_catalog", "information_schema"} {
		if strings.Contains(lower, skip) {
			return false
		}
	}
	fields := strings.Fields(lower)
	if len(fields) == 0 {
		return false
	}
	switch fields[0] {
	case "select", "update", "delete", "with":
		return true
	case "insert":
		return slices.Contains(fields, "select")
	}
	return false
}

// planNode is the part of a node of EXPLAIN's JSON plan that is checked.
type planNode struct {
	NodeType string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Index    string     `json:"Index Name"`
	Plans    []planNode `json:"Plans"`
}

// walk calls fn on n and every node below it.
func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, child := range n.Plans {
		child.walk(fn)
	}
}

// checkPlans explains query with each of argSets in a transaction that is
// rolled back, so UPDATE and DELETE change nothing, and fails the test on a
// sequential scan of subscribers or subscriptions. A statement that cannot
// run again (its effect already made, say) is planned without ANALYZE.
func (h *hotPaths) checkPlans(query string, argSets [][]any) {
	t := h.t
	t.Helper()
	how, scans, notes := "EXPLAIN ANALYZE", map[string]bool{}, map[string]bool{}
	for _, args := range argSets {
		raw, analyzed, err := h.explain(query, args)
		if err != nil {
			t.Errorf("EXPLAIN %s\nargs %v: %v", query, args, err)
			continue
		}
		if !analyzed {
			how = "EXPLAIN (not re-run)"
		}
		var doc []struct {
			Plan planNode `json:"Plan"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil || len(doc) != 1 {
			t.Errorf("EXPLAIN %s: unreadable plan (%v): %s", query, err, raw)
			continue
		}
		doc[0].Plan.walk(func(n planNode) {
			if n.Relation == "" && n.Index == "" {
				return
			}
			scans[strings.Join(strings.Fields(n.NodeType+" "+n.Relation+" "+n.Index), " ")] = true
			if !strings.Contains(n.NodeType, "Seq Scan") {
				return
			}
			switch n.Relation {
			case "subscribers", "subscriptions":
				t.Errorf("sequential scan on %s by\n%s\nargs %v\nplan:\n%s", n.Relation, query, args, indent(raw))
			default:
				notes[n.Relation] = true
			}
		})
	}
	t.Logf("%s ×%d %s\n\t-> %s", how, len(argSets), oneLine(query), strings.Join(slices.Sorted(maps.Keys(scans)), "; "))
	if len(notes) > 0 {
		t.Logf("\tnote: sequential scan on %s (not subscribers or subscriptions)", strings.Join(slices.Sorted(maps.Keys(notes)), ", "))
	}
}

func (h *hotPaths) explain(query string, args []any) (plan []byte, analyzed bool, err error) {
	ctx := context.Background()
	for _, analyze := range []bool{true, false} {
		options := "FORMAT JSON"
		if analyze {
			options = "ANALYZE, " + options
		}
		tx, txErr := h.seed.BeginTxx(ctx, nil)
		if txErr != nil {
			return nil, false, txErr
		}
		err = tx.QueryRowxContext(ctx, "EXPLAIN ("+options+") "+query, args...).Scan(&plan)
		_ = tx.Rollback()
		if err == nil {
			return plan, analyze, nil
		}
	}
	return nil, false, err
}

// oneLine shortens query for the log: one line, at most 160 characters.
func oneLine(query string) string {
	s := strings.Join(strings.Fields(query), " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

func indent(raw []byte) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	return string(out)
}
