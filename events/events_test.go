package events_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"email-alert/events"
	"email-alert/internal/testkit/settest"
	"email-alert/internal/testkit/testdb"
	"email-alert/jsonapi"
	"email-alert/subscribers"
)

const (
	issuer   = "https://account.example/"
	audience = "https://www.gov.uk"
	token    = "account-events-token"
)

type fixture struct {
	db        *sqlx.DB
	store     *subscribers.Store
	inbox     *events.Inbox
	processor *events.Processor
	router    *gin.Engine
	key       *ecdsa.PrivateKey
	list      subscribers.List
	queue     string
	inspector *asynq.Inspector
}

func setup(t *testing.T) *fixture {
	t.Helper()
	t.Parallel()
	db, _ := testdb.New(t)
	rdb := testdb.Redis(t)
	key, jwksURL := accountServiceKeys(t)
	queue := testdb.Queue(t)
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	t.Cleanup(func() { _ = inspector.DeleteQueue(queue, true) })

	store := subscribers.NewStore(db, nil)
	inbox := events.NewInbox(db, asynq.NewClientFromRedisClient(rdb), queue)
	api := events.NewAPI(inbox, events.NewVerifier(issuer, audience, jwksURL, http.DefaultClient))
	gin.SetMode(gin.TestMode)
	r := gin.New()
	g := r.Group("/", jsonapi.BearerAuth([]string{token}))
	g.POST("/account-events", api.PushSET)
	g.PUT("/api/oidc-users/:sub", api.PutOIDCUser)
	g.DELETE("/api/oidc-users/:sub", api.DeleteOIDCUser)

	f := &fixture{db: db, store: store, inbox: inbox, processor: events.NewProcessor(db, store), router: r, key: key,
		queue: queue, inspector: inspector}
	var err error
	f.list, _, err = store.FindOrCreateList(context.Background(), subscribers.NewList{Title: "News", Slug: "news"})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// accountServiceKeys is the account service's signing key, published
// (kid k1, ES256) by a JWKS server that stops with the test; it returns the
// key and the JWKS URL.
func accountServiceKeys(tb testing.TB) (*ecdsa.PrivateKey, string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"},
		}})
	}))
	tb.Cleanup(jwks.Close)
	return key, jwks.URL
}

// linked subscribes address and links it to sub.
func (f *fixture) linked(t *testing.T, address, sub string) subscribers.Subscription {
	t.Helper()
	s, _, err := f.store.Subscribe(context.Background(), subscribers.SubscribeRequest{
		Address: address, ListID: f.list.ID, Frequency: subscribers.Daily, Cause: subscribers.APICause("test0000"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if sub != "" {
		if _, err := f.db.Exec(`UPDATE subscribers SET govuk_account_id = $2 WHERE id = $1`, s.Subscriber.ID, sub); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// set builds SET claims for sub with one event, then applies changes.
func set(sub, event string, payload, changes map[string]any) map[string]any {
	return settest.Claims(issuer, audience, sub, event, payload, changes)
}

func (f *fixture) sign(t *testing.T, claims map[string]any, key any, alg jose.SignatureAlgorithm, kid string) string {
	t.Helper()
	return settest.Sign(t, claims, alg, key, kid, settest.Type)
}

func (f *fixture) push(raw string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/account-events", strings.NewReader(raw))
	req.Header.Set("Content-Type", "application/secevent+jwt")
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range header {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	f.router.ServeHTTP(w, req)
	return w
}

// call makes an account-api call about sub, with an Idempotency-Key
// unless key is empty.
func (f *fixture) call(method, sub, body, key string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/api/oidc-users/"+sub, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	w := httptest.NewRecorder()
	f.router.ServeHTTP(w, req)
	return w
}

func (f *fixture) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.Get(&n, query, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) processAll(t *testing.T) {
	t.Helper()
	var ids []string
	if err := f.db.Select(&ids, `SELECT id FROM account_events WHERE status = 'pending' ORDER BY received_at`); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := f.processor.Process(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) outcome(t *testing.T, id string) string {
	t.Helper()
	var o *string
	if err := f.db.Get(&o, `SELECT outcome FROM account_events WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if o == nil {
		return ""
	}
	return *o
}

func TestRefusedTokensChangeNothing(t *testing.T) {
	f := setup(t)
	const sub = "urn:fdc:gov.uk:2022:ann"
	good := set(sub, events.EventAccountPurged, nil, nil)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	publicDER, _ := x509.MarshalPKIXPublicKey(f.key.Public())
	tests := []struct {
		name   string
		raw    string
		header http.Header
		status int
		code   string
	}{
		{"wrong key", f.sign(t, good, other, jose.ES256, "k1"), nil, 400, "invalid_key"},
		{"unknown kid", f.sign(t, good, other, jose.ES256, "k9"), nil, 400, "invalid_key"},
		{"HS256 with the public key", f.sign(t, good, publicDER, jose.HS256, "k1"), nil, 400, "invalid_key"},
		{"alg none", func() string {
			payload, _ := json.Marshal(good)
			return b64(`{"alg":"none","typ":"secevent+jwt"}`) + "." + b64(string(payload)) + "."
		}(), nil, 400, "invalid_key"},
		{"wrong iss", f.sign(t, set(sub, events.EventAccountPurged, nil, map[string]any{"iss": "https://evil.example/"}), f.key, jose.ES256, "k1"), nil, 400, "invalid_issuer"},
		{"wrong aud", f.sign(t, set(sub, events.EventAccountPurged, nil, map[string]any{"aud": "https://evil.example"}), f.key, jose.ES256, "k1"), nil, 400, "invalid_audience"},
		{"iat in the future", f.sign(t, set(sub, events.EventAccountPurged, nil, map[string]any{"iat": time.Now().Add(time.Hour).Unix()}), f.key, jose.ES256, "k1"), nil, 400, "invalid_request"},
		{"iat in milliseconds", f.sign(t, set(sub, events.EventAccountPurged, nil, map[string]any{"iat": time.Now().UnixMilli()}), f.key, jose.ES256, "k1"), nil, 400, "invalid_request"},
		{"toe 90 s in the future", f.sign(t, set(sub, events.EventAccountPurged, nil, map[string]any{"toe": time.Now().Add(90 * time.Second).Unix()}), f.key, jose.ES256, "k1"), nil, 400, "invalid_request"},
		{"toe in milliseconds", f.sign(t, set(sub, events.EventAccountPurged, nil, map[string]any{"toe": time.Now().UnixMilli()}), f.key, jose.ES256, "k1"), nil, 400, "invalid_request"},
		{"no jti", f.sign(t, set(sub, events.EventAccountPurged, nil, map[string]any{"jti": nil}), f.key, jose.ES256, "k1"), nil, 400, "invalid_request"},
		{"sub_id not iss_sub", f.sign(t, set(sub, events.EventAccountPurged, nil, map[string]any{"sub_id": map[string]any{"format": "email", "email": "a@b.c"}}), f.key, jose.ES256, "k1"), nil, 400, "invalid_request"},
		{"no events", f.sign(t, set(sub, events.EventAccountPurged, nil, map[string]any{"events": nil}), f.key, jose.ES256, "k1"), nil, 400, "invalid_request"},
		{"garbage", "not.a.jwt", nil, 400, "invalid_request"},
		{"empty", "", nil, 400, "invalid_request"},
		{"missing bearer", f.sign(t, good, f.key, jose.ES256, "k1"), http.Header{"Authorization": {""}}, 401, ""},
		{"API token instead of the events token", f.sign(t, good, f.key, jose.ES256, "k1"), http.Header{"Authorization": {"Bearer dev-api-token"}}, 401, ""},
		{"JSON content type", f.sign(t, good, f.key, jose.ES256, "k1"), http.Header{"Content-Type": {"application/json"}}, 415, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.push(tt.raw, tt.header)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.code != "" {
				var body struct{ Err, Description string }
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Err != tt.code || body.Description == "" {
					t.Errorf("body %s, want err %q with a description", w.Body, tt.code)
				}
			}
		})
	}
	if n := f.count(t, `SELECT count(*) FROM account_events`); n != 0 {
		t.Errorf("%d events stored from refused tokens, want 0", n)
	}
	if w := f.push(f.sign(t, good, f.key, jose.ES256, "k1"), nil); w.Code != 202 || w.Body.Len() != 0 {
		t.Errorf("the valid token: %d %q, want 202 with no body", w.Code, w.Body)
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestDuplicateDeliveryIsProcessedOnce(t *testing.T) {
	f := setup(t)
	const sub = "urn:fdc:gov.uk:2022:ann"
	f.linked(t, "ann@example.com", sub)
	claims := set(sub, events.EventIdentifierChanged, map[string]any{"new-value": "ann@new.example"}, nil)
	raw := f.sign(t, claims, f.key, jose.ES256, "k1")
	for range 3 {
		if w := f.push(raw, nil); w.Code != 202 {
			t.Fatalf("push: %d %s", w.Code, w.Body)
		}
	}
	if n := f.count(t, `SELECT count(*) FROM account_events`); n != 1 {
		t.Fatalf("%d events stored, want 1", n)
	}
	id := claims["jti"].(string)
	for range 3 { // a duplicated task
		if err := f.processor.Process(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.count(t, `SELECT attempts FROM account_events WHERE id = $1`, id); n != 1 {
		t.Errorf("attempts %d, want 1", n)
	}
	if o := f.outcome(t, id); o != events.OutcomeApplied {
		t.Errorf("outcome %q, want applied", o)
	}
	if n := f.count(t, `SELECT count(*) FROM subscribers WHERE address = 'ann@new.example' AND govuk_account_id = $1`, sub); n != 1 {
		t.Errorf("the linked subscriber does not have the new address")
	}
}

func TestEmailChangesInReverseOrderEndWithTheNewer(t *testing.T) {
	f := setup(t)
	const sub = "urn:fdc:gov.uk:2022:ann"
	f.linked(t, "ann@example.com", sub)
	older := set(sub, events.EventIdentifierChanged, map[string]any{"new-value": "older@example.com"},
		map[string]any{"toe": time.Now().Add(-time.Hour).Unix()})
	newer := set(sub, events.EventIdentifierChanged, map[string]any{"new-value": "newer@example.com"},
		map[string]any{"toe": time.Now().Add(-time.Minute).Unix()})
	for _, c := range []map[string]any{newer, older} { // delivered newest first
		if w := f.push(f.sign(t, c, f.key, jose.ES256, "k1"), nil); w.Code != 202 {
			t.Fatal(w.Body)
		}
		f.processAll(t)
	}
	if n := f.count(t, `SELECT count(*) FROM subscribers WHERE address = 'newer@example.com' AND govuk_account_id = $1`, sub); n != 1 {
		t.Errorf("the newer email was not kept")
	}
	if o := f.outcome(t, older["jti"].(string)); o != events.OutcomeSuperseded {
		t.Errorf("older event outcome %q, want superseded", o)
	}
}

func TestDeletionThenLateEmailChange(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	const sub = "urn:fdc:gov.uk:2022:ann"
	s := f.linked(t, "ann@example.com", sub)
	if _, err := f.db.Exec(`INSERT INTO sessions (token_hash, method, govuk_account_id, email, email_verified, expires_at)
		VALUES ('\x01', 'account', $1, 'ann@example.com', true, now() + interval '1 hour')`, sub); err != nil {
		t.Fatal(err)
	}
	deleted := set(sub, events.EventAccountPurged, nil, map[string]any{"toe": time.Now().Add(-time.Minute).Unix()})
	late := set(sub, events.EventIdentifierChanged, map[string]any{"new-value": "late@example.com"}, nil)
	for _, c := range []map[string]any{deleted, late} {
		if w := f.push(f.sign(t, c, f.key, jose.ES256, "k1"), nil); w.Code != 202 {
			t.Fatal(w.Body)
		}
		f.processAll(t)
	}
	got, err := f.store.Subscription(ctx, s.ID)
	if err != nil || got.Active() || *got.EndedReason != events.EndedAccountDeleted {
		t.Errorf("subscription after deletion: %+v, want ended account_deleted", got)
	}
	if n := f.count(t, `SELECT count(*) FROM subscribers WHERE govuk_account_id IS NOT NULL`); n != 0 {
		t.Errorf("still linked")
	}
	if n := f.count(t, `SELECT count(*) FROM sessions WHERE govuk_account_id = $1`, sub); n != 0 {
		t.Errorf("%d sessions of the deleted account left", n)
	}
	if n := f.count(t, `SELECT count(*) FROM deleted_accounts WHERE sub = $1`, sub); n != 1 {
		t.Errorf("no tombstone")
	}
	if o := f.outcome(t, late["jti"].(string)); o != events.OutcomeAccountDeleted {
		t.Errorf("late change outcome %q, want account_deleted", o)
	}
	if n := f.count(t, `SELECT count(*) FROM subscribers WHERE address = 'late@example.com'`); n != 0 {
		t.Errorf("the late email change was applied")
	}
}

func TestEmailChangeOntoAnotherSubscriberMerges(t *testing.T) {
	f := setup(t)
	const sub = "urn:fdc:gov.uk:2022:ann"
	ann := f.linked(t, "ann@example.com", sub)
	bob := f.linked(t, "bob@example.com", "")
	c := set(sub, events.EventIdentifierChanged, map[string]any{"new-value": "BOB@example.com"}, nil)
	if w := f.push(f.sign(t, c, f.key, jose.ES256, "k1"), nil); w.Code != 202 {
		t.Fatal(w.Body)
	}
	f.processAll(t)
	if n := f.count(t, `SELECT count(*) FROM subscribers WHERE id = $1 AND address = 'BOB@example.com'`, ann.Subscriber.ID); n != 1 {
		t.Errorf("ann's subscriber does not have the new address")
	}
	if n := f.count(t, `SELECT count(*) FROM subscribers WHERE id = $1 AND address IS NULL`, bob.Subscriber.ID); n != 1 {
		t.Errorf("bob's address was not released by the merge")
	}
	if n := f.count(t, `SELECT count(*) FROM subscriptions WHERE subscriber_id = $1 AND ended_reason = 'subscriber_merged'`, bob.Subscriber.ID); n != 1 {
		t.Errorf("bob's subscription was not merged")
	}
}

func TestEventsThatChangeNothing(t *testing.T) {
	f := setup(t)
	f.linked(t, "ann@example.com", "urn:fdc:gov.uk:2022:ann")
	unverified := set("urn:fdc:gov.uk:2022:ann", events.EventIdentifierChanged,
		map[string]any{"new-value": "x@example.com", "email_verified": false}, nil)
	nobody := set("urn:fdc:gov.uk:2022:nobody", events.EventIdentifierChanged, map[string]any{"new-value": "y@example.com"}, nil)
	unknown := set("urn:fdc:gov.uk:2022:ann", "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked", nil, nil)
	for _, c := range []map[string]any{unverified, nobody, unknown} {
		if w := f.push(f.sign(t, c, f.key, jose.ES256, "k1"), nil); w.Code != 202 {
			t.Fatal(w.Body)
		}
	}
	f.processAll(t)
	for _, tt := range []struct {
		claims map[string]any
		want   string
	}{{unverified, events.OutcomeIgnoredUnverified}, {nobody, events.OutcomeNoSubscriber}, {unknown, events.OutcomeNotProcessed}} {
		if o := f.outcome(t, tt.claims["jti"].(string)); o != tt.want {
			t.Errorf("outcome %q, want %q", o, tt.want)
		}
	}
	if n := f.count(t, `SELECT count(*) FROM subscribers WHERE address IN ('x@example.com', 'y@example.com')`); n != 0 {
		t.Errorf("an ignored event changed an address")
	}
}

func TestAccountAPICalls(t *testing.T) {
	f := setup(t)
	const sub = "urn:fdc:gov.uk:2022:ann"
	f.linked(t, "ann@example.com", sub)
	call := func(method, body, key string) *httptest.ResponseRecorder { return f.call(method, sub, body, key) }
	for range 2 {
		w := call("PUT", `{"email":"ann@new.example","email_verified":true}`, "key-1")
		if w.Code != 200 || !strings.Contains(w.Body.String(), `"email":"ann@new.example"`) {
			t.Fatalf("PUT: %d %s", w.Code, w.Body)
		}
	}
	if n := f.count(t, `SELECT count(*) FROM account_events`); n != 1 {
		t.Errorf("%d events for two calls with one Idempotency-Key, want 1", n)
	}
	if w := call("PUT", `{"email":"nope","email_verified":true}`, ""); w.Code != 422 {
		t.Errorf("PUT with a bad email: %d, want 422", w.Code)
	}
	if w := call("PUT", `{"email":"nope"}`, ""); w.Code != 400 {
		t.Errorf("PUT without email_verified: %d, want 400", w.Code)
	}
	f.processAll(t)
	if n := f.count(t, `SELECT count(*) FROM subscribers WHERE address = 'ann@new.example'`); n != 1 {
		t.Errorf("the PUT was not applied")
	}
	if w := call("DELETE", "", ""); w.Code != 204 {
		t.Fatalf("DELETE: %d %s", w.Code, w.Body)
	}
	f.processAll(t)
	if n := f.count(t, `SELECT count(*) FROM deleted_accounts WHERE sub = $1`, sub); n != 1 {
		t.Errorf("the DELETE was not applied")
	}
}

func TestSweepEnqueuesPendingEvents(t *testing.T) {
	f := setup(t)
	for range 3 {
		c := set("urn:fdc:gov.uk:2022:"+uuid.NewString(), events.EventAccountPurged, nil, nil)
		if w := f.push(f.sign(t, c, f.key, jose.ES256, "k1"), nil); w.Code != 202 {
			t.Fatal(w.Body)
		}
	}
	n, err := f.inbox.Sweep(context.Background(), 0, 0)
	if err != nil || n != 3 {
		t.Errorf("Sweep = %d, %v; want 3 pending events handed over", n, err)
	}
	f.processAll(t)
	if n, _ := f.inbox.Sweep(context.Background(), 0, 0); n != 0 {
		t.Errorf("Sweep after processing handed over %d, want 0", n)
	}
}

func TestForgetInactive(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	active := f.linked(t, "active@example.com", "")
	recent := f.linked(t, "recent@example.com", "")
	old := f.linked(t, "old@example.com", "")
	for _, s := range []subscribers.Subscription{recent, old} {
		if err := f.store.Unsubscribe(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.db.Exec(`UPDATE subscriptions SET ended_at = now() - interval '40 days' WHERE id = $1`, old.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Exec(`UPDATE subscribers SET created_at = now() - interval '60 days'`); err != nil {
		t.Fatal(err)
	}
	n, err := f.store.ForgetInactive(ctx, 28*24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("ForgetInactive = %d, %v; want 1", n, err)
	}
	for id, want := range map[int64]bool{active.Subscriber.ID: true, recent.Subscriber.ID: true, old.Subscriber.ID: false} {
		if has := f.count(t, `SELECT count(*) FROM subscribers WHERE id = $1 AND address IS NOT NULL`, id) == 1; has != want {
			t.Errorf("subscriber %d keeps its address: %v, want %v", id, has, want)
		}
	}
}

// TestEventThatKeepsFailingEndsFailed: an event that cannot be applied is
// retried, keeping its last error, and after MaxAttempts is marked failed.
func TestEventThatKeepsFailingEndsFailed(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	if _, err := f.inbox.Record(ctx, events.Event{
		ID: "broken", Kind: events.KindEmailChanged, EventType: events.EventIdentifierChanged,
		Sub: "urn:fdc:gov.uk:2022:ann", Payload: []byte(`"not an object"`), OccurredAt: time.Now(),
	}); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= events.MaxAttempts; attempt++ {
		if err := f.processor.Process(ctx, "broken"); err == nil {
			t.Fatalf("attempt %d succeeded", attempt)
		}
	}
	var e struct {
		Status    string  `db:"status"`
		Attempts  int     `db:"attempts"`
		LastError *string `db:"last_error"`
	}
	if err := f.db.Get(&e, `SELECT status, attempts, last_error FROM account_events WHERE id = 'broken'`); err != nil {
		t.Fatal(err)
	}
	if e.Status != "failed" || e.Attempts != events.MaxAttempts || e.LastError == nil || *e.LastError == "" {
		t.Errorf("after %d failures: %+v, want failed with the last error", events.MaxAttempts, e)
	}
	if err := f.processor.Process(ctx, "broken"); err != nil {
		t.Errorf("a failed event is tried again: %v", err)
	}
}
