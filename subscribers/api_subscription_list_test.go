package subscribers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"

	"email-alert/jsonapi"
	"email-alert/subscribers"
)

// TestSubscriptionJSONCarriesTheListsCriteria: every answer holding a
// subscription shows its subscriber_list as the list JSON shows the list
// (criteria included), less active_subscriptions_count.
func TestSubscriptionJSONCarriesTheListsCriteria(t *testing.T) {
	f := setup(t)
	gin.SetMode(gin.TestMode)
	api := subscribers.NewAPI(f.store)
	r := gin.New()
	r.Use(jsonapi.BearerAuth([]string{"token"}))
	r.POST("/subscriber-lists", api.FindOrCreateList)
	r.GET("/subscriber-lists/:slug", api.List)
	r.POST("/subscriptions", api.Subscribe)
	r.GET("/subscriptions/:id", api.Subscription)
	r.GET("/subscriptions/:id/latest", api.LatestSubscription)
	r.PATCH("/subscriptions/:id", api.ChangeFrequency)
	r.GET("/subscribers/:id/subscriptions", api.Subscriptions)
	do := func(method, path, body string) map[string]any {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer token")
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
		}
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}

	for _, tc := range []struct{ name, list string }{
		{"tags and links", `{"title":"VAT","url":"/vat","tags":{"topics":{"all":["vat","income-tax"]}},
			"links":{"organisations":["hmrc"]},"document_type":"guide","email_document_supertype":"publications",
			"government_document_supertype":"guidance"}`},
		{"a page", `{"title":"VAT rates","content_id":"5f9c6c15-7631-11e4-a3cb-005056011aef"}`},
		{"no criteria", `{"title":"Plain list"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			created := do("POST", "/subscriber-lists", tc.list)["subscriber_list"].(map[string]any)
			slug := created["slug"].(string)
			want := do("GET", "/subscriber-lists/"+slug, "")["subscriber_list"].(map[string]any)
			delete(want, "active_subscriptions_count")
			for _, field := range []string{"tags", "links", "document_type", "email_document_supertype",
				"government_document_supertype", "content_id"} {
				if _, ok := want[field]; !ok {
					t.Fatalf("the list JSON lacks %s: %v", field, want)
				}
			}
			address := strings.ReplaceAll(tc.name, " ", "-") + "@example.com"
			sub := do("POST", "/subscriptions",
				fmt.Sprintf(`{"address":%q,"subscriber_list_id":%v}`, address, created["id"]))["subscription"].(map[string]any)
			id := sub["id"].(string)
			changed := do("PATCH", "/subscriptions/"+id, `{"frequency":"weekly"}`)["subscription"].(map[string]any)
			subscriber := sub["subscriber"].(map[string]any)["id"]
			listed := do("GET", fmt.Sprintf("/subscribers/%v/subscriptions", subscriber), "")["subscriptions"].([]any)
			if len(listed) != 1 {
				t.Fatalf("%d active subscriptions, want 1", len(listed))
			}
			for name, s := range map[string]any{
				"POST /subscriptions":                sub,
				"GET /subscriptions/:id":             do("GET", "/subscriptions/"+id, "")["subscription"],
				"GET /subscriptions/:id/latest":      do("GET", "/subscriptions/"+id+"/latest", "")["subscription"],
				"PATCH /subscriptions/:id":           changed,
				"GET /subscribers/:id/subscriptions": listed[0],
			} {
				if diff := cmp.Diff(want, s.(map[string]any)["subscriber_list"]); diff != "" {
					t.Errorf("%s: subscriber_list differs from the list's JSON (-list +subscription):\n%s", name, diff)
				}
			}
		})
	}
}
