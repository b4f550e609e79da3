package jsonapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"

	"email-alert/jsonapi"
)

func TestRequire(t *testing.T) {
	gin.SetMode(gin.TestMode)
	for _, tc := range []struct {
		name    string
		present map[string]bool
		ok      bool
		details jsonapi.Details
	}{
		{"all present", map[string]bool{"address": true, "frequency": true}, true, nil},
		{"nothing asked", nil, true, nil},
		{"one missing", map[string]bool{"address": true, "frequency": false}, false,
			jsonapi.Details{"frequency": {"is required"}}},
		{"every missing one named", map[string]bool{"address": false, "frequency": false}, false,
			jsonapi.Details{"address": {"is required"}, "frequency": {"is required"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			if ok := jsonapi.Require(c, tc.present); ok != tc.ok {
				t.Fatalf("Require = %v, want %v", ok, tc.ok)
			}
			if tc.ok {
				if c.IsAborted() {
					t.Error("aborted a complete request")
				}
				return
			}
			if w.Code != http.StatusBadRequest {
				t.Errorf("status %d, want 400", w.Code)
			}
			var body jsonapi.ErrorBody
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(jsonapi.ErrorBody{Error: jsonapi.MissingMessage, Details: tc.details}, body); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}
