package subscribers

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"email-alert/jsonapi"
)

// Subscribe handles POST /subscriptions.
func (a *API) Subscribe(c *gin.Context) {
	var body struct {
		Address          *string         `json:"address"`
		SubscriberListID json.RawMessage `json:"subscriber_list_id"`
		Frequency        *string         `json:"frequency"`
		SkipConfirmation bool            `json:"skip_confirmation_email"`
		Locale           *string         `json:"locale"`
	}
	if !jsonapi.Decode(c, &body) {
		return
	}
	if !jsonapi.Require(c, map[string]bool{"address": body.Address != nil,
		"subscriber_list_id": len(body.SubscriberListID) > 0 && string(body.SubscriberListID) != "null"}) {
		return
	}
	problems := jsonapi.Details{}
	address, ok := NormalizeAddress(*body.Address)
	if !ok {
		problems["address"] = append(problems["address"], InvalidAddress)
	}
	f := frequency(body.Frequency, Immediately, problems)
	lang := CheckLocale(body.Locale, problems)
	listID, ok := parseID(body.SubscriberListID)
	if !ok {
		problems["subscriber_list_id"] = append(problems["subscriber_list_id"], "must be a list id")
	}
	if len(problems) > 0 {
		jsonapi.Abort(c, http.StatusUnprocessableEntity, "Subscription is not valid", problems)
		return
	}
	sub, _, err := a.store.Subscribe(c.Request.Context(), SubscribeRequest{
		Address: address, ListID: listID, Frequency: f, SkipConfirmMail: body.SkipConfirmation, Locale: lang, Cause: apiCause(c),
	})
	if err != nil {
		apiErrors.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"subscription": sub})
}

// Subscription handles GET /subscriptions/:id.
func (a *API) Subscription(c *gin.Context) {
	id, ok := subscriptionID(c)
	if !ok {
		return
	}
	sub, err := a.store.Subscription(c.Request.Context(), id)
	if err != nil {
		apiErrors.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"subscription": sub})
}

// LatestSubscription handles GET /subscriptions/:id/latest.
func (a *API) LatestSubscription(c *gin.Context) {
	id, ok := subscriptionID(c)
	if !ok {
		return
	}
	sub, err := a.store.LatestSubscription(c.Request.Context(), id)
	if err != nil {
		apiErrors.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"subscription": sub})
}

// ChangeFrequency handles PATCH /subscriptions/:id.
func (a *API) ChangeFrequency(c *gin.Context) {
	id, ok := subscriptionID(c)
	if !ok {
		return
	}
	var body struct {
		Frequency *string `json:"frequency"`
	}
	if !jsonapi.Decode(c, &body) {
		return
	}
	if !jsonapi.Require(c, map[string]bool{"frequency": body.Frequency != nil}) {
		return
	}
	problems := jsonapi.Details{}
	f := frequency(body.Frequency, "", problems)
	if len(problems) > 0 {
		jsonapi.Abort(c, http.StatusUnprocessableEntity, "Frequency is not valid", problems)
		return
	}
	sub, err := a.store.ChangeFrequency(c.Request.Context(), id, f)
	if err != nil {
		apiErrors.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"subscription": sub})
}

// Unsubscribe handles POST /unsubscribe/:id.
func (a *API) Unsubscribe(c *gin.Context) {
	id, ok := subscriptionID(c)
	if !ok {
		return
	}
	if err := a.store.Unsubscribe(c.Request.Context(), id); err != nil {
		apiErrors.Fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// parseID accepts a positive integer id given as a JSON number or as a
// string of digits, as the API has always taken both, written canonically.
func parseID(raw json.RawMessage) (int64, bool) {
	return canonicalID(strings.Trim(string(raw), `"`))
}
