package jsonapi_test

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"email-alert/jsonapi"
)

var errGone = errors.New("gone")

type takenError struct{ Name string }

func (e *takenError) Error() string { return e.Name + " is taken" }

var testErrors = jsonapi.Errors{
	{Err: errGone, Status: http.StatusNotFound, Message: "Not found"},
	jsonapi.ErrorAs(http.StatusUnprocessableEntity, "Name is not valid", func(e *takenError) jsonapi.Details {
		return jsonapi.Details{"name": {fmt.Sprintf("%q is taken", e.Name)}}
	}),
	{Err: errGone, Status: http.StatusGone, Message: "never: the first matching case wins"},
}

func TestErrorsFail(t *testing.T) {
	gin.SetMode(gin.TestMode)
	for _, tc := range []struct {
		name       string
		err        error
		wantStatus int
		wantBody   string
		wantRetry  bool
	}{
		{"sentinel, wrapped", fmt.Errorf("load: %w", errGone), 404, `{"error":"Not found"}`, false},
		{"typed error names its value", fmt.Errorf("create: %w", &takenError{Name: "ann"}), 422,
			`{"error":"Name is not valid","details":{"name":["\"ann\" is taken"]}}`, false},
		{"unknown error is hidden", errors.New("secret detail"), 500, `{"error":"Internal error"}`, false},
		{"outage is retried", fmt.Errorf("query: %w", driver.ErrBadConn), 503,
			`{"error":"Service unavailable; try again later"}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
			testErrors.Fail(c, tc.err)
			if w.Code != tc.wantStatus || w.Body.String() != tc.wantBody {
				t.Errorf("Fail(%v) = %d %s; want %d %s", tc.err, w.Code, w.Body, tc.wantStatus, tc.wantBody)
			}
			if retry := w.Header().Get("Retry-After") != ""; retry != tc.wantRetry {
				t.Errorf("Fail(%v): Retry-After sent: %v, want %v", tc.err, retry, tc.wantRetry)
			}
		})
	}
}

func TestErrorsAnswerLeavesUnknownErrors(t *testing.T) {
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
	if testErrors.Answer(c, errors.New("other")) || c.IsAborted() {
		t.Error("Answer took an error no case matches")
	}
}

// TestFailWhenTheClientHasGone: an error met after the client closed its
// connection is the client's, not the service's: logged at INFO and
// counted as 499, never a 500 logged as an error.
func TestFailWhenTheClientHasGone(t *testing.T) {
	gin.SetMode(gin.TestMode)
	var logs bytes.Buffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest(http.MethodPost, "/subscriptions", nil).WithContext(ctx)
	testErrors.Fail(c, fmt.Errorf("commit: %w", sql.ErrTxDone))
	if w.Code != 499 || w.Body.Len() != 0 {
		t.Errorf("Fail after the client left = %d %q, want 499 and no body", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), "level=INFO") || strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("logged %q, want one INFO line and no ERROR", logs.String())
	}
}
