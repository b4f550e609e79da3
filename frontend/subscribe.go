package frontend

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"email-alert/linking/magiclink"
	"email-alert/linking/session"
	"email-alert/subscribers"
)

// VerifyForm handles GET /email/subscriptions/verify?topic_id=&frequency=:
// the address form of the subscription journey.
func (p *Pages) VerifyForm(c *gin.Context) {
	list, frequency, ok := p.topic(c, c.Query("topic_id"), c.Query("frequency"))
	if !ok {
		return
	}
	p.render(c, http.StatusOK, "verify", map[string]any{
		"Title": list.Title, "TopicID": list.Slug, "Frequency": string(frequency),
	})
}

// Verify handles POST /email/subscriptions/verify: it emails a link that
// confirms the subscription. Nothing is created until the link is used.
func (p *Pages) Verify(c *gin.Context) {
	list, frequency, ok := p.topic(c, c.PostForm("topic_id"), c.PostForm("frequency"))
	if !ok {
		return
	}
	raw := c.PostForm("address")
	address, valid := subscribers.NormalizeAddress(raw)
	if !valid {
		p.render(c, http.StatusUnprocessableEntity, "verify", map[string]any{
			"Title": list.Title, "TopicID": list.Slug, "Frequency": string(frequency), "Address": raw,
			"Error": p.addressProblem(c, raw), "ErrorField": "address",
		})
		return
	}
	if !p.allow(c, address) {
		return
	}
	if err := p.magic.RequestConfirmation(c.Request.Context(), address, list.Slug, frequency, p.lang(c)); err != nil {
		p.fail(c, err)
		return
	}
	p.render(c, http.StatusOK, "check_email_confirm", map[string]any{
		"Address":     address,
		"Instruction": p.t(c, "verify.instruction", "Title", list.Title),
		"Expiry":      magiclink.ConfirmTTL,
	})
}

// ConfirmSubscription handles GET /email/subscriptions/authenticate: the
// link in the confirmation email. The first click subscribes and signs the
// person in; a later one says how things stand and signs nobody in.
func (p *Pages) ConfirmSubscription(c *gin.Context) {
	c.Header("Referrer-Policy", "no-referrer")
	personal(c)
	if !p.allowRedeem(c) {
		return
	}
	topicID := c.Query("topic_id")
	confirmed, err := p.magic.RedeemConfirmation(c.Request.Context(), c.Query("token"), topicID, c.Query("frequency"), p.lang(c))
	switch {
	case errors.Is(err, magiclink.ErrTokenInvalid), errors.Is(err, subscribers.ErrListNotFound):
		again := "/email/manage/authenticate"
		p.render(c, http.StatusGone, "expired", map[string]any{"Again": again})
		return
	case err != nil:
		p.fail(c, err)
		return
	}
	if confirmed.Used {
		p.confirmationUsed(c, confirmed.Subscription)
		return
	}
	if confirmed.Session == "" {
		p.render(c, http.StatusOK, "subscribed_sign_in", map[string]any{"Title": confirmed.Subscription.List.Title})
		return
	}
	p.renewSession(c, confirmed.Session)
	notice := noticeSubscribed
	if !confirmed.Created {
		notice = noticeAlready
	}
	c.Redirect(http.StatusSeeOther, manageWithNotice(notice, confirmed.Subscription.List.Slug))
}

// confirmationUsed answers a confirmation link followed again: it signed
// in once and opens no second session, and it does not subscribe again
// someone who has since unsubscribed.
func (p *Pages) confirmationUsed(c *gin.Context, sub subscribers.Subscription) {
	title := sub.List.Title
	if sub.Active() {
		p.render(c, http.StatusOK, "message", map[string]any{
			"Heading": p.t(c, "notice.already", "Title", title),
			"Message": p.t(c, "confirm.used_active_message"),
			"Links":   []link{{"/email/manage/authenticate", p.t(c, "common.sign_in_to_manage")}},
		})
		return
	}
	p.render(c, http.StatusGone, "message", map[string]any{
		"Heading": p.t(c, "confirm.used"),
		"Message": p.t(c, "confirm.used_message", "Title", title),
		"Links": []link{
			{"/email/subscriptions/new?" + url.Values{"topic_id": {sub.List.Slug}}.Encode(), p.t(c, "confirm.subscribe_again", "Title", title)},
			{"/email/manage/authenticate", p.t(c, "common.sign_in_to_manage")},
		},
	})
}

// NewSubscription handles GET /email/subscriptions/new?topic_id=: the
// first step of subscribing, choosing how often.
func (p *Pages) NewSubscription(c *gin.Context) {
	list, ok := p.list(c, c.Query("topic_id"))
	if !ok {
		return
	}
	p.render(c, http.StatusOK, "frequency", p.frequencyPage(c, list.Title, "", "", "/email/subscriptions/new",
		map[string]string{"topic_id": list.Slug}, "common.continue", "https://www.gov.uk"+deref(list.URL)))
}

// ChooseFrequency handles POST /email/subscriptions/new: someone signed in
// with a linked One Login account subscribes at once; anyone else goes on
// to give their address and confirm it, or to sign in with One Login.
func (p *Pages) ChooseFrequency(c *gin.Context) {
	list, ok := p.list(c, c.PostForm("topic_id"))
	if !ok {
		return
	}
	f, ok := subscribers.ParseFrequency(c.PostForm("frequency"))
	if !ok {
		p.frequencyQuestion(c, list)
		return
	}
	s, signedIn, err := p.session(c)
	if err != nil {
		p.fail(c, err)
		return
	}
	if !signedIn || !linkedAccount(s) {
		c.Redirect(http.StatusSeeOther, "/email/subscriptions/verify?"+journeyQuery(list, f))
		return
	}
	p.subscribeNow(c, s, list, f)
}

// VerifyAccount handles POST /email/subscriptions/verify/account: "Sign in
// with GOV.UK One Login instead" on the address step. One Login returns the
// person to the page that confirms the subscription.
func (p *Pages) VerifyAccount(c *gin.Context) {
	list, f, ok := p.topic(c, c.PostForm("topic_id"), c.PostForm("frequency"))
	if !ok {
		return
	}
	p.startSignIn(c, accountConfirmPath(list, f), true)
}

// AccountConfirmForm handles GET /email/subscriptions/account/confirm
// ?topic_id=&frequency=, where One Login returns the person: the list and
// frequency, with a button that subscribes. Without an account session it
// sends the person to sign in with One Login, and back here.
func (p *Pages) AccountConfirmForm(c *gin.Context) {
	list, f, ok := p.topic(c, c.Query("topic_id"), c.Query("frequency"))
	if !ok {
		return
	}
	s, ok := p.accountSession(c, list, f)
	if !ok {
		return
	}
	p.render(c, http.StatusOK, "account_confirm", map[string]any{
		"Title": list.Title, "TopicID": list.Slug, "Frequency": string(f), "FrequencyLabel": p.frequencyLabel(c, f),
		"Address": *s.Subscriber.Address,
	})
}

// AccountSubscribe handles POST /email/subscriptions/account: the linked
// subscriber signed in with One Login subscribes at once. Its address is
// the account's verified email, so no confirmation email is needed.
func (p *Pages) AccountSubscribe(c *gin.Context) {
	list, f, ok := p.topic(c, c.PostForm("topic_id"), c.PostForm("frequency"))
	if !ok {
		return
	}
	s, ok := p.accountSession(c, list, f)
	if !ok {
		return
	}
	p.subscribeNow(c, s, list, f)
}

// accountSession returns the session of someone signed in with a linked One
// Login account, for the account subscription journey. Anyone else is sent
// to sign in with One Login and back to the confirmation page; an account
// whose email is not verified is told to confirm it first.
func (p *Pages) accountSession(c *gin.Context, list subscribers.List, f subscribers.Frequency) (session.Session, bool) {
	personal(c)
	s, ok, err := p.session(c)
	if err != nil {
		p.fail(c, err)
		return session.Session{}, false
	}
	if !ok || s.Method != session.MethodAccount {
		c.Redirect(http.StatusSeeOther, "/email/manage/authenticate/account?"+url.Values{
			"redirect_path": {accountConfirmPath(list, f)}}.Encode())
		return session.Session{}, false
	}
	if !linkedAccount(s) {
		p.render(c, http.StatusForbidden, "unverified", map[string]any{"Message": p.t(c, "unverified.subscribe", "Title", list.Title)})
		return session.Session{}, false
	}
	return s, true
}

// linkedAccount reports whether s is a One Login session linked to a
// subscriber, which happens only for a verified email.
func linkedAccount(s session.Session) bool {
	return s.Method == session.MethodAccount && s.HasSubscriber() && s.Subscriber.Address != nil
}

// subscribeNow subscribes the signed-in subscriber of s to list and shows
// the manage page with a banner: subscribed, already subscribed, or (when
// it had another frequency) its frequency changed.
func (p *Pages) subscribeNow(c *gin.Context, s session.Session, list subscribers.List, f subscribers.Frequency) {
	sub, created, err := p.subs.Subscribe(c.Request.Context(), subscribers.SubscribeRequest{
		Address: *s.Subscriber.Address, ListID: list.ID, Frequency: f, Locale: p.lang(c), Cause: s.Cause(),
	})
	if err != nil {
		p.fail(c, err)
		return
	}
	notice := noticeSubscribed
	switch {
	case !created:
		notice = noticeAlready
	case sub.Source == subscribers.SourceFrequencyChanged:
		notice = noticeFrequency
	}
	c.Redirect(http.StatusSeeOther, manageWithNotice(notice, list.Slug))
}

// accountConfirmPath is the page One Login returns to in the account
// subscription journey.
func accountConfirmPath(list subscribers.List, f subscribers.Frequency) string {
	return "/email/subscriptions/account/confirm?" + journeyQuery(list, f)
}

func journeyQuery(list subscribers.List, f subscribers.Frequency) string {
	return url.Values{"topic_id": {list.Slug}, "frequency": {string(f)}}.Encode()
}

// frequencyQuestion shows the first step again, asking how often: the
// answer to a frequency that is missing or not one of the choices.
func (p *Pages) frequencyQuestion(c *gin.Context, list subscribers.List) {
	p.render(c, http.StatusUnprocessableEntity, "frequency", p.frequencyPage(c, list.Title, "", "frequency.select",
		"/email/subscriptions/new", map[string]string{"topic_id": list.Slug}, "common.continue", "https://www.gov.uk"+deref(list.URL)))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// topic looks up the list and frequency a step of the subscription journey
// is about, checked again at every step: an unknown list is a 404, a
// frequency that is not one of the choices goes back to the question.
func (p *Pages) topic(c *gin.Context, topicID, frequency string) (subscribers.List, subscribers.Frequency, bool) {
	list, ok := p.list(c, topicID)
	if !ok {
		return subscribers.List{}, "", false
	}
	f, ok := subscribers.ParseFrequency(frequency)
	if !ok {
		p.frequencyQuestion(c, list)
		return subscribers.List{}, "", false
	}
	return list, f, true
}

// list looks up the list a journey is about by slug, answering 404 for an
// unknown one.
func (p *Pages) list(c *gin.Context, slug string) (subscribers.List, bool) {
	list, err := p.subs.ListBySlug(c.Request.Context(), slug)
	if errors.Is(err, subscribers.ErrListNotFound) {
		p.NotFound(c)
		return subscribers.List{}, false
	}
	if err != nil {
		p.fail(c, err)
		return subscribers.List{}, false
	}
	return list, true
}
