package linking

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"email-alert/internal/outage"
	"email-alert/internal/textcheck"
	"email-alert/jsonapi"
	"email-alert/subscribers"
)

// Limiter throttles requests per key (an address, a client).
type Limiter interface {
	Allow(ctx context.Context, key string) (allowed bool, retryAfter time.Duration, err error)
}

// API serves the auth-token endpoints of the JSON API.
type API struct {
	service    *Service
	perAddress Limiter
}

// NewAPI returns the handlers; perAddress throttles emails to one address.
func NewAPI(service *Service, perAddress Limiter) *API {
	return &API{service: service, perAddress: perAddress}
}

// CreateSignInToken handles POST /subscribers/auth-token.
func (a *API) CreateSignInToken(c *gin.Context) {
	var body struct {
		Address     *string `json:"address"`
		Destination *string `json:"destination"`
	}
	if !jsonapi.Decode(c, &body) {
		return
	}
	problems := jsonapi.Details{}
	address := checkAddress(body.Address, "address", problems)
	switch {
	case body.Destination == nil || *body.Destination == "":
		problems["destination"] = append(problems["destination"], "is required")
	case CheckDestination(*body.Destination) != nil:
		problems["destination"] = append(problems["destination"], textcheck.ErrNotRootPath.Error())
	}
	if len(problems) > 0 {
		jsonapi.Abort(c, http.StatusUnprocessableEntity, "Request is not valid", problems)
		return
	}
	if !a.allow(c, address) {
		return
	}
	subscriber, err := a.service.RequestSignIn(c.Request.Context(), address, *body.Destination)
	switch {
	case errors.Is(err, subscribers.ErrNotFound):
		jsonapi.Abort(c, http.StatusNotFound, "Subscriber not found", nil)
	case errors.Is(err, ErrLinked):
		jsonapi.Abort(c, http.StatusForbidden, "Subscriber is linked to a GOV.UK One Login account", nil)
	case err != nil:
		internalError(c, err)
	default:
		c.JSON(http.StatusCreated, gin.H{"subscriber": subscriber})
	}
}

// CreateConfirmationToken handles POST /subscriptions/auth-token.
func (a *API) CreateConfirmationToken(c *gin.Context) {
	var body struct {
		Address   *string `json:"address"`
		TopicID   *string `json:"topic_id"`
		Frequency *string `json:"frequency"`
	}
	if !jsonapi.Decode(c, &body) {
		return
	}
	problems := jsonapi.Details{}
	address := checkAddress(body.Address, "address", problems)
	if body.TopicID == nil || *body.TopicID == "" {
		problems["topic_id"] = append(problems["topic_id"], "is required")
	}
	var frequency subscribers.Frequency
	if body.Frequency == nil {
		problems["frequency"] = append(problems["frequency"], "is required")
	} else if f, ok := subscribers.ParseFrequency(*body.Frequency); !ok {
		problems["frequency"] = append(problems["frequency"], subscribers.InvalidFrequency)
	} else {
		frequency = f
	}
	if len(problems) > 0 {
		jsonapi.Abort(c, http.StatusUnprocessableEntity, "Request is not valid", problems)
		return
	}
	if !a.allow(c, address) {
		return
	}
	err := a.service.RequestConfirmation(c.Request.Context(), address, *body.TopicID, frequency)
	switch {
	case errors.Is(err, subscribers.ErrListNotFound):
		jsonapi.Abort(c, http.StatusNotFound, "Subscriber list not found", nil)
	case err != nil:
		internalError(c, err)
	default:
		c.JSON(http.StatusOK, gin.H{})
	}
}

// allow applies the per-address limit, answering 429 when it is reached,
// naming that limit (the API has no per-client one: its callers are
// GOV.UK's apps, each one client for everyone).
// A limiter that cannot be asked (Redis down or slow) fails closed with
// 503: the limit is what stops brute force and email flooding, so it must
// hold while Redis is away.
func (a *API) allow(c *gin.Context, address string) bool {
	ok, retryAfter, err := a.perAddress.Allow(c.Request.Context(), strings.ToLower(address))
	if err != nil {
		slog.WarnContext(c.Request.Context(), "rate limiter unavailable: refusing the request", "error", err)
		c.Header("Retry-After", outage.RetryAfter)
		jsonapi.Abort(c, http.StatusServiceUnavailable, "Service unavailable; try again later", nil)
		return false
	}
	if !ok {
		seconds := int(math.Ceil(retryAfter.Seconds()))
		c.Header("Retry-After", strconv.Itoa(seconds))
		jsonapi.Abort(c, http.StatusTooManyRequests, "Too many emails asked for this address; try again later",
			jsonapi.Details{"address": {fmt.Sprintf("has reached the per-address limit (RATE_LIMIT_PER_ADDRESS); try again in %d seconds", seconds)}})
	}
	return ok
}

func checkAddress(raw *string, field string, problems jsonapi.Details) string {
	if raw == nil || *raw == "" {
		problems[field] = append(problems[field], "is required")
		return ""
	}
	address, ok := subscribers.NormalizeAddress(*raw)
	if !ok {
		problems[field] = append(problems[field], subscribers.InvalidAddress)
	}
	return address
}

// apiCause is the cause of a change asked for through the API: the client
// whose bearer token jsonapi.BearerAuth admitted. (The account session in
// the body says whose account it is, not who asked.)
func apiCause(c *gin.Context) subscribers.Cause { return subscribers.APICause(jsonapi.Client(c)) }

func internalError(c *gin.Context, err error) {
	jsonapi.Fail(c, err)
}

// accountSession reads the govuk_account_session of the request body and
// returns its account, answering 401 for a missing, unknown, expired or
// ended session (and for a magic-link one) and 403 for an account whose
// email is not verified.
func (a *API) accountSession(c *gin.Context) (Account, bool) {
	var body struct {
		Session *string `json:"govuk_account_session"`
	}
	if !jsonapi.Decode(c, &body) {
		return Account{}, false
	}
	if body.Session == nil || *body.Session == "" {
		jsonapi.Abort(c, http.StatusBadRequest, "Missing parameters", jsonapi.Details{"govuk_account_session": {"is required"}})
		return Account{}, false
	}
	token, _, _ := strings.Cut(*body.Session, "$$") // the header form may carry flash keys
	session, err := a.service.Session(c.Request.Context(), token)
	switch {
	case errors.Is(err, ErrNoSession) || (err == nil && session.Method != MethodAccount):
		jsonapi.Abort(c, http.StatusUnauthorized, "Account session is invalid, expired or ended", nil)
		return Account{}, false
	case err != nil:
		internalError(c, err)
		return Account{}, false
	}
	if _, err := accountAddress(session.Account); err != nil {
		jsonapi.Abort(c, http.StatusForbidden, "The account's email address is missing or not verified", nil)
		return Account{}, false
	}
	return session.Account, true
}

// FindAccountSubscriber handles POST /subscribers/govuk-account.
func (a *API) FindAccountSubscriber(c *gin.Context) {
	account, ok := a.accountSession(c)
	if !ok {
		return
	}
	subscriber, err := a.service.FindOrCreateForAccount(c.Request.Context(), account, apiCause(c))
	if err != nil {
		internalError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"subscriber": subscriber})
}

// LinkAccountSubscriber handles POST /subscribers/govuk-account/link.
func (a *API) LinkAccountSubscriber(c *gin.Context) {
	account, ok := a.accountSession(c)
	if !ok {
		return
	}
	subscriber, err := a.service.Link(c.Request.Context(), account, apiCause(c))
	if err != nil {
		internalError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"subscriber": subscriber})
}

// AccountSubscriber handles GET /subscribers/govuk-account/:govuk_account_id.
func (a *API) AccountSubscriber(c *gin.Context) {
	subscriber, err := a.service.subs.SubscriberByAccount(c.Request.Context(), c.Param("govuk_account_id"))
	switch {
	case errors.Is(err, subscribers.ErrNotFound):
		jsonapi.Abort(c, http.StatusNotFound, "Not found", nil)
	case err != nil:
		internalError(c, err)
	default:
		c.JSON(http.StatusOK, gin.H{"subscriber": subscriber})
	}
}
