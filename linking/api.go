package linking

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"email-alert/internal/lib/locale"
	"email-alert/internal/lib/textcheck"
	"email-alert/jsonapi"
	"email-alert/linking/magiclink"
	"email-alert/linking/onelogin"
	"email-alert/linking/session"
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
		Locale      *string `json:"locale"`
	}
	if !jsonapi.Decode(c, &body) ||
		!jsonapi.Require(c, map[string]bool{"address": body.Address != nil, "destination": body.Destination != nil}) {
		return
	}
	problems := jsonapi.Details{}
	address := checkAddress(body.Address, "address", problems)
	if magiclink.CheckDestination(*body.Destination) != nil {
		problems["destination"] = append(problems["destination"], textcheck.ErrNotRootPath.Error())
	}
	lang := subscribers.CheckLocale(body.Locale, problems)
	if len(problems) > 0 {
		jsonapi.Abort(c, http.StatusUnprocessableEntity, "Request is not valid", problems)
		return
	}
	if !a.allow(c, address) {
		return
	}
	subscriber, err := a.service.MagicLinks.RequestSignIn(c.Request.Context(), address, *body.Destination, lang)
	if err != nil {
		signInErrors.Fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"subscriber": subscriber})
}

// signInErrors answers the errors of RequestSignIn.
var signInErrors = jsonapi.Errors{
	{Err: subscribers.ErrNotFound, Status: http.StatusNotFound, Message: "Subscriber not found"},
	{Err: magiclink.ErrLinked, Status: http.StatusForbidden, Message: "Subscriber is linked to a GOV.UK One Login account"},
}

// CreateConfirmationToken handles POST /subscriptions/auth-token. It is
// the one exception to jsonapi's rule (a missing field is a 400): its
// contract answers missing and invalid fields alike with 422.
func (a *API) CreateConfirmationToken(c *gin.Context) {
	var body struct {
		Address   *string `json:"address"`
		TopicID   *string `json:"topic_id"`
		Frequency *string `json:"frequency"`
		Locale    *string `json:"locale"`
	}
	if !jsonapi.Decode(c, &body) {
		return
	}
	problems := jsonapi.Details{}
	address := checkAddress(body.Address, "address", problems)
	if body.TopicID == nil || *body.TopicID == "" {
		problems["topic_id"] = append(problems["topic_id"], jsonapi.IsRequired)
	}
	var frequency subscribers.Frequency
	if body.Frequency == nil {
		problems["frequency"] = append(problems["frequency"], jsonapi.IsRequired)
	} else if f, ok := subscribers.ParseFrequency(*body.Frequency); !ok {
		problems["frequency"] = append(problems["frequency"], subscribers.InvalidFrequency)
	} else {
		frequency = f
	}
	lang := subscribers.CheckLocale(body.Locale, problems)
	if lang == "" {
		lang = locale.English
	}
	if len(problems) > 0 {
		jsonapi.Abort(c, http.StatusUnprocessableEntity, "Request is not valid", problems)
		return
	}
	if !a.allow(c, address) {
		return
	}
	err := a.service.MagicLinks.RequestConfirmation(c.Request.Context(), address, *body.TopicID, frequency, lang)
	if err != nil {
		confirmationErrors.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{})
}

// confirmationErrors answers the errors of RequestConfirmation.
var confirmationErrors = jsonapi.Errors{
	{Err: subscribers.ErrListNotFound, Status: http.StatusNotFound, Message: "Subscriber list not found"},
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
		jsonapi.Unavailable(c, "Service unavailable; try again later")
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

// checkAddress validates an address field, adding to problems: absent or
// null is "is required" (a 422 only where the contract says so), empty or
// malformed is not a valid address.
func checkAddress(raw *string, field string, problems jsonapi.Details) string {
	if raw == nil {
		problems[field] = append(problems[field], jsonapi.IsRequired)
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

// accountSession reads the govuk_account_session of the request body and
// returns its account, answering 401 for a missing, unknown, expired or
// ended session (and for a magic-link one) and 403 for an account whose
// email is not verified.
func (a *API) accountSession(c *gin.Context) (onelogin.Account, bool) {
	var body struct {
		Session *string `json:"govuk_account_session"`
	}
	if !jsonapi.Decode(c, &body) {
		return onelogin.Account{}, false
	}
	if !jsonapi.Require(c, map[string]bool{"govuk_account_session": body.Session != nil}) {
		return onelogin.Account{}, false
	}
	token, _, _ := strings.Cut(*body.Session, "$$") // the header form may carry flash keys
	s, err := a.service.Sessions.Get(c.Request.Context(), token)
	if err == nil && s.Method != session.MethodAccount {
		err = session.ErrNoSession // a magic-link session is no account session
	}
	if err != nil {
		accountSessionErrors.Fail(c, err)
		return onelogin.Account{}, false
	}
	if _, err := accountAddress(s.Account); err != nil {
		jsonapi.Abort(c, http.StatusForbidden, "The account's email address is missing or not verified", nil)
		return onelogin.Account{}, false
	}
	return s.Account, true
}

// accountSessionErrors answers the errors of Session.
var accountSessionErrors = jsonapi.Errors{
	{Err: session.ErrNoSession, Status: http.StatusUnauthorized, Message: "Account session is invalid, expired or ended"},
}

// FindAccountSubscriber handles POST /subscribers/govuk-account.
func (a *API) FindAccountSubscriber(c *gin.Context) {
	account, ok := a.accountSession(c)
	if !ok {
		return
	}
	subscriber, err := a.service.FindOrCreateForAccount(c.Request.Context(), account, apiCause(c))
	if err != nil {
		jsonapi.Fail(c, err)
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
		jsonapi.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"subscriber": subscriber})
}

// AccountSubscriber handles GET /subscribers/govuk-account/:govuk_account_id.
func (a *API) AccountSubscriber(c *gin.Context) {
	subscriber, err := a.service.subs.SubscriberByAccount(c.Request.Context(), c.Param("govuk_account_id"))
	if err != nil {
		accountSubscriberErrors.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"subscriber": subscriber})
}

// accountSubscriberErrors answers the errors of SubscriberByAccount.
var accountSubscriberErrors = jsonapi.Errors{
	{Err: subscribers.ErrNotFound, Status: http.StatusNotFound, Message: "Not found"},
}
