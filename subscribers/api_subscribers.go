package subscribers

import (
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"

	"email-alert/jsonapi"
)

// Subscriptions handles GET /subscribers/:id/subscriptions?order=.
func (a *API) Subscriptions(c *gin.Context) {
	id, ok := subscriberID(c)
	if !ok {
		return
	}
	order := c.DefaultQuery("order", DefaultOrder)
	subscriber, subs, err := a.store.ActiveSubscriptions(c.Request.Context(), id, order)
	if err != nil {
		apiErrors.Fail(c, err)
		return
	}
	buf, _ := jsonBuffers.Get().(*[]byte) // New makes no other kind
	*buf = appendSubscriptionsJSON((*buf)[:0], &subscriber, subs)
	c.Data(http.StatusOK, "application/json; charset=utf-8", *buf)
	if cap(*buf) <= 64<<10 { // a rare subscriber with hundreds of lists keeps no buffer
		jsonBuffers.Put(buf)
	}
}

// jsonBuffers holds the buffers Subscriptions writes its answer into.
var jsonBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// ChangeAddress handles PATCH /subscribers/:id.
func (a *API) ChangeAddress(c *gin.Context) {
	id, ok := subscriberID(c)
	if !ok {
		return
	}
	var body struct {
		NewAddress *string `json:"new_address"`
		OnConflict *string `json:"on_conflict"`
	}
	if !jsonapi.Decode(c, &body) {
		return
	}
	if !jsonapi.Require(c, map[string]bool{"new_address": body.NewAddress != nil}) {
		return
	}
	problems := jsonapi.Details{}
	address, valid := NormalizeAddress(*body.NewAddress)
	if !valid {
		problems["new_address"] = append(problems["new_address"], InvalidAddress)
	}
	if body.OnConflict != nil && *body.OnConflict != "merge" {
		problems["on_conflict"] = append(problems["on_conflict"], `must be "merge" when given`)
	}
	if len(problems) > 0 {
		jsonapi.Abort(c, http.StatusUnprocessableEntity, "Address change is not valid", problems)
		return
	}
	onConflict := Refuse
	if body.OnConflict != nil {
		onConflict = Merge
	}
	subscriber, err := a.store.ChangeAddress(c.Request.Context(), id, address, onConflict, apiCause(c))
	if err != nil {
		apiErrors.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"subscriber": subscriber})
}

// UnsubscribeAll handles DELETE /subscribers/:id.
func (a *API) UnsubscribeAll(c *gin.Context) {
	id, ok := subscriberID(c)
	if !ok {
		return
	}
	if _, err := a.store.UnsubscribeAll(c.Request.Context(), id, EndedUnsubscribed, apiCause(c)); err != nil {
		apiErrors.Fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
