package app_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"email-alert/internal/config"
	"email-alert/internal/testkit/testrig"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"email-alert/frontend"
	"email-alert/internal/testkit/settest"
	"email-alert/internal/testkit/testdb"
)

// TestBadInput sends every endpoint of the JSON API, the account-event
// intake and the pages bad input, and checks that each answer is a clear
// 4xx (the status DESIGN.md names where it names one), never a 5xx or a
// hang, that API errors carry a message, that pages escape what they echo,
// and that the database is exactly as it was before the request.
//
// The cases are built from the routers' own route lists (wrong methods and
// bad path parameters for every route, including ones added later) and
// from tables of endpoints × bad bodies and fields × bad values.
func TestBadInput(t *testing.T) {
	t.Run("api", func(t *testing.T) {
		t.Parallel()
		a, f, key := badInputAPI(t)
		runBadInput(t, a.DB(), httptest.NewServer(a.APIRouter()), f.Expand, nil, apiBadCases(t, key, a.APIRouter()))
	})
	t.Run("pages", func(t *testing.T) {
		s := badInputSite(t)
		s.SignedIn(t)
		var session string
		for _, c := range s.Client.Jar.Cookies(mustParseURL(t, s.Server.URL)) {
			if c.Name == frontend.SessionCookie {
				session = c.Value
			}
		}
		if session == "" {
			t.Fatal("no session after signing in")
		}
		var sub string
		if err := s.App.DB().Get(&sub, `SELECT id::text FROM subscriptions WHERE ended_at IS NULL ORDER BY created_at LIMIT 1`); err != nil {
			t.Fatal(err)
		}
		expand := strings.NewReplacer("{slug}", "tax", "{subscription}", sub, "{origin}", s.Server.URL).Replace
		runBadInput(t, s.App.DB(), s.Server, expand, &http.Cookie{Name: frontend.SessionCookie, Value: session},
			pageBadCases(s.App.FrontendRouter()))
	})
}

// badCase is one request that must be refused.
type badCase struct {
	name    string
	method  string
	path    string // may hold placeholders ({list}, {subscription}…) that runBadInput expands
	header  http.Header
	body    []byte
	chunked bool  // send the body without a Content-Length
	want    []int // acceptable statuses
	// detail is a dotted path that must be set in a JSON error body.
	detail string
	// session sends the signed-in subscriber's session cookie (pages).
	session bool
	// page is the kind of answer: "json" (API), "set" (RFC 8935 error),
	// "html" (a GOV.UK page), "summary" (a form re-rendered with the
	// error summary) or "none" (any body).
	page string
}

func is(statuses ...int) []int { return statuses }

// runBadInput sends every case to server and checks the answer and the
// database. Cases run one after another: each is compared with a snapshot
// of the whole schema taken just before it.
func runBadInput(t *testing.T, db *sqlx.DB, server *httptest.Server, expand func(string) string, session *http.Cookie, cases []badCase) {
	t.Helper()
	t.Cleanup(server.Close)
	client := &http.Client{
		Timeout:       20 * time.Second, // a hang fails the case, not the test run
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	snapshot := schemaSnapshot(t, db)
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("two cases named %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot()
			var body io.Reader = bytes.NewReader([]byte(expand(string(tc.body))))
			if len(tc.body) > 1<<20 {
				body = bytes.NewReader(tc.body) // nothing to expand in the huge ones
			}
			if tc.chunked {
				body = struct{ io.Reader }{body} // hides the length
			}
			req, err := http.NewRequest(tc.method, server.URL+expand(tc.path), body)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				for _, s := range v {
					req.Header.Add(k, expand(s))
				}
			}
			if tc.session {
				req.AddCookie(session)
			}
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("no answer after %s: %v", time.Since(start).Round(time.Millisecond), err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !slices.Contains(tc.want, resp.StatusCode) {
				t.Errorf("status %d, want one of %v; body %.300s", resp.StatusCode, tc.want, got)
			}
			checkBadInputBody(t, tc, resp, got)
			if after := snapshot(); !mapsEqual(before, after) {
				for table := range after {
					if before[table] != after[table] {
						t.Errorf("table %s changed", table)
					}
				}
			}
		})
	}
}

func checkBadInputBody(t *testing.T, tc badCase, resp *http.Response, body []byte) {
	t.Helper()
	if bytes.Contains(body, []byte("<script>alert(")) || bytes.Contains(body, []byte("<img src=x")) {
		t.Errorf("injected HTML echoed unescaped: %.500s", body)
	}
	ct := resp.Header.Get("Content-Type")
	switch tc.page {
	case "json", "set":
		if resp.StatusCode == http.StatusNoContent {
			return
		}
		var e map[string]any
		if !strings.HasPrefix(ct, "application/json") || json.Unmarshal(body, &e) != nil {
			t.Fatalf("error is not JSON (%s): %.300s", ct, body)
		}
		key := "error"
		if tc.page == "set" && resp.StatusCode != http.StatusUnauthorized {
			key = "err" // RFC 8935
			if code, _ := e["err"].(string); !slices.Contains([]string{"invalid_request", "invalid_key", "invalid_issuer", "invalid_audience"}, code) {
				t.Errorf("err %q is not an RFC 8935 code: %s", code, body)
			}
		}
		if msg, _ := e[key].(string); msg == "" || msg == "Internal error" {
			t.Errorf("no helpful %q in %s", key, body)
		}
		if tc.detail != "" && testrig.Get(e, tc.detail) == nil {
			t.Errorf("%s missing from %s", tc.detail, body)
		}
	case "html", "summary":
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			return
		}
		if !strings.HasPrefix(ct, "text/html") || !bytes.Contains(body, []byte("govuk-template")) {
			t.Errorf("not a GOV.UK page (%s): %.300s", ct, body)
		}
		if tc.page == "summary" && resp.StatusCode == http.StatusUnprocessableEntity &&
			!bytes.Contains(body, []byte("There is a problem")) {
			t.Errorf("422 without the error summary: %.500s", body)
		}
	}
}

// schemaSnapshot returns a function that fingerprints every table of the
// test's schema (tables added by later migrations included) in one query.
func schemaSnapshot(t *testing.T, db *sqlx.DB) func() map[string]string {
	t.Helper()
	var tables []string
	if err := db.Select(&tables, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`); err != nil {
		t.Fatal(err)
	}
	if len(tables) < 5 {
		t.Fatalf("only %d tables in the test schema: %v", len(tables), tables)
	}
	var parts []string
	for _, table := range tables {
		parts = append(parts, fmt.Sprintf(`SELECT %s AS name, (SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM %s t) AS sum`,
			pq.QuoteLiteral(table), pq.QuoteIdentifier(table)))
	}
	query := strings.Join(parts, " UNION ALL ")
	return func() map[string]string {
		var rows []struct {
			Name string `db:"name"`
			Sum  string `db:"sum"`
		}
		if err := db.Select(&rows, query); err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, r := range rows {
			m[r.Name] = r.Sum
		}
		return m
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func mustParseURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Bad values, shared by the tables below.
const (
	sqlInjection  = `'; DROP TABLE subscribers; --`
	htmlInjection = `<script>alert(1)</script><img src=x onerror=alert(1)>`
	headerInject  = "a@b.com\r\nBcc: x@y.com"
)

type named struct{ name, value string }

// nastyStrings are bad as an address, a frequency, a slug, an enum or a
// token: none of them is one.
var nastyStrings = []named{
	{"empty", ""},
	{"spaces", "   "},
	{"10k chars", strings.Repeat("a", 10000)},
	{"10k-char address", strings.Repeat("a", 10000) + "@example.com"},
	{"SQL injection", sqlInjection},
	{"HTML injection", htmlInjection},
	{"header injection", headerInject},
	{"NUL", "ann\x00@example.com"},
	{"RTL override", "\u202eann@example.com"},
	{"zero-width space", "ann\u200b@example.com"},
	{"emoji", "📧📧📧"},
	{"combining marks", "da\u0301\u0301\u0301ily"},
	{"homoglyph", "d\u0430ily"}, // Cyrillic a
}

var badAddresses = append(slices.Clone(nastyStrings),
	named{"no at", "ann.example.com"},
	named{"no dot in domain", "ann@localhost"},
	named{"display name", "Ann <ann@example.com>"},
	named{"two addresses", "ann@example.com,bob@example.com"},
	named{"two ats", "ann@@example.com"},
	named{"local part over 64", strings.Repeat("a", 65) + "@example.com"},
	named{"domain label over 63", "ann@" + strings.Repeat("a", 64) + ".com"},
	named{"bidi in the domain", "ann@exam\u202eple.com"},
)

var badDestinations = append(slices.Clone(nastyStrings),
	named{"protocol-relative", "//evil.example/x"},
	named{"absolute URL", "http://evil.example/"},
	named{"backslash", "/\\evil.example"},
	named{"javascript URL", "javascript:alert(1)"},
	named{"CRLF in path", "/x\r\nSet-Cookie: a=b"},
	named{"NUL in path", "/x\x00y"},
	named{"over 2000 chars", "/" + strings.Repeat("a", 2001)},
)

// Path parameter values that are no id; %-escaped where they go.
var (
	badIDs = []named{
		{"word", "abc"}, {"zero", "0"}, {"negative", "-1"}, {"decimal", "1.5"}, {"exponent", "1e3"},
		{"overflow", "99999999999999999999"}, {"SQL injection", sqlInjection}, {"HTML injection", htmlInjection},
		{"NUL", "1\x00"}, {"invalid UTF-8", "1\xff"}, {"10k chars", strings.Repeat("9", 10000)},
		{"bad UUID", "00000000-0000-0000-0000-00000000000g"}, {"Arabic-Indic digit", "\u0661"},
		{"emoji", "📧"}, {"RTL override", "\u202e1"},
	}
	// Other spellings of the fixture's ids, by the placeholder they
	// respell (already escaped for a path): the API's ids are canonical.
	nonCanonicalIDs = map[string][]named{
		"{subscriber}": {{"plus sign", "+{subscriber}"}, {"leading zero", "0{subscriber}"}, {"leading zeros", "000{subscriber}"}},
		"{subscription}": {{"braced UUID", "%7B{subscription}%7D"}, {"URN UUID", "urn:uuid:{subscription}"},
			{"UUID without hyphens", "{subscription-hex}"}},
	}
	badNames = []named{ // slugs, account ids, subjects
		{"SQL injection", sqlInjection}, {"HTML injection", htmlInjection}, {"NUL", "x\x00y"},
		{"invalid UTF-8", "x\xffy"}, {"10k chars", strings.Repeat("a", 10000)}, {"spaces", "a b"},
		{"RTL override", "\u202eabc"}, {"control character", "a\x01b"},
	}
)

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// hugeBody is size bytes of valid JSON (or a form, or a SET-like string).
func hugeBody(prefix string, size int, suffix string) []byte {
	b := make([]byte, 0, size)
	b = append(b, prefix...)
	b = append(b, bytes.Repeat([]byte("a"), size-len(prefix)-len(suffix))...)
	return append(b, suffix...)
}

// placeholder is the valid value of a route parameter in the fixture.
func placeholder(route, param string) string {
	switch {
	case param == "id" && strings.HasPrefix(route, "/subscribers/"):
		return "{subscriber}"
	case param == "id":
		return "{subscription}"
	case param == "slug":
		return "{slug}"
	case param == "sub", param == "govuk_account_id":
		return "urn:fdc:gov.uk:2022:bad-input"
	}
	return "x"
}

// fillRoute puts the fixture's values in route's parameters, or value in
// the one named bad.
func fillRoute(route, bad, value string) string {
	segments := strings.Split(route, "/")
	for i, s := range segments {
		if len(s) > 0 && (s[0] == ':' || s[0] == '*') {
			if s[1:] == bad {
				segments[i] = url.PathEscape(value)
			} else {
				segments[i] = placeholder(route, s[1:])
			}
		}
	}
	return strings.Join(segments, "/")
}

func routeParams(route string) []string {
	var params []string
	for _, s := range strings.Split(route, "/") {
		if strings.HasPrefix(s, ":") {
			params = append(params, s[1:])
		}
	}
	return params
}

// routeMatches reports whether the route pattern matches path.
func routeMatches(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	for i, p := range ps {
		if strings.HasPrefix(p, "*") {
			return true
		}
		if i >= len(xs) || (!strings.HasPrefix(p, ":") && p != xs[i]) {
			return false
		}
	}
	return len(ps) == len(xs)
}

// wrongMethodCases: every method a path is not routed for gets 405, unless
// another route of that method takes the path as a parameter
// (GET /subscriptions/auth-token is GET /subscriptions/:id): then the
// handler finds nothing, 404.
func wrongMethodCases(routes gin.RoutesInfo, header http.Header, page string) []badCase {
	methods := map[string][]string{}
	for _, r := range routes {
		methods[r.Path] = append(methods[r.Path], r.Method)
	}
	status := func(method, path string) []int {
		for _, r := range routes {
			if r.Method == method && routeMatches(r.Path, path) {
				return is(404)
			}
		}
		return is(405)
	}
	paths := make([]string, 0, len(methods))
	for p := range methods {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var cases []badCase
	for _, path := range paths {
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if slices.Contains(methods[path], m) {
				continue
			}
			cases = append(cases, badCase{name: m + " " + path + "/wrong method", method: m,
				path: fillRoute(path, "", ""), header: header, want: status(m, fillRoute(path, "", "")), page: page})
		}
	}
	return cases
}

// apiField is a field of a JSON body and the kind of value it takes.
type apiField struct {
	name     string
	kind     string // address, frequency, slug, topic, destination, enum, list_id, session, title, description, url, bool
	required bool
}

// apiEndpoint is a JSON endpoint that takes a body: a valid body (raw JSON
// values by field) to which one bad thing at a time is done.
type apiEndpoint struct {
	method, route string
	valid         map[string]string
	fields        []apiField
	page          string
}

// missingStatus is the status of a body lacking a required field: 400
// (jsonapi.Require), except on the one route whose contract says 422.
func (e apiEndpoint) missingStatus() []int {
	if e.route == "/subscriptions/auth-token" {
		return is(422)
	}
	return is(400)
}

// without is the valid body less field.
func (e apiEndpoint) without(field string) []byte {
	valid := maps.Clone(e.valid)
	delete(valid, field)
	return apiEndpoint{valid: valid}.body("", "")
}

func (e apiEndpoint) body(field, raw string) []byte {
	keys := make([]string, 0, len(e.valid))
	for k := range e.valid {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		v := e.valid[k]
		if k == field {
			v = raw
		}
		parts = append(parts, jsonString(k)+":"+v)
	}
	return []byte("{" + strings.Join(parts, ",") + "}")
}

// badValues returns the bad values of a kind of field and the statuses
// they get.
func badValues(kind string) ([]named, []int) {
	switch kind {
	case "address":
		return badAddresses, is(422)
	case "frequency", "enum":
		return append(slices.Clone(nastyStrings), named{"unknown", "hourly"}, named{"other case", "Daily"}), is(422)
	case "slug":
		return append(slices.Clone(nastyStrings[1:]), named{"upper case and spaces", "Not A Slug"},
			named{"double hyphen", "a--b"}, named{"leading hyphen", "-a"}), is(422)
	case "topic":
		return nastyStrings, is(404, 422)
	case "destination":
		return badDestinations, is(422)
	case "locale":
		return append(slices.Clone(nastyStrings), named{"English name", "Welsh"}, named{"region", "cy-GB"},
			named{"upper case", "CY"}, named{"other language", "fr"}), is(422)
	case "session":
		return append(slices.Clone(nastyStrings), named{"flash keys only", "$$flash"},
			named{"43 chars not base64", strings.Repeat("!", 43)}), is(401)
	case "title":
		return []named{{"empty", ""}, {"spaces", "   "}, {"over 1000 chars", strings.Repeat("a", 1001)},
			{"NUL", "Tax\x00news"}, {"header injection", "Tax\r\nBcc: eve@example.com\r\n\r\nYour account is locked"},
			{"LF", "Tax\nnews"}, {"tab", "Tax\tnews"}, {"escape", "Tax\x1b[2Jnews"}, {"C1 control", "Tax\u0085news"},
			{"line separator", "Tax\u2028news"}, {"RTL override", "Tax \u202enews"}, {"isolate", "Tax \u2066news"},
			{"RTL mark", "Tax\u200f news"}}, is(422)
	case "description":
		return []named{{"over 10000 chars", strings.Repeat("a", 10001)}, {"NUL", "a\x00b"}, {"CRLF", "One.\r\nTwo."},
			{"escape", "a\x1b[2Jb"}, {"vertical tab", "a\vb"}, {"RTL override", "a\u202eb"}, {"isolate", "a\u2068b"}}, is(422)
	case "url":
		return []named{{"absolute", "https://evil.example/"}, {"protocol-relative", "//evil.example"},
			{"javascript URL", "javascript:alert(1)"}, {"SQL injection", sqlInjection}, {"HTML injection", htmlInjection},
			{"NUL", "/a\x00b"}, {"over 2000 chars", "/" + strings.Repeat("a", 2001)}, {"space", "/tax news"},
			{"tab", "/tax\tnews"}, {"CRLF", "/x\r\nSet-Cookie: a=b"}, {"no-break space", "/tax\u00a0news"},
			{"RTL override", "/tax\u202e"}, {"backslash", "/\\evil.example"}}, is(422)
	}
	return nil, nil
}

var wrongTypes = []named{{"number", `5`}, {"float", `1.5e400`}, {"boolean", `true`}, {"array", `["x"]`}, {"object", `{"x":1}`}}

func apiEndpoints() []apiEndpoint {
	address := func(name string, req bool) apiField { return apiField{name, "address", req} }
	return []apiEndpoint{
		{method: "POST", route: "/subscriber-lists", page: "json",
			valid:  map[string]string{"title": `"Brand new list"`, "slug": `"brand-new"`, "url": `"/brand-new"`, "description": `"New"`},
			fields: []apiField{{"title", "title", true}, {"slug", "slug", false}, {"url", "url", false}, {"description", "description", false}}},
		{method: "PATCH", route: "/subscriber-lists/:slug", page: "json",
			valid:  map[string]string{"title": `"Renamed list"`, "description": `"Renamed"`},
			fields: []apiField{{"title", "title", false}, {"description", "description", false}}},
		{method: "POST", route: "/content-changes", page: "json",
			valid: map[string]string{
				"content_id": `"5f9c6c15-7631-11e4-a3cb-005056011aef"`, "title": `"Tax rules"`,
				"base_path": `"/government/news/tax-rules"`, "change_note": `"First published."`,
				"description": `"What changed"`, "public_updated_at": `"2026-12-01T10:05:00Z"`,
				"document_type": `"news_story"`, "email_document_supertype": `"announcements"`,
				"government_document_supertype": `"news"`, "publishing_app": `"whitehall"`,
				"priority": `"high"`, "footnote": `"Footnote"`,
			},
			fields: []apiField{{"content_id", "enum", true}, {"title", "title", true}, {"base_path", "url", true},
				{"change_note", "description", true}, {"description", "description", false},
				{"public_updated_at", "enum", true}, {"document_type", "title", true},
				{"email_document_supertype", "description", true}, {"government_document_supertype", "description", true},
				{"publishing_app", "title", true}, {"priority", "enum", false}, {"footnote", "description", false}}},
		{method: "POST", route: "/subscriptions", page: "json",
			valid: map[string]string{"address": `"new@example.com"`, "subscriber_list_id": `{list}`, "frequency": `"daily"`, "skip_confirmation_email": `true`, "locale": `"cy"`},
			fields: []apiField{address("address", true), {"subscriber_list_id", "list_id", true}, {"frequency", "frequency", false},
				{"skip_confirmation_email", "bool", false}, {"locale", "locale", false}}},
		{method: "PATCH", route: "/subscriptions/:id", page: "json",
			valid: map[string]string{"frequency": `"weekly"`}, fields: []apiField{{"frequency", "frequency", true}}},
		{method: "PATCH", route: "/subscribers/:id", page: "json",
			valid:  map[string]string{"new_address": `"ann@new.example.com"`, "on_conflict": `"merge"`},
			fields: []apiField{address("new_address", true), {"on_conflict", "enum", false}}},
		{method: "POST", route: "/subscribers/auth-token", page: "json",
			valid:  map[string]string{"address": `"ann@example.com"`, "destination": `"/email/manage"`, "locale": `"cy"`},
			fields: []apiField{address("address", true), {"destination", "destination", true}, {"locale", "locale", false}}},
		{method: "POST", route: "/subscriptions/auth-token", page: "json",
			valid: map[string]string{"address": `"new@example.com"`, "topic_id": `"{slug}"`, "frequency": `"weekly"`, "locale": `"en"`},
			fields: []apiField{address("address", true), {"topic_id", "topic", true}, {"frequency", "frequency", true},
				{"locale", "locale", false}}},
		{method: "POST", route: "/subscribers/govuk-account", page: "json",
			valid:  map[string]string{"govuk_account_session": jsonString(strings.Repeat("A", 43))},
			fields: []apiField{{"govuk_account_session", "session", true}}},
		{method: "POST", route: "/subscribers/govuk-account/link", page: "json",
			valid:  map[string]string{"govuk_account_session": jsonString(strings.Repeat("A", 43))},
			fields: []apiField{{"govuk_account_session", "session", true}}},
		{method: "POST", route: "/subscriber-lists/:slug/bulk-unsubscribe", page: "json",
			valid:  map[string]string{"body": `"This list is closing."`, "sender_message_id": `"0b8c0a4e-3c5f-4b43-9d8e-6c1f0e2a9b71"`},
			fields: []apiField{{"body", "description", false}, {"sender_message_id", "enum", false}}},
		{method: "POST", route: "/status-updates", page: "json",
			valid: map[string]string{
				"id": `"740e5834-3a29-46b4-9a6f-16142fde533a"`, "reference": `"5f9c6c15-7631-41e4-a3cb-005056011aef"`,
				"to": `"ann@example.com"`, "status": `"permanent-failure"`, "created_at": `"2026-12-01T10:00:00.000000Z"`,
				"completed_at": `"2026-12-01T10:00:05.000000Z"`, "sent_at": `"2026-12-01T10:00:01.000000Z"`,
				"notification_type": `"email"`, "template_id": `"f33517ff-2a88-4f6e-b855-c550268ce08a"`, "template_version": `1`,
			},
			fields: []apiField{{"id", "enum", true}, {"reference", "enum", false}, {"status", "enum", true},
				address("to", false), {"created_at", "enum", false}, {"completed_at", "enum", false},
				{"sent_at", "enum", false}, {"template_id", "enum", false}}},
		{method: "POST", route: "/spam-reports", page: "json",
			valid:  map[string]string{"to": `"ann@example.com"`, "reference": `"5f9c6c15-7631-41e4-a3cb-005056011aef"`},
			fields: []apiField{address("to", true), {"reference", "enum", false}}},
		{method: "PUT", route: "/api/oidc-users/:sub", page: "json",
			valid:  map[string]string{"email": `"ann@example.com"`, "email_verified": `true`},
			fields: []apiField{address("email", true), {"email_verified", "bool", true}}},
	}
}

// noRateLimit lifts the rate limits, which would otherwise answer 429 to
// the many requests of one client.
const noRateLimit = "100000/minute"

// badInputSite is newSite with One Login out of reach, so that the account
// sign-in pages answer the same whether or not a dev-oidc happens to run.
func badInputSite(t *testing.T) *testrig.Site {
	t.Helper()
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/"
	ln.Close()
	db, dbURL := testdb.New(t)
	a := testrig.NewAppOn(t, db, map[string]string{"DATABASE_URL": dbURL, "OIDC_ISSUER_URL": closed,
		"RATE_LIMIT_PER_ADDRESS": noRateLimit, "RATE_LIMIT_PER_CLIENT": noRateLimit})
	server := httptest.NewServer(a.FrontendHandler())
	t.Cleanup(server.Close)
	jar, _ := cookiejar.New(nil)
	return &testrig.Site{T: t, App: a, Server: server, Client: &http.Client{Jar: jar}, API: &testrig.API{Router: a.APIRouter()}}
}

// badInputAPI is the API app with the account service's signing key, and
// a list, a subscriber and a subscription to aim at.
func badInputAPI(t *testing.T) (*testrig.App, *testrig.API, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	}))
	t.Cleanup(jwks.Close)
	db, dbURL := testdb.New(t)
	a := testrig.NewAppOn(t, db, map[string]string{
		"DATABASE_URL": dbURL, "ACCOUNT_EVENTS_TOKEN": config.DevAccountEventsToken, "ACCOUNT_EVENTS_JWKS_URL": jwks.URL,
		"ACCOUNT_EVENTS_ISSUER": setIssuer, "ACCOUNT_EVENTS_AUDIENCE": setAudience, "RATE_LIMIT_PER_ADDRESS": noRateLimit,
	})
	f := &testrig.API{Router: a.APIRouter()}
	var list struct {
		SubscriberList struct {
			ID   int64
			Slug string
		} `json:"subscriber_list"`
	}
	f.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news","url":"/tax"}`, &list)
	f.ListID, f.Slug = list.SubscriberList.ID, list.SubscriberList.Slug
	var sub struct {
		Subscription struct {
			ID         string
			Subscriber struct{ ID int64 }
		} `json:"subscription"`
	}
	f.MustDo(t, "POST", "/subscriptions", fmt.Sprintf(`{"address":"ann@example.com","subscriber_list_id":%d}`, f.ListID), &sub)
	f.SubscriberID, f.Subscription = sub.Subscription.Subscriber.ID, sub.Subscription.ID
	// An account-api call whose Idempotency-Key the cases reuse with other bodies.
	if w := f.Do("PUT", fillRoute("/api/oidc-users/:sub", "", ""), usedIdempotencyBody,
		http.Header{"Authorization": {"Bearer " + config.DevAccountEventsToken}, "Idempotency-Key": {usedIdempotencyKey}}); w.Code != http.StatusOK {
		t.Fatalf("PUT /api/oidc-users/:sub: %d %s", w.Code, w.Body)
	}
	return a, f, key
}

// usedIdempotencyKey is the Idempotency-Key of the call badInputAPI makes
// with usedIdempotencyBody.
const (
	usedIdempotencyKey  = "bad-input-used-key"
	usedIdempotencyBody = `{"email":"ann@example.com","email_verified":true}`
)

const (
	setIssuer   = "https://account.example/"
	setAudience = "https://www.gov.uk"
)

func apiBadCases(t *testing.T, key *ecdsa.PrivateKey, router *gin.Engine) []badCase {
	t.Helper()
	api := http.Header{"Authorization": {"Bearer " + testrig.Token}}
	events := http.Header{"Authorization": {"Bearer " + config.DevAccountEventsToken}}
	callbacks := http.Header{"Authorization": {"Bearer " + config.DevNotifyCallbackToken}}
	auth := func(route string) http.Header {
		switch {
		case route == "/account-events" || strings.HasPrefix(route, "/api/oidc-users/"):
			return events
		case route == "/status-updates" || route == "/spam-reports":
			return callbacks
		}
		return api
	}
	with := func(h http.Header, kv ...string) http.Header {
		h = h.Clone()
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	jsonHeader := func(route string) http.Header { return with(auth(route), "Content-Type", "application/json") }

	json2MiB, json20MiB := hugeBody(`{"title":"`, 2<<20, `"}`), hugeBody(`{"title":"`, 20<<20, `"}`)
	var cases []badCase
	cases = append(cases, wrongMethodCases(router.Routes(), api, "json")...)

	// Bad path parameters, on every route that has them: 404.
	bodies := map[string][]byte{}
	for _, e := range apiEndpoints() {
		bodies[e.method+" "+e.route] = e.body("", "")
	}
	for _, r := range router.Routes() {
		for _, param := range routeParams(r.Path) {
			values := badNames
			if param == "id" {
				values = badIDs
			}
			want := is(404)
			for _, v := range values {
				cases = append(cases, badCase{name: r.Method + " " + r.Path + "/" + param + " " + v.name, method: r.Method,
					path: fillRoute(r.Path, param, v.value), header: jsonHeader(r.Path), body: bodies[r.Method+" "+r.Path],
					want: want, page: "json"})
			}
			fixture := placeholder(r.Path, param)
			for _, v := range nonCanonicalIDs[fixture] {
				cases = append(cases, badCase{name: r.Method + " " + r.Path + "/" + param + " " + v.name, method: r.Method,
					path: strings.Replace(fillRoute(r.Path, "", ""), fixture, v.value, 1), header: jsonHeader(r.Path),
					body: bodies[r.Method+" "+r.Path], want: want, page: "json"})
			}
		}
	}

	// Bad bodies, on every endpoint that takes one.
	for _, e := range apiEndpoints() {
		path := fillRoute(e.route, "", "")
		valid := e.body("", "")
		name := e.method + " " + e.route + "/"
		add := func(c badCase) {
			c.name, c.method, c.path, c.page = name+c.name, e.method, path, e.page
			if c.header == nil {
				c.header = jsonHeader(e.route)
			}
			cases = append(cases, c)
		}
		for _, b := range []struct {
			name, body string
		}{
			{"malformed JSON", `{"address":`}, {"truncated", string(valid[:len(valid)-1])}, {"two objects", string(valid) + `{}`},
			{"trailing garbage", string(valid) + ` x`}, {"array", `[]`}, {"array of the body", "[" + string(valid) + "]"},
			{"string", `"x"`}, {"number", `5`}, {"boolean", `true`}, {"null", `null`}, {"empty", ``}, {"whitespace", " \n\t "},
			{"single quotes", strings.ReplaceAll(string(valid), `"`, `'`)}, {"byte order mark", "\ufeff" + string(valid)},
			{"invalid UTF-8", strings.Replace(string(valid), `":"`, "\":\"\xff", 1)}, {"NUL byte", "\x00" + string(valid)},
			{"deeply nested", strings.Repeat("[", 100000)}, {"comment", "/* x */" + string(valid)},
			{"SQL injection", sqlInjection}, {"HTML", htmlInjection},
		} {
			add(badCase{name: b.name, body: []byte(b.body), want: is(400)})
		}
		add(badCase{name: "2 MiB", body: json2MiB, want: is(413)})
		add(badCase{name: "20 MiB", body: json20MiB, want: is(413)})
		add(badCase{name: "2 MiB without Content-Length", body: json2MiB, chunked: true, want: is(413)})
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml", "application/jsonx"} {
			add(badCase{name: "Content-Type " + ct, body: valid, header: with(auth(e.route), "Content-Type", ct), want: is(415)})
		}
		for _, field := range e.fields {
			if field.kind != "list_id" {
				types := wrongTypes
				if field.kind == "bool" {
					types = []named{{"string", `"true"`}, {"number", `1`}, {"array", `[]`}, {"object", `{}`}}
				}
				for _, w := range types {
					add(badCase{name: field.name + " " + w.name, body: e.body(field.name, w.value), want: is(400), detail: "details." + field.name})
				}
			}
			if field.required {
				add(badCase{name: field.name + " null", body: e.body(field.name, `null`), want: e.missingStatus(), detail: "details." + field.name})
				add(badCase{name: field.name + " missing", body: e.without(field.name), want: e.missingStatus(), detail: "details." + field.name})
			}
			values, want := badValues(field.kind)
			if field.kind == "list_id" {
				values = append(slices.Clone(nastyStrings), named{"word", "tax"})
				for _, raw := range []string{`0`, `-1`, `1.5`, `1e3`, `99999999999999999999`, `[]`, `{}`, `true`, `"{list} OR 1=1"`, `"+{list}"`, `"0{list}"`} {
					add(badCase{name: field.name + " " + raw, body: e.body(field.name, raw), want: is(422), detail: "details." + field.name})
				}
				want = is(422)
			}
			for _, v := range values {
				c := badCase{name: field.name + " " + v.name, body: e.body(field.name, jsonString(v.value)), want: want}
				if field.kind != "topic" && field.kind != "session" {
					c.detail = "details." + field.name
				}
				add(c)
			}
		}
	}

	// Lists found by a title alone: a title whose slug is another list's,
	// or one with nothing to make a slug from, needs an explicit slug.
	for _, title := range []named{{"slug collision", "Tax: news!"}, {"slug collision by case", "TAX NEWS"}, {"Welsh letters only", "Ŵŷ"}, {"Greek only", "Φόροι"}} {
		cases = append(cases, badCase{name: "POST /subscriber-lists/title without slug " + title.name, method: "POST",
			path: "/subscriber-lists", header: jsonHeader("/subscriber-lists"), body: []byte(`{"title":` + jsonString(title.value) + `}`),
			want: is(422), detail: "details.slug", page: "json"})
	}

	// A bulk unsubscribe's message needs the sender's id of it: 422.
	cases = append(cases, badCase{name: "POST /subscriber-lists/:slug/bulk-unsubscribe/body without sender_message_id",
		method: "POST", path: fillRoute("/subscriber-lists/:slug/bulk-unsubscribe", "", ""),
		header: jsonHeader("/subscriber-lists/:slug/bulk-unsubscribe"), body: []byte(`{"body":"This list is closing."}`),
		want: is(422), detail: "details.sender_message_id", page: "json"})

	// Idempotency-Key of the account-api calls.
	for _, m := range []string{"PUT", "DELETE"} {
		e := apiEndpoints()[len(apiEndpoints())-1]
		for _, key := range []named{{"over 255 chars", strings.Repeat("k", 256)}, {"RTL override", "key\u202e"}, {"zero-width", "key\u200b"}} {
			c := badCase{name: m + " /api/oidc-users/:sub/Idempotency-Key " + key.name, method: m, path: fillRoute(e.route, "", ""),
				header: with(events, "Idempotency-Key", key.value), want: is(400), page: "json"}
			if m == "PUT" {
				c.header.Set("Content-Type", "application/json")
				c.body = e.body("", "")
			}
			cases = append(cases, c)
		}
	}
	// The key of a call already made, with other bodies: 422.
	for _, body := range []named{
		{"another email", `{"email":"bob@example.com","email_verified":true}`},
		{"email_verified false", `{"email":"ann@example.com","email_verified":false}`},
	} {
		cases = append(cases, badCase{name: "PUT /api/oidc-users/:sub/Idempotency-Key used with " + body.name, method: "PUT",
			path: fillRoute("/api/oidc-users/:sub", "", ""), body: []byte(body.value),
			header: with(events, "Idempotency-Key", usedIdempotencyKey, "Content-Type", "application/json"), want: is(422), page: "json"})
	}

	return append(cases, setBadCases(t, key, with(events, "Content-Type", "application/secevent+jwt"))...)
}

// setBadCases are pushes of Security Event Tokens that must be refused
// with 400 and an RFC 8935 code (or 413, 415), storing nothing.
func setBadCases(t *testing.T, setKey *ecdsa.PrivateKey, header http.Header) []badCase {
	t.Helper()
	const purged = "https://schemas.openid.net/secevent/risc/event-type/account-purged"
	const changed = "https://schemas.openid.net/secevent/risc/event-type/identifier-changed"
	claims := func(changes map[string]any) map[string]any {
		return settest.Claims(setIssuer, setAudience, "urn:fdc:gov.uk:2022:bad-input", purged, nil, changes)
	}
	sign := func(c map[string]any, alg jose.SignatureAlgorithm, key any, typ string) string {
		return settest.Sign(t, c, alg, key, "k1", typ)
	}
	valid := func(c map[string]any) string { return sign(c, jose.ES256, setKey, settest.Type) }
	subject := func(sub string) map[string]any {
		return map[string]any{"sub_id": map[string]any{"format": "iss_sub", "iss": setIssuer, "sub": sub}}
	}
	changedTo := func(email string) map[string]any {
		return map[string]any{"events": map[string]any{changed: map[string]any{"new-value": email}}}
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	unsigned := strings.SplitN(valid(claims(nil)), ".", 3)

	tokens := []named{
		{"empty", ""}, {"garbage", "not a token"}, {"SQL injection", sqlInjection}, {"HTML injection", htmlInjection},
		{"NUL", "\x00"}, {"10k chars", strings.Repeat("a", 10000)}, {"JSON", `{"jti":"x"}`}, {"emoji", "📧.📧.📧"},
		{"wrong issuer", valid(claims(map[string]any{"iss": "https://evil.example/"}))},
		{"wrong audience", valid(claims(map[string]any{"aud": "https://evil.example"}))},
		{"no iat", valid(claims(map[string]any{"iat": nil}))},
		{"iat in the future", valid(claims(map[string]any{"iat": time.Now().Add(time.Hour).Unix()}))},
		{"iat a string", valid(claims(map[string]any{"iat": "yesterday"}))},
		{"iat in milliseconds", valid(claims(map[string]any{"iat": time.Now().UnixMilli()}))},
		{"iat before PostgreSQL's earliest time", valid(claims(map[string]any{"iat": -1e15, "toe": nil}))},
		{"toe an hour in the future", valid(claims(map[string]any{"toe": time.Now().Add(time.Hour).Unix()}))},
		{"toe in milliseconds", valid(claims(map[string]any{"toe": time.Now().UnixMilli()}))},
		{"toe before 1970", valid(claims(map[string]any{"toe": -1}))},
		{"toe a string", valid(claims(map[string]any{"toe": "tomorrow"}))},
		{"expired", valid(claims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}))},
		{"no jti", valid(claims(map[string]any{"jti": nil}))},
		{"jti a number", valid(claims(map[string]any{"jti": 5}))},
		{"jti over 255 chars", valid(claims(map[string]any{"jti": strings.Repeat("j", 256)}))},
		{"jti with NUL", valid(claims(map[string]any{"jti": "j\x00"}))},
		{"no sub_id", valid(claims(map[string]any{"sub_id": nil}))},
		{"sub_id a string", valid(claims(map[string]any{"sub_id": "urn:x"}))},
		{"sub_id in email format", valid(claims(map[string]any{"sub_id": map[string]any{"format": "email", "email": "ann@example.com"}}))},
		{"empty sub", valid(claims(subject("")))},
		{"sub over 255 chars", valid(claims(subject(strings.Repeat("s", 256))))},
		{"sub with NUL", valid(claims(subject("urn:x\x00")))},
		{"no events", valid(claims(map[string]any{"events": nil}))},
		{"empty events", valid(claims(map[string]any{"events": map[string]any{}}))},
		{"events an array", valid(claims(map[string]any{"events": []string{purged}}))},
		{"unknown event with NUL", valid(claims(map[string]any{"events": map[string]any{"urn:x\x00": map[string]any{}}}))},
		{"unknown event payload with NUL", valid(claims(map[string]any{"events": map[string]any{"urn:x": map[string]any{"a": "\x00"}}}))},
		{"identifier-changed without new-value", valid(claims(map[string]any{"events": map[string]any{changed: map[string]any{}}}))},
		{"new-value a number", valid(claims(map[string]any{"events": map[string]any{changed: map[string]any{"new-value": 5}}}))},
		{"new-value SQL injection", valid(claims(changedTo(sqlInjection)))},
		{"new-value HTML injection", valid(claims(changedTo(htmlInjection)))},
		{"new-value header injection", valid(claims(changedTo(headerInject)))},
		{"new-value with NUL", valid(claims(changedTo("ann\x00@example.com")))},
		{"new-value RTL override", valid(claims(changedTo("\u202eann@example.com")))},
		{"new-value 10k chars", valid(claims(changedTo(strings.Repeat("a", 10000) + "@example.com")))},
		{"typ JWT", sign(claims(nil), jose.ES256, setKey, "JWT")},
		{"signed by another key", sign(claims(nil), jose.ES256, other, settest.Type)},
		{"HS256", sign(claims(nil), jose.HS256, []byte(strings.Repeat("k", 32)), settest.Type)},
		{"alg none", `eyJhbGciOiJub25lIn0.` + unsigned[1] + `.`},
		{"signature removed", unsigned[0] + "." + unsigned[1] + "."},
		{"payload swapped", unsigned[0] + "." + jsonBase64(claims(subject("urn:other"))) + "." + unsigned[2]},
		{"two tokens", valid(claims(nil)) + "." + valid(claims(nil))},
	}
	set2MiB, set20MiB := hugeBody(`eyJhbGciOiJFUzI1NiJ9.`, 2<<20, `.sig`), hugeBody(`eyJhbGciOiJFUzI1NiJ9.`, 20<<20, `.sig`)
	var cases []badCase
	for _, tok := range tokens {
		cases = append(cases, badCase{name: "POST /account-events/" + tok.name, method: "POST", path: "/account-events",
			header: header, body: []byte(tok.value), want: is(400), page: "set"})
	}
	for _, b := range []struct {
		name    string
		body    []byte
		chunked bool
	}{{"2 MiB", set2MiB, false}, {"20 MiB", set20MiB, false}, {"2 MiB without Content-Length", set2MiB, true}} {
		cases = append(cases, badCase{name: "POST /account-events/" + b.name, method: "POST", path: "/account-events",
			header: header, body: b.body, chunked: b.chunked, want: is(413), page: "set"})
	}
	for _, ct := range []string{"", "application/json", "application/jwt", "text/plain", "application/secevent+jwtx"} {
		h := header.Clone()
		h.Set("Content-Type", ct)
		cases = append(cases, badCase{name: "POST /account-events/Content-Type " + ct, method: "POST", path: "/account-events",
			header: h, body: []byte(valid(claims(nil))), want: is(415), page: "set"})
	}
	return cases
}

func jsonBase64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// pageBadCases: the pages and forms. Forms are posted as a browser on the
// site would (same Origin): cross-origin protection has no token to get.
func pageBadCases(router *gin.Engine) []badCase {
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {"{origin}"}, "Sec-Fetch-Site": {"same-origin"}}
	var cases []badCase
	cases = append(cases, wrongMethodCases(router.Routes(), nil, "html")...)

	sessionRoute := func(route string) bool {
		return strings.HasPrefix(route, "/email/manage/frequency/") || route == "/email/manage/unsubscribe-all" ||
			route == "/email/manage/address" || route == "/email/unsubscribe/:id"
	}
	page := func(route string) string {
		if route == "/sign-in/backchannel-logout" {
			return "none" // server to server: a bare status
		}
		return "html"
	}
	// Bad path parameters.
	for _, r := range router.Routes() {
		for _, param := range routeParams(r.Path) {
			for _, v := range badIDs {
				c := badCase{name: r.Method + " " + r.Path + "/" + param + " " + v.name, method: r.Method,
					path: fillRoute(r.Path, param, v.value), want: is(404), session: true, page: "html"}
				if r.Method == "POST" {
					c.header, c.body = form, []byte("frequency=weekly")
				}
				cases = append(cases, c)
			}
		}
	}
	for _, v := range append(slices.Clone(badIDs), named{"dot dot", "../../go.mod"}, named{"template", "pages/layout.html"}) {
		cases = append(cases, badCase{name: "GET /assets/*path " + v.name, method: "GET",
			path: "/assets/" + url.PathEscape(v.value), want: is(404), page: "none"})
	}

	// Bad query parameters and form fields.
	type input struct {
		method, path string
		session      bool
		values       []named
		query        string // the query or form, v in place of %s
		want         []int
		page         string
	}
	tokens := append(slices.Clone(nastyStrings[1:]), named{"43 chars", strings.Repeat("A", 43)})
	inputs := []input{
		{"GET", "/email/manage/authenticate/process", false, tokens, "token=%s", is(410), "html"},
		{"GET", "/email/manage/address/confirm", false, tokens, "token=%s", is(410), "html"},
		{"GET", "/email/unsubscribe/{subscription}", false, tokens, "token=%s", is(410), "html"},
		{"GET", "/email/subscriptions/authenticate", false, tokens, "token=%s&topic_id={slug}&frequency=daily", is(410), "html"},
		{"GET", "/email/subscriptions/authenticate", false, nastyStrings, "token=" + strings.Repeat("A", 43) + "&topic_id=%s&frequency=daily", is(410), "html"},
		{"GET", "/email/subscriptions/new", false, nastyStrings, "topic_id=%s", is(404), "html"},
		{"GET", "/email/subscriptions/verify", false, nastyStrings, "topic_id=%s&frequency=daily", is(404), "html"},
		{"GET", "/email/subscriptions/verify", false, nastyStrings, "topic_id={slug}&frequency=%s", is(422), "summary"},
		{"GET", "/email/subscriptions/account/confirm", false, nastyStrings, "topic_id=%s&frequency=daily", is(404), "html"},
		{"GET", "/email/subscriptions/account/confirm", false, nastyStrings, "topic_id={slug}&frequency=%s", is(422), "summary"},
		{"GET", "/email/manage/authenticate", false, badDestinations, "redirect_path=%s", is(200), "html"},
		{"GET", "/email/manage/authenticate/process", false, badDestinations, "token=" + strings.Repeat("A", 43) + "&redirect_path=%s", is(410), "html"},
		{"GET", "/sign-in/callback", false, nastyStrings, "code=%[1]s&state=%[1]s", is(400), "html"},
		{"GET", "/sign-in/callback", false, nastyStrings[1:], "error=%[1]s&error_description=%[1]s", is(400), "html"},
		{"GET", "/email/manage/authenticate/account", false, badDestinations, "redirect_path=%s&mfa=%[1]s", is(400), "html"},
		{"GET", "/email/manage", true, nastyStrings, "notice=%[1]s&list=%[1]s", is(200), "html"},
		{"POST", "/email/manage/authenticate", false, badAddresses, "address=%s", is(422), "summary"},
		{"POST", "/email/subscriptions/new", false, nastyStrings, "topic_id=%s&frequency=daily", is(404), "html"},
		{"POST", "/email/subscriptions/new", false, nastyStrings, "topic_id={slug}&frequency=%s", is(422), "summary"},
		{"POST", "/email/subscriptions/verify", false, badAddresses, "topic_id={slug}&frequency=daily&address=%s", is(422), "summary"},
		{"POST", "/email/subscriptions/verify", false, nastyStrings, "topic_id=%s&frequency=daily&address=new@example.com", is(404), "html"},
		{"POST", "/email/subscriptions/verify", false, nastyStrings, "topic_id={slug}&frequency=%s&address=new@example.com", is(422), "summary"},
		{"POST", "/email/subscriptions/verify/account", false, nastyStrings, "topic_id=%s&frequency=daily", is(404), "html"},
		{"POST", "/email/subscriptions/verify/account", false, nastyStrings, "topic_id={slug}&frequency=%s", is(422), "summary"},
		{"POST", "/email/subscriptions/account", false, nastyStrings, "topic_id=%s&frequency=daily", is(404), "html"},
		{"POST", "/email/subscriptions/account", false, nastyStrings, "topic_id={slug}&frequency=%s", is(422), "summary"},
		{"POST", "/email/manage/authenticate", false, badDestinations, "address=nobody@example.com&redirect_path=%s", is(200), "html"},
		{"POST", "/email/manage/frequency/{subscription}", true, nastyStrings, "frequency=%s", is(422), "summary"},
		{"POST", "/email/unsubscribe/{subscription}", false, tokens, "token=%s", is(410), "html"},
		{"POST", "/email/manage/address", true, badAddresses, "address=%s", is(422), "summary"},
		{"POST", "/sign-in/backchannel-logout", false, tokens, "logout_token=%s", is(400), "none"},
		{"POST", "/email/unsubscribe/one-click/{subscription}", false, nastyStrings, "List-Unsubscribe=%s", is(400), "html"},
		{"POST", "/email/unsubscribe/one-click/{subscription}", false, nastyStrings, "%s=One-Click", is(400), "html"},
	}
	// The one-click URL's token is in its query, its body fixed (RFC 8058).
	for _, v := range tokens {
		cases = append(cases, badCase{name: "POST /email/unsubscribe/one-click/{subscription}?token=… " + v.name, method: "POST",
			path: "/email/unsubscribe/one-click/{subscription}?token=" + url.QueryEscape(v.value), header: form,
			body: []byte("List-Unsubscribe=One-Click"), want: is(410), page: "html"})
	}
	for _, in := range inputs {
		for _, v := range in.values {
			query := fmt.Sprintf(in.query, url.QueryEscape(v.value))
			sep := "?"
			if in.method == "POST" {
				sep = " form "
			}
			c := badCase{name: in.method + " " + in.path + sep + strings.NewReplacer("%[1]s", "…", "%s", "…").Replace(in.query) + " " + v.name,
				method: in.method, session: in.session, want: in.want, page: in.page}
			if in.method == "GET" {
				c.path = in.path + "?" + query
			} else {
				c.path, c.header, c.body = in.path, form, []byte(query)
			}
			cases = append(cases, c)
		}
	}

	// Bad bodies, on every form.
	form2MiB, form20MiB := hugeBody(`address=`, 2<<20, ``), hugeBody(`address=`, 20<<20, ``)
	var multipart20MiB bytes.Buffer
	mw := multipart.NewWriter(&multipart20MiB)
	_ = mw.WriteField("address", "ann@example.com")
	fw, _ := mw.CreateFormFile("file", "big.bin")
	_, _ = fw.Write(make([]byte, 20<<20))
	_ = mw.Close()
	for _, r := range router.Routes() {
		if r.Method != "POST" {
			continue
		}
		path := strings.ReplaceAll(r.Path, ":id", "{subscription}")
		with := func(kv ...string) http.Header {
			h := form.Clone()
			for i := 0; i < len(kv); i += 2 {
				h.Set(kv[i], kv[i+1])
			}
			return h
		}
		for _, b := range []badCase{
			{name: "2 MiB", body: form2MiB, want: is(413)},
			{name: "20 MiB", body: form20MiB, want: is(413)},
			{name: "2 MiB without Content-Length", body: form2MiB, chunked: true, want: is(413)},
			{name: "20 MiB multipart", body: multipart20MiB.Bytes(), header: with("Content-Type", mw.FormDataContentType()), want: is(413)},
			{name: "malformed encoding", body: []byte("address=%zz&frequency=%&token=%"), want: is(400)},
			{name: "JSON", body: []byte(`{"address":"ann@example.com","frequency":"daily"}`), header: with("Content-Type", "application/json"), want: is(415)},
			{name: "text", body: []byte("address=ann@example.com"), header: with("Content-Type", "text/plain"), want: is(415)},
			{name: "cross-site", body: []byte("address=ann@example.com&frequency=daily"), header: with("Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"), want: is(403)},
		} {
			b.name, b.method, b.path, b.session, b.page = "POST "+r.Path+"/"+b.name, "POST", path, sessionRoute(r.Path), page(r.Path)
			if b.header == nil {
				b.header = form
			}
			if (r.Path == "/sign-in/backchannel-logout" || r.Path == "/email/unsubscribe/one-click/:id") && b.want[0] == 403 {
				b.want = is(400) // exempt from the cross-site check; the token, or List-Unsubscribe=One-Click, is missing
			}
			if b.want[0] == 403 {
				b.page = "none" // Go's cross-origin protection answers in plain text
			}
			cases = append(cases, b)
		}
	}
	return cases
}
