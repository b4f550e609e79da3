package mail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

const (
	testServiceID  = "26785a09-ab16-4eb0-8407-a37497a57506"
	testSecret     = "3d844edf-8d35-48ac-975b-e847b4f122b0"
	testTemplateID = "f33517ff-2a88-4f6e-b855-c550268ce08a"
	testAPIKey     = "test_key-with-hyphens-" + testServiceID + "-" + testSecret
)

// checkNotifyRequest fails the test unless r carries the headers Notify
// needs and a JWT for testServiceID signed with testSecret, issued within
// the last 30 s.
func checkNotifyRequest(t *testing.T, r *http.Request) {
	t.Helper()
	if got := r.Header.Get("User-Agent"); got != "email-alert" {
		t.Errorf("User-Agent = %q, want email-alert", got)
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		t.Errorf("Authorization = %q, want a Bearer token", r.Header.Get("Authorization"))
		return
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Errorf("parse JWT: %v", err)
		return
	}
	if len(tok.Headers) != 1 || tok.Headers[0].Algorithm != string(jose.HS256) || tok.Headers[0].ExtraHeaders["typ"] != "JWT" {
		t.Errorf("JWT header = %+v, want typ JWT, alg HS256", tok.Headers)
	}
	var claims jwt.Claims
	var raw map[string]any
	if err := tok.Claims([]byte(testSecret), &claims, &raw); err != nil {
		t.Errorf("verify JWT: %v", err)
		return
	}
	if claims.Issuer != testServiceID {
		t.Errorf("iss = %q, want %q", claims.Issuer, testServiceID)
	}
	if claims.IssuedAt == nil {
		t.Errorf("JWT has no iat")
	} else if d := time.Since(claims.IssuedAt.Time()); d < -30*time.Second || d > 30*time.Second {
		t.Errorf("iat is %v from now, want within 30s", d)
	}
	if len(raw) != 2 {
		t.Errorf("JWT claims = %v, want only iss and iat", raw)
	}
	// A token signed with another key must not verify.
	if err := tok.Claims([]byte(strings.Repeat("x", 36)), &claims); err == nil {
		t.Errorf("JWT verified with the wrong key")
	}
}

func TestNotifySenderSend(t *testing.T) {
	msg := Message{
		ID:      uuid.MustParse("0b8a3d2c-5a4f-4f6e-9d3b-2a1c0e9f8d7e"),
		To:      "someone@example.com",
		Subject: "Update to “Brexit” guidance",
		Body:    "Hello,\n\nA page you follow changed <https://www.gov.uk/x?a=1&b=2>.\n",
	}
	tests := []struct {
		name          string
		status        int
		reply         string
		wantRef       string
		wantErr       string // a substring of the error; "" for success
		wantPermanent bool
	}{
		{
			name:    "created",
			status:  http.StatusCreated,
			reply:   `{"id":"740e5834-3a29-46b4-9a6f-16142fde533a","reference":"0b8a3d2c-5a4f-4f6e-9d3b-2a1c0e9f8d7e","content":{}}`,
			wantRef: "740e5834-3a29-46b4-9a6f-16142fde533a",
		},
		{
			name:          "validation error is permanent",
			status:        http.StatusBadRequest,
			reply:         `{"status_code":400,"errors":[{"error":"ValidationError","message":"email_address Not a valid email address"}]}`,
			wantErr:       "ValidationError: email_address Not a valid email address",
			wantPermanent: true,
		},
		{
			name:          "bad request error is permanent",
			status:        http.StatusBadRequest,
			reply:         `{"status_code":400,"errors":[{"error":"BadRequestError","message":"Can't send to this recipient using a team-only API key"}]}`,
			wantErr:       "BadRequestError: Can't send to this recipient",
			wantPermanent: true,
		},
		{
			name:    "auth error is retried",
			status:  http.StatusForbidden,
			reply:   `{"status_code":403,"errors":[{"error":"AuthError","message":"Invalid token: signature, api token not found"}]}`,
			wantErr: "AuthError: Invalid token",
		},
		{
			name:    "rate limit is retried",
			status:  http.StatusTooManyRequests,
			reply:   `{"status_code":429,"errors":[{"error":"RateLimitError","message":"Exceeded rate limit for key type LIVE of 3000 requests per 60 seconds"}]}`,
			wantErr: "RateLimitError",
		},
		{
			name:    "server error is retried",
			status:  http.StatusInternalServerError,
			reply:   `{"status_code":500,"errors":[{"error":"Exception","message":"Internal server error"}]}`,
			wantErr: "notify replied 500",
		},
		{
			name:    "non-JSON gateway error is retried",
			status:  http.StatusBadGateway,
			reply:   "<html>502 Bad Gateway</html>",
			wantErr: "502 Bad Gateway",
		},
		{
			name:    "created without id",
			status:  http.StatusCreated,
			reply:   `{}`,
			wantErr: "no notification id",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/v2/notifications/email" || r.URL.RawQuery != "" {
					t.Errorf("request %s %s, want POST /v2/notifications/email", r.Method, r.URL)
				}
				checkNotifyRequest(t, r)
				body, err := io.ReadAll(r.Body)
				if err != nil {
					t.Errorf("read body: %v", err)
				}
				var got map[string]any
				dec := json.NewDecoder(bytes.NewReader(body))
				if err := dec.Decode(&got); err != nil {
					t.Errorf("body %s: %v", body, err)
				}
				want := map[string]any{
					"email_address":   msg.To,
					"template_id":     testTemplateID,
					"personalisation": map[string]any{"subject": msg.Subject, "body": msg.Body},
					"reference":       msg.ID.String(),
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("body mismatch (-want +got):\n%s", diff)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.reply)
			}))
			defer srv.Close()
			s, err := NewNotifySender(srv.URL+"/", testAPIKey, testTemplateID, srv.Client())
			if err != nil {
				t.Fatal(err)
			}

			ref, err := s.Send(context.Background(), msg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if ref != tt.wantRef {
					t.Errorf("reference = %q, want %q", ref, tt.wantRef)
				}
				return
			}
			if err == nil {
				t.Fatalf("Send = %q, nil; want an error", ref)
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			var perm *PermanentError
			if got := errors.As(err, &perm); got != tt.wantPermanent {
				t.Errorf("errors.As(err, *PermanentError) = %v, want %v", got, tt.wantPermanent)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error contains the secret: %v", err)
			}
		})
	}
}

func TestNotifySenderSendLimitsReplyAndHonorsContext(t *testing.T) {
	t.Run("huge reply", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"id":"`+strings.Repeat("a", 1<<20)+`"}`)
		}))
		defer srv.Close()
		s, err := NewNotifySender(srv.URL, testAPIKey, testTemplateID, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		// Only the first 64 KiB is read, so the JSON is cut short.
		if _, err := s.Send(context.Background(), Message{ID: uuid.New(), To: "a@example.com"}); err == nil {
			t.Error("Send of a 1 MiB reply succeeded, want an error")
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			select { // stall until the test is over
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		s, err := NewNotifySender(srv.URL, testAPIKey, testTemplateID, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err = s.Send(ctx, Message{ID: uuid.New(), To: "a@example.com"})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		var perm *PermanentError
		if errors.As(err, &perm) {
			t.Errorf("err is permanent: %v", err)
		}
	})
}

func TestNotifySenderFind(t *testing.T) {
	id := uuid.MustParse("0b8a3d2c-5a4f-4f6e-9d3b-2a1c0e9f8d7e")
	tests := []struct {
		name      string
		status    int
		reply     string
		wantRef   string
		wantFound bool
		wantErr   bool
	}{
		{
			name:   "found",
			status: http.StatusOK,
			reply: `{"notifications":[{"id":"740e5834-3a29-46b4-9a6f-16142fde533a","reference":"` + id.String() +
				`","status":"delivered","type":"email"}],"links":{"current":"x"}}`,
			wantRef:   "740e5834-3a29-46b4-9a6f-16142fde533a",
			wantFound: true,
		},
		{
			name:   "not found",
			status: http.StatusOK,
			reply:  `{"notifications":[],"links":{"current":"x"}}`,
		},
		{
			name:   "only other references",
			status: http.StatusOK,
			reply:  `{"notifications":[{"id":"740e5834-3a29-46b4-9a6f-16142fde533a","reference":"something-else"}]}`,
		},
		{
			name:    "server error",
			status:  http.StatusInternalServerError,
			reply:   `{"status_code":500,"errors":[{"error":"Exception","message":"Internal server error"}]}`,
			wantErr: true,
		},
		{
			name:    "auth error",
			status:  http.StatusForbidden,
			reply:   `{"status_code":403,"errors":[{"error":"AuthError","message":"Invalid token"}]}`,
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || r.URL.Path != "/v2/notifications" {
					t.Errorf("request %s %s, want GET /v2/notifications", r.Method, r.URL.Path)
				}
				if q := r.URL.Query(); len(q) != 1 || q.Get("reference") != id.String() {
					t.Errorf("query = %v, want reference=%s only", q, id)
				}
				checkNotifyRequest(t, r)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.reply)
			}))
			defer srv.Close()
			s, err := NewNotifySender(srv.URL, testAPIKey, testTemplateID, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			var _ Finder = s

			ref, found, err := s.Find(context.Background(), id)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Find error = %v, want error %v", err, tt.wantErr)
			}
			if ref != tt.wantRef || found != tt.wantFound {
				t.Errorf("Find = %q, %v; want %q, %v", ref, found, tt.wantRef, tt.wantFound)
			}
		})
	}
}

func TestNewNotifySender(t *testing.T) {
	const base = "https://api.notifications.service.gov.uk"
	t.Run("key parts", func(t *testing.T) {
		s, err := NewNotifySender(base, testAPIKey, testTemplateID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if s.serviceID != testServiceID || string(s.secret) != testSecret {
			t.Errorf("service ID %q, secret %q; want %q, %q", s.serviceID, s.secret, testServiceID, testSecret)
		}
		if s.client == nil || s.client.Timeout != 10*time.Second {
			t.Errorf("default client = %+v, want a 10s timeout", s.client)
		}
	})

	tests := []struct {
		name, baseURL, apiKey, templateID string
	}{
		{"key without name", base, testServiceID + "-" + testSecret, testTemplateID},
		{"key with empty name", base, "-" + testServiceID + "-" + testSecret, testTemplateID},
		{"key with one UUID", base, "name-" + testSecret, testTemplateID},
		{"key with a short secret", base, "name-" + testServiceID + "-" + testSecret[:35], testTemplateID},
		{"key with wrong separator", base, "name-" + testServiceID + "_" + testSecret, testTemplateID},
		{"key with non-hex secret", base, "name-" + testServiceID + "-" + strings.Replace(testSecret, "3", "z", 1), testTemplateID},
		{"key is a bare secret", base, testSecret, testTemplateID},
		{"empty key", base, "", testTemplateID},
		{"template not a UUID", base, testAPIKey, "welcome"},
		{"base URL without scheme", "api.notifications.service.gov.uk", testAPIKey, testTemplateID},
		{"base URL with other scheme", "ftp://api.notifications.service.gov.uk", testAPIKey, testTemplateID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewNotifySender(tt.baseURL, tt.apiKey, tt.templateID, nil)
			if err == nil {
				t.Fatalf("NewNotifySender = %+v, want an error", s)
			}
			if tt.apiKey != "" && strings.Contains(err.Error(), tt.apiKey) {
				t.Errorf("error repeats the API key: %v", err)
			}
			if strings.Contains(err.Error(), testSecret[:8]) {
				t.Errorf("error contains the secret: %v", err)
			}
		})
	}
}

// An email about a list asks Notify for its List-Unsubscribe headers with
// one_click_unsubscribe_url; any other email's request has no such field.
func TestNotifySenderOneClickUnsubscribeURL(t *testing.T) {
	const oneClick = "https://www.gov.example/email/unsubscribe/one-click/3f1c8b2e-4b0a-4e53-9a43-6f1f0c2d7a10?token=abc"
	for _, tt := range []struct {
		name string
		url  string
	}{{"email about a list", oneClick}, {"transactional email", ""}} {
		t.Run(tt.name, func(t *testing.T) {
			var got map[string]any
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				checkNotifyRequest(t, r)
				if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
					t.Errorf("decode request: %v", err)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusCreated)
				_, _ = io.WriteString(w, `{"id":"740e5834-3a29-46b4-9a6f-16142fde533a"}`)
			}))
			defer srv.Close()
			s, err := NewNotifySender(srv.URL, testAPIKey, testTemplateID, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			m := Message{ID: uuid.New(), To: "someone@example.com", Subject: "s", Body: "b", ListUnsubscribeURL: tt.url}
			if _, err := s.Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			v, ok := got["one_click_unsubscribe_url"]
			switch {
			case tt.url == "" && ok:
				t.Errorf("one_click_unsubscribe_url = %v, want no such field", v)
			case tt.url != "" && v != tt.url:
				t.Errorf("one_click_unsubscribe_url = %v, want %q", v, tt.url)
			}
		})
	}
}
