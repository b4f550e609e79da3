package subscribers

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"email-alert/internal/lib/locale"
	"email-alert/jsonapi"
)

// API serves the subscriber, list and subscription endpoints of the JSON
// API (the email-alert-api contract).
type API struct {
	store *Store
}

// NewAPI returns the handlers over store.
func NewAPI(store *Store) *API {
	return &API{store: store}
}

// apiErrors gives each domain error of the store its status and error
// body; anything else is logged and hidden (jsonapi.Fail).
var apiErrors = jsonapi.Errors{
	{Err: ErrNotFound, Status: http.StatusNotFound, Message: "Not found"},
	{Err: ErrListNotFound, Status: http.StatusNotFound, Message: "Subscriber list not found"},
	{Err: ErrAddressTaken, Status: http.StatusUnprocessableEntity, Message: "Address is already used by another subscriber",
		Details: jsonapi.Details{"new_address": {"is already used by another subscriber"}}},
	jsonapi.ErrorAs(http.StatusUnprocessableEntity, "Subscriber list is not valid", func(e *SlugTakenError) jsonapi.Details {
		return jsonapi.Details{"slug": {
			fmt.Sprintf("%q is already the slug of a list with another title: send slug to choose one", e.Slug)}}
	}),
	{Err: ErrAddressLinked, Status: http.StatusUnprocessableEntity, Message: "Address is managed through GOV.UK One Login",
		Details: jsonapi.Details{"new_address": {"belongs to a subscriber linked to a GOV.UK One Login account"}}},
	{Err: ErrInvalidOrder, Status: http.StatusUnprocessableEntity, Message: "Order parameter not valid"},
}

// subscriberID parses the :id of a subscriber path; a malformed id is
// answered as an unknown one.
func subscriberID(c *gin.Context) (int64, bool) {
	id, ok := canonicalID(c.Param("id"))
	if !ok {
		jsonapi.Abort(c, http.StatusNotFound, "Not found", nil)
	}
	return id, ok
}

// canonicalID parses a positive id written as the API writes it: decimal
// digits without a sign or leading zeros. Other spellings ("+1", "01") are
// no id, so one resource has one name (in logs, caches, the audit).
func canonicalID(text string) (int64, bool) {
	id, err := strconv.ParseInt(text, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != text {
		return 0, false
	}
	return id, true
}

// apiCause is the cause of a change asked for through the API: the client
// whose bearer token jsonapi.BearerAuth admitted.
func apiCause(c *gin.Context) Cause { return APICause(jsonapi.Client(c)) }

// subscriptionID parses the :id of a subscription path: a UUID in its
// hyphenated form (in either case), not the braced, URN or bare-hex
// spellings uuid.Parse also takes.
func subscriptionID(c *gin.Context) (uuid.UUID, bool) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil || !strings.EqualFold(id.String(), c.Param("id")) {
		jsonapi.Abort(c, http.StatusNotFound, "Not found", nil)
		return uuid.UUID{}, false
	}
	return id, true
}

// InvalidLocale is the problem of a locale field that is not one of the
// languages, as the APIs write it after the field name.
const InvalidLocale = "must be one of en or cy"

// CheckLocale validates an optional locale field (the language of the
// subscriber's emails), adding to problems; absent is "".
func CheckLocale(value *string, problems jsonapi.Details) string {
	if value == nil {
		return ""
	}
	if !locale.Valid(*value) {
		problems["locale"] = append(problems["locale"], InvalidLocale)
		return ""
	}
	return *value
}

// frequency validates an optional frequency field, adding to problems.
func frequency(value *string, fallback Frequency, problems jsonapi.Details) Frequency {
	if value == nil {
		return fallback
	}
	f, ok := ParseFrequency(*value)
	if !ok {
		problems["frequency"] = append(problems["frequency"], InvalidFrequency)
	}
	return f
}
