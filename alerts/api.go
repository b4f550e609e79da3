package alerts

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"email-alert/jsonapi"
)

// API serves the content-change endpoints of the JSON API.
type API struct {
	s *Service
}

// NewAPI returns the handlers over s.
func NewAPI(s *Service) *API { return &API{s: s} }

// ReceiveContentChange handles POST /content-changes: 202 once the change
// and its job are stored.
func (a *API) ReceiveContentChange(c *gin.Context) {
	var body ContentChangeRequest
	if !jsonapi.Decode(c, &body) {
		return
	}
	cc, missing, invalid := body.Parse()
	if missing != nil {
		jsonapi.AbortMissing(c, missing)
		return
	}
	if invalid != nil {
		jsonapi.Abort(c, http.StatusUnprocessableEntity, "Content change is not valid", invalid)
		return
	}
	_, err := a.s.Receive(c.Request.Context(), cc)
	if err != nil {
		receiveErrors.Fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"message": "Content change queued for sending"})
}

// receiveErrors answers the errors of Receive.
var receiveErrors = jsonapi.Errors{
	{Err: ErrDuplicate, Status: http.StatusConflict, Message: "Content change already received"},
}

// ListMetrics handles GET /subscriber-lists/metrics/*path: how many lists
// the latest content change received for that GOV.UK path matched, and how
// many active subscriptions those lists have (all frequencies). A path
// with no content change received has none.
func (a *API) ListMetrics(c *gin.Context) {
	path := c.Param("path")
	if !rootRelativePath(path) {
		jsonapi.Abort(c, http.StatusUnprocessableEntity, "Path is not valid",
			jsonapi.Details{"path": {badPath}})
		return
	}
	lists, subs, err := a.s.PathMetrics(c.Request.Context(), path)
	if err != nil {
		jsonapi.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"subscriber_list_count": lists, "all_notify_count": subs})
}

// PathMetrics counts the lists that the latest content change of path
// matched and their active subscriptions.
func (s *Service) PathMetrics(ctx context.Context, path string) (lists, subscriptions int64, err error) {
	var row struct {
		Lists         int64 `db:"lists"`
		Subscriptions int64 `db:"subscriptions"`
	}
	err = s.db.GetContext(ctx, &row, `
		WITH latest AS (
			SELECT id FROM content_changes WHERE base_path = $1 ORDER BY received_at DESC LIMIT 1),
		lists AS (
			SELECT m.subscriber_list_id AS id FROM content_change_matches m JOIN latest ON m.content_change_id = latest.id)
		SELECT (SELECT count(*) FROM lists) AS lists,
		       (SELECT count(*) FROM subscriptions s JOIN lists ON s.subscriber_list_id = lists.id
		        WHERE s.ended_at IS NULL) AS subscriptions`, path)
	if err != nil {
		return 0, 0, fmt.Errorf("path metrics: %w", err)
	}
	return row.Lists, row.Subscriptions, nil
}
