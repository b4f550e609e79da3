package jsonapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// FuzzDecode: any body either decodes or is answered with a 4xx and the
// standard error body; nothing panics and nothing is a 5xx.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"address":"a@b.c","subscriber_list_id":1}`, `{"address":5}`, `[]`, `{}{}`, `{"a":`, "", "\x00",
		`{"subscriber_list_id":1e400}`, `{"address":"\u0000"}`, strings.Repeat("[", 10000),
	} {
		f.Add(seed, "application/json")
	}
	f.Add(`title=x`, "application/x-www-form-urlencoded")
	gin.SetMode(gin.TestMode)
	f.Fuzz(func(t *testing.T, body, contentType string) {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		c.Request.Header.Set("Content-Type", contentType)
		var v struct {
			Address          *string         `json:"address"`
			SubscriberListID json.RawMessage `json:"subscriber_list_id"`
			Frequency        *string         `json:"frequency"`
			Skip             bool            `json:"skip_confirmation_email"`
		}
		if Decode(c, &v) {
			return
		}
		if w.Code < 400 || w.Code > 499 {
			t.Fatalf("status %d for %q (%q)", w.Code, body, contentType)
		}
		var e ErrorBody
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
			t.Fatalf("error body %q", w.Body)
		}
	})
}
