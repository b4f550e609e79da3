package frontend

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"email-alert/linking/magiclink"
	"email-alert/linking/session"
	"email-alert/subscribers"
)

// Notices shown on /email/manage after a change. Only these keys are
// accepted, so the banner never repeats arbitrary input.
const (
	noticeSubscribed      = "subscribed"
	noticeAlready         = "already"
	noticeFrequency       = "frequency"
	noticeUnsubscribed    = "unsubscribed"
	noticeUnsubscribedAll = "unsubscribed-all"
	noticeAddress         = "address"
)

func manageWithNotice(notice, slug string) string {
	q := url.Values{"notice": {notice}}
	if slug != "" {
		q.Set("list", slug)
	}
	return "/email/manage?" + q.Encode()
}

// requireSession returns the signed-in person with a subscriber, sending
// anyone else to sign in (or, for an account whose email is not verified,
// explaining why there is nothing to manage).
func (p *Pages) requireSession(c *gin.Context) (session.Session, bool) {
	personal(c)
	s, ok, err := p.session(c)
	if err != nil {
		p.fail(c, err)
		return session.Session{}, false
	}
	if !ok {
		signInFirst(c)
		return session.Session{}, false
	}
	if !s.HasSubscriber() || s.Subscriber.Address == nil {
		p.render(c, http.StatusForbidden, "unverified", map[string]any{
			"Message": "Confirm your email address in your GOV.UK One Login, then sign in again to manage your subscriptions.",
		})
		return session.Session{}, false
	}
	return s, true
}

// Manage handles GET /email/manage: the signed-in subscriber's active
// subscriptions. Without a session it sends the person to sign in.
func (p *Pages) Manage(c *gin.Context) {
	s, ok := p.requireSession(c)
	if !ok {
		return
	}
	_, subs, err := p.subs.ActiveSubscriptions(c.Request.Context(), s.Subscriber.ID, "title")
	if err != nil {
		p.fail(c, err)
		return
	}
	p.render(c, http.StatusOK, "manage", map[string]any{
		"Address": *s.Subscriber.Address, "Subscriptions": subs,
		"Notice": p.notice(c), "Account": s.Method == session.MethodAccount,
	})
}

// notice returns the banner text for ?notice=&list=, or "".
func (p *Pages) notice(c *gin.Context) string {
	title := "this topic"
	if slug := c.Query("list"); slug != "" {
		if list, err := p.subs.ListBySlug(c.Request.Context(), slug); err == nil {
			title = list.Title
		}
	}
	switch c.Query("notice") {
	case noticeSubscribed:
		return "You’ve subscribed to " + title
	case noticeAlready:
		return "You’re already subscribed to " + title
	case noticeFrequency:
		return "You’ve changed how often you get emails about " + title
	case noticeUnsubscribed:
		return "You’ve unsubscribed from " + title
	case noticeUnsubscribedAll:
		return "You’ve unsubscribed from all GOV.UK emails"
	case noticeAddress:
		return "Your email address has been changed"
	}
	return ""
}

// ownSubscription returns the active subscription :id of the signed-in
// subscriber; any other is answered 404, like an unknown one.
func (p *Pages) ownSubscription(c *gin.Context, s session.Session) (subscribers.Subscription, bool) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		p.NotFound(c)
		return subscribers.Subscription{}, false
	}
	sub, err := p.subs.Subscription(c.Request.Context(), id)
	if errors.Is(err, subscribers.ErrNotFound) || (err == nil && (sub.Subscriber.ID != s.Subscriber.ID || !sub.Active())) {
		p.NotFound(c)
		return subscribers.Subscription{}, false
	}
	if err != nil {
		p.fail(c, err)
		return subscribers.Subscription{}, false
	}
	return sub, true
}

// frequencyOption is one radio of the frequency question.
type frequencyOption struct{ Value, Label string }

var frequencyOptions = []frequencyOption{
	{string(subscribers.Immediately), "Every time there’s an update"},
	{string(subscribers.Daily), "Once a day"},
	{string(subscribers.Weekly), "Once a week"},
}

// frequencyLabel is how the frequency question names f.
func frequencyLabel(f subscribers.Frequency) string {
	for _, o := range frequencyOptions {
		if o.Value == string(f) {
			return o.Label
		}
	}
	return string(f)
}

func frequencyPage(title, selected, errorMessage, action string, hidden map[string]string, button, back string) map[string]any {
	return map[string]any{
		"Title": title, "Selected": selected, "Frequencies": frequencyOptions, "Error": errorMessage,
		"ErrorField": "frequency", "Action": action, "Hidden": hidden, "Button": button, "Back": back,
	}
}

// FrequencyForm handles GET /email/manage/frequency/:id.
func (p *Pages) FrequencyForm(c *gin.Context) {
	s, ok := p.requireSession(c)
	if !ok {
		return
	}
	sub, ok := p.ownSubscription(c, s)
	if !ok {
		return
	}
	p.render(c, http.StatusOK, "frequency", frequencyPage(sub.List.Title, string(sub.Frequency), "",
		"/email/manage/frequency/"+sub.ID.String(), nil, "Save", "/email/manage"))
}

// ChangeFrequency handles POST /email/manage/frequency/:id.
func (p *Pages) ChangeFrequency(c *gin.Context) {
	s, ok := p.requireSession(c)
	if !ok {
		return
	}
	sub, ok := p.ownSubscription(c, s)
	if !ok {
		return
	}
	f, valid := subscribers.ParseFrequency(c.PostForm("frequency"))
	if !valid {
		p.render(c, http.StatusUnprocessableEntity, "frequency", frequencyPage(sub.List.Title, "",
			"Select how often you want to get emails", "/email/manage/frequency/"+sub.ID.String(), nil, "Save", "/email/manage"))
		return
	}
	if _, err := p.subs.ChangeFrequency(c.Request.Context(), sub.ID, f); err != nil {
		p.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, manageWithNotice(noticeFrequency, sub.List.Slug))
}

// UnsubscribeForm handles GET /email/unsubscribe/:id: a confirmation,
// for the signed-in subscriber or for the holder of the emailed link.
func (p *Pages) UnsubscribeForm(c *gin.Context) {
	if token := c.Query("token"); token != "" {
		c.Header("Referrer-Policy", "no-referrer")
		personal(c)
		if !p.allowRedeem(c) {
			return
		}
		sub, err := p.magic.CheckUnsubscribeToken(c.Request.Context(), token)
		if err != nil {
			p.linkProblem(c, err)
			return
		}
		if !sub.Active() {
			p.notSubscribed(c, sub.List.List)
			return
		}
		p.render(c, http.StatusOK, "confirm_action", unsubscribePage(sub, map[string]string{"token": token}, ""))
		return
	}
	s, ok := p.requireSession(c)
	if !ok {
		return
	}
	sub, ok := p.ownSubscription(c, s)
	if !ok {
		return
	}
	p.render(c, http.StatusOK, "confirm_action", unsubscribePage(sub, nil, "/email/manage"))
}

func unsubscribePage(sub subscribers.Subscription, hidden map[string]string, back string) map[string]any {
	return map[string]any{
		"Heading": "Are you sure you want to unsubscribe from " + sub.List.Title + "?",
		"Message": "You’ll stop getting emails about " + sub.List.Title + ".",
		"Action":  "/email/unsubscribe/" + sub.ID.String(), "Hidden": hidden, "Button": "Unsubscribe", "Back": back,
	}
}

// link is a link on a message page.
type link struct{ Href, Text string }

// manageLink is where someone without a session goes to manage their
// subscriptions.
var manageLink = link{"/email/manage/authenticate", "Manage your GOV.UK email subscriptions"}

// notSubscribed answers an emailed unsubscribe link when nothing is active
// for its list (unsubscribed already, by this link or another way): it
// says so, and never that an unsubscription happened.
func (p *Pages) notSubscribed(c *gin.Context, list subscribers.List) {
	p.render(c, http.StatusOK, "message", map[string]any{
		"Heading": "You’re not subscribed to " + list.Title,
		"Message": "You’re not getting emails about " + list.Title + ", so there is nothing to unsubscribe from.",
		"Links":   []link{manageLink},
	})
}

// Unsubscribe handles POST /email/unsubscribe/:id.
func (p *Pages) Unsubscribe(c *gin.Context) {
	if token := c.PostForm("token"); token != "" {
		personal(c)
		if !p.allowRedeem(c) {
			return
		}
		sub, ended, err := p.magic.UnsubscribeByToken(c.Request.Context(), token)
		if err != nil {
			p.linkProblem(c, err)
			return
		}
		if !ended {
			p.notSubscribed(c, sub.List.List)
			return
		}
		p.unsubscribed(c, sub)
		return
	}
	s, ok := p.requireSession(c)
	if !ok {
		return
	}
	sub, ok := p.ownSubscription(c, s)
	if !ok {
		return
	}
	if err := p.subs.Unsubscribe(c.Request.Context(), sub.ID); err != nil && !errors.Is(err, subscribers.ErrNotFound) {
		p.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, manageWithNotice(noticeUnsubscribed, sub.List.Slug))
}

// unsubscribed is the page after an emailed link has ended sub.
func (p *Pages) unsubscribed(c *gin.Context, sub subscribers.Subscription) {
	p.render(c, http.StatusOK, "done", map[string]any{
		"Heading": "You’ve unsubscribed", "PanelBody": "from " + sub.List.Title,
		"Message": "You’ll no longer get emails about " + sub.List.Title + ".",
		"Link":    "/email/manage/authenticate", "LinkText": "Manage your other GOV.UK email subscriptions",
	})
}

// UnsubscribeAllForm handles GET /email/manage/unsubscribe-all.
func (p *Pages) UnsubscribeAllForm(c *gin.Context) {
	if _, ok := p.requireSession(c); !ok {
		return
	}
	p.render(c, http.StatusOK, "confirm_action", map[string]any{
		"Heading": "Are you sure you want to unsubscribe from everything?",
		"Message": "You’ll stop getting all GOV.UK emails you’ve subscribed to.",
		"Action":  "/email/manage/unsubscribe-all", "Button": "Unsubscribe from everything", "Back": "/email/manage",
	})
}

// UnsubscribeAll handles POST /email/manage/unsubscribe-all.
func (p *Pages) UnsubscribeAll(c *gin.Context) {
	s, ok := p.requireSession(c)
	if !ok {
		return
	}
	if _, err := p.subs.UnsubscribeAll(c.Request.Context(), s.Subscriber.ID, subscribers.EndedUnsubscribed, s.Cause()); err != nil {
		p.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, manageWithNotice(noticeUnsubscribedAll, ""))
}

// addressManagedByAccount says why an address change onto an address held
// by a linked subscriber is refused: that person manages it in One Login.
const addressManagedByAccount = "That email address is managed through GOV.UK One Login"

// addressSession is requireSession for the address pages, which are for
// magic-link sessions only: account users change their email in One Login.
func (p *Pages) addressSession(c *gin.Context) (session.Session, bool) {
	s, ok := p.requireSession(c)
	if ok && s.Method != session.MethodMagicLink {
		p.NotFound(c)
		return session.Session{}, false
	}
	return s, ok
}

// AddressForm handles GET /email/manage/address.
func (p *Pages) AddressForm(c *gin.Context) {
	s, ok := p.addressSession(c)
	if !ok {
		return
	}
	p.render(c, http.StatusOK, "address", map[string]any{"Current": *s.Subscriber.Address})
}

// RequestAddressChange handles POST /email/manage/address: a link goes to
// the new address, and the change waits for it.
func (p *Pages) RequestAddressChange(c *gin.Context) {
	s, ok := p.addressSession(c)
	if !ok {
		return
	}
	raw := c.PostForm("address")
	address, valid := subscribers.NormalizeAddress(raw)
	if !valid {
		p.render(c, http.StatusUnprocessableEntity, "address", map[string]any{
			"Current": *s.Subscriber.Address, "Address": raw, "Error": addressProblem(raw), "ErrorField": "address",
		})
		return
	}
	if !p.allow(c, address) {
		return
	}
	err := p.magic.RequestAddressChange(c.Request.Context(), s.Subscriber, address)
	if errors.Is(err, subscribers.ErrAddressLinked) {
		p.render(c, http.StatusUnprocessableEntity, "address", map[string]any{
			"Current": *s.Subscriber.Address, "Address": raw, "Error": addressManagedByAccount + ". Enter a different email address.", "ErrorField": "address",
		})
		return
	}
	if err != nil {
		p.fail(c, err)
		return
	}
	p.render(c, http.StatusOK, "check_email_confirm", map[string]any{
		"Address":     address,
		"Instruction": "Click the link in it to start getting your GOV.UK emails there.",
		"Expiry":      magiclink.ChangeAddressTTL,
	})
}

// ConfirmAddressChange handles GET /email/manage/address/confirm?token=.
func (p *Pages) ConfirmAddressChange(c *gin.Context) {
	c.Header("Referrer-Policy", "no-referrer")
	personal(c)
	if !p.allowRedeem(c) {
		return
	}
	subscriber, err := p.magic.ConfirmAddressChange(c.Request.Context(), c.Query("token"))
	if errors.Is(err, subscribers.ErrAddressLinked) {
		p.render(c, http.StatusUnprocessableEntity, "error", map[string]any{
			"Heading": "Your email address has not been changed", "Message": addressManagedByAccount + ", so your emails cannot move to it.",
		})
		return
	}
	if err != nil {
		p.linkProblem(c, err)
		return
	}
	// Signed in as that subscriber: back to the manage page. Otherwise, or
	// when the session cannot be read, the change is done all the same.
	if s, ok, _ := p.session(c); ok && s.Subscriber.ID == subscriber.ID {
		c.Redirect(http.StatusSeeOther, manageWithNotice(noticeAddress, ""))
		return
	}
	p.render(c, http.StatusOK, "done", map[string]any{
		"Heading": "Your email address has been changed", "PanelBody": "to " + *subscriber.Address,
		"Message": "Your GOV.UK emails will go to your new address.",
		"Link":    "/email/manage/authenticate", "LinkText": "Manage your subscriptions",
	})
}

// linkProblem answers a bad, used or expired link with the expired page.
func (p *Pages) linkProblem(c *gin.Context, err error) {
	if errors.Is(err, magiclink.ErrTokenInvalid) || errors.Is(err, subscribers.ErrNotFound) {
		p.render(c, http.StatusGone, "expired", map[string]any{"Again": "/email/manage/authenticate"})
		return
	}
	p.fail(c, err)
}

// oneClickBody is the form field and value of a one-click unsubscribe's
// body (RFC 8058, section 3.1): List-Unsubscribe=One-Click.
const oneClickField, oneClickValue = "List-Unsubscribe", "One-Click"

// OneClickUnsubscribe handles POST /email/unsubscribe/one-click/:id?token=,
// the List-Unsubscribe URL of every email about a list (RFC 8058): the
// person's mail client posts it from elsewhere when they press its
// unsubscribe button, so the token in the URL alone authenticates it (the
// cross-site check exempts this route). It ends the subscription to the
// token's list that is active now and answers 200 with a short page,
// never a redirect (mail clients do not follow one); a second post ends
// nothing and says so, with 200 again. A body other than
// List-Unsubscribe=One-Click is a 400 and changes nothing: what posts
// anything else is not a mail client unsubscribing. A bad, expired or
// tampered URL is a 410, as every emailed link's.
func (p *Pages) OneClickUnsubscribe(c *gin.Context) {
	c.Header("Referrer-Policy", "no-referrer")
	personal(c)
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		p.NotFound(c)
		return
	}
	if c.PostForm(oneClickField) != oneClickValue {
		p.badRequest(c, http.StatusBadRequest)
		return
	}
	if !p.allowRedeem(c) {
		return
	}
	sub, ended, err := p.magic.OneClickUnsubscribe(c.Request.Context(), id, c.Query("token"))
	if err != nil {
		p.linkProblem(c, err)
		return
	}
	if !ended {
		p.notSubscribed(c, sub.List.List)
		return
	}
	p.unsubscribed(c, sub)
}
