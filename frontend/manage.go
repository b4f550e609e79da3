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
		p.render(c, http.StatusForbidden, "unverified", map[string]any{"Message": p.t(c, "unverified.manage")})
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
	title := p.t(c, "notice.this_topic")
	if slug := c.Query("list"); slug != "" {
		if list, err := p.subs.ListBySlug(c.Request.Context(), slug); err == nil {
			title = list.Title
		}
	}
	switch c.Query("notice") {
	case noticeSubscribed:
		return p.t(c, "notice.subscribed", "Title", title)
	case noticeAlready:
		return p.t(c, "notice.already", "Title", title)
	case noticeFrequency:
		return p.t(c, "notice.frequency", "Title", title)
	case noticeUnsubscribed:
		return p.t(c, "notice.unsubscribed", "Title", title)
	case noticeUnsubscribedAll:
		return p.t(c, "notice.unsubscribed_all")
	case noticeAddress:
		return p.t(c, "address.changed")
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

// frequencies are the choices of the frequency question, in order.
var frequencies = []subscribers.Frequency{subscribers.Immediately, subscribers.Daily, subscribers.Weekly}

// frequencyLabel is how the frequency question names f.
func (p *Pages) frequencyLabel(c *gin.Context, f subscribers.Frequency) string {
	return p.locales.FrequencyLabel(p.lang(c), string(f))
}

// frequencyPage is the data of the frequency question; errorKey and
// buttonKey are message keys (errorKey "" for no error).
func (p *Pages) frequencyPage(c *gin.Context, title, selected, errorKey, action string, hidden map[string]string, buttonKey, back string) map[string]any {
	options := make([]frequencyOption, len(frequencies))
	for i, f := range frequencies {
		options[i] = frequencyOption{string(f), p.frequencyLabel(c, f)}
	}
	errorMessage := ""
	if errorKey != "" {
		errorMessage = p.t(c, errorKey)
	}
	return map[string]any{
		"Title": title, "Selected": selected, "Frequencies": options, "Error": errorMessage,
		"ErrorField": "frequency", "Action": action, "Hidden": hidden, "Button": p.t(c, buttonKey), "Back": back,
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
	p.render(c, http.StatusOK, "frequency", p.frequencyPage(c, sub.List.Title, string(sub.Frequency), "",
		"/email/manage/frequency/"+sub.ID.String(), nil, "common.save", "/email/manage"))
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
		p.render(c, http.StatusUnprocessableEntity, "frequency", p.frequencyPage(c, sub.List.Title, "",
			"frequency.select", "/email/manage/frequency/"+sub.ID.String(), nil, "common.save", "/email/manage"))
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
		p.render(c, http.StatusOK, "confirm_action", p.unsubscribePage(c, sub, map[string]string{"token": token}, ""))
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
	p.render(c, http.StatusOK, "confirm_action", p.unsubscribePage(c, sub, nil, "/email/manage"))
}

func (p *Pages) unsubscribePage(c *gin.Context, sub subscribers.Subscription, hidden map[string]string, back string) map[string]any {
	return map[string]any{
		"Heading": p.t(c, "unsubscribe.heading", "Title", sub.List.Title),
		"Message": p.t(c, "unsubscribe.message", "Title", sub.List.Title),
		"Action":  "/email/unsubscribe/" + sub.ID.String(), "Hidden": hidden, "Button": p.t(c, "common.unsubscribe"), "Back": back,
	}
}

// link is a link on a message page.
type link struct{ Href, Text string }

// manageLink is where someone without a session goes to manage their
// subscriptions.
func (p *Pages) manageLink(c *gin.Context) link {
	return link{"/email/manage/authenticate", p.t(c, "common.manage_subscriptions")}
}

// notSubscribed answers an emailed unsubscribe link when nothing is active
// for its list (unsubscribed already, by this link or another way): it
// says so, and never that an unsubscription happened.
func (p *Pages) notSubscribed(c *gin.Context, list subscribers.List) {
	p.render(c, http.StatusOK, "message", map[string]any{
		"Heading": p.t(c, "unsubscribe.not_subscribed", "Title", list.Title),
		"Message": p.t(c, "unsubscribe.not_subscribed_message", "Title", list.Title),
		"Links":   []link{p.manageLink(c)},
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
		p.unsubscribeAnswer(c, sub, ended, err)
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
		"Heading": p.t(c, "unsubscribe.done"), "PanelBody": p.t(c, "unsubscribe.done_from", "Title", sub.List.Title),
		"Message": p.t(c, "unsubscribe.done_message", "Title", sub.List.Title),
		"Link":    "/email/manage/authenticate", "LinkText": p.t(c, "unsubscribe.other_subscriptions"),
	})
}

// UnsubscribeAllForm handles GET /email/manage/unsubscribe-all.
func (p *Pages) UnsubscribeAllForm(c *gin.Context) {
	if _, ok := p.requireSession(c); !ok {
		return
	}
	p.render(c, http.StatusOK, "confirm_action", map[string]any{
		"Heading": p.t(c, "unsubscribe.all_heading"),
		"Message": p.t(c, "unsubscribe.all_message"),
		"Action":  "/email/manage/unsubscribe-all", "Button": p.t(c, "manage.unsubscribe_all"), "Back": "/email/manage",
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
			"Current": *s.Subscriber.Address, "Address": raw, "Error": p.addressProblem(c, raw), "ErrorField": "address",
		})
		return
	}
	if !p.allow(c, address) {
		return
	}
	err := p.magic.RequestAddressChange(c.Request.Context(), s.Subscriber, address, p.lang(c))
	if errors.Is(err, subscribers.ErrAddressLinked) {
		p.render(c, http.StatusUnprocessableEntity, "address", map[string]any{
			"Current": *s.Subscriber.Address, "Address": raw, "Error": p.t(c, "address.managed_error"), "ErrorField": "address",
		})
		return
	}
	if err != nil {
		p.fail(c, err)
		return
	}
	p.render(c, http.StatusOK, "check_email_confirm", map[string]any{
		"Address":     address,
		"Instruction": p.t(c, "address.instruction"),
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
			"Heading": p.t(c, "address.not_changed"), "Message": p.t(c, "address.not_changed_message"),
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
		"Heading": p.t(c, "address.changed"), "PanelBody": p.t(c, "address.changed_to", "Address", *subscriber.Address),
		"Message": p.t(c, "address.changed_message"),
		"Link":    "/email/manage/authenticate", "LinkText": p.t(c, "address.manage_link"),
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
	if !p.allowOneClick(c, id) {
		return
	}
	sub, ended, err := p.magic.OneClickUnsubscribe(c.Request.Context(), id, c.Query("token"))
	p.unsubscribeAnswer(c, sub, ended, err)
}

// allowOneClick is allowRedeem for a one-click unsubscribe of the
// subscription id, whose budget is counted per client and subscription.
// Mail providers post their users' one-click unsubscribes from a few
// servers, so one budget per client would refuse most of them after a big
// alert; per subscription, a token still cannot be guessed at speed.
func (p *Pages) allowOneClick(c *gin.Context, id uuid.UUID) bool {
	return p.within(c, limitCheck{p.perClient, "redeem:" + c.ClientIP() + ":one-click:" + id.String(), limitLinks})
}

// unsubscribeAnswer answers an unsubscribe by emailed token: the link's
// problem, "You're not subscribed" when nothing was active to end, else
// "You've unsubscribed".
func (p *Pages) unsubscribeAnswer(c *gin.Context, sub subscribers.Subscription, ended bool, err error) {
	switch {
	case err != nil:
		p.linkProblem(c, err)
	case !ended:
		p.notSubscribed(c, sub.List.List)
	default:
		p.unsubscribed(c, sub)
	}
}
