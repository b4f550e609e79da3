package frontend

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"email-alert/linking"
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
			"Error": addressProblem(raw), "ErrorField": "address",
		})
		return
	}
	if !p.allow(c, address) {
		return
	}
	if err := p.linking.RequestConfirmation(c.Request.Context(), address, list.Slug, frequency); err != nil {
		p.fail(c, err)
		return
	}
	p.render(c, http.StatusOK, "check_email_confirm", map[string]any{
		"Address":     address,
		"Instruction": "Click the link in it to confirm that you want to get emails about " + list.Title + ".",
		"Expiry":      "7 days",
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
	confirmed, err := p.linking.RedeemConfirmation(c.Request.Context(), c.Query("token"), topicID, c.Query("frequency"))
	switch {
	case errors.Is(err, linking.ErrTokenInvalid), errors.Is(err, subscribers.ErrListNotFound):
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
			"Heading": "You’re already subscribed to " + title,
			"Message": "You’ve used this link before, so it has not signed you in again. Sign in to change or cancel your subscriptions.",
			"Links":   []link{{"/email/manage/authenticate", "Sign in to manage your subscriptions"}},
		})
		return
	}
	p.render(c, http.StatusGone, "message", map[string]any{
		"Heading": "This link has already been used",
		"Message": "You’re not subscribed to " + title + " now. A confirmation link subscribes you only once.",
		"Links": []link{
			{"/email/subscriptions/new?" + url.Values{"topic_id": {sub.List.Slug}}.Encode(), "Subscribe to " + title + " again"},
			{"/email/manage/authenticate", "Sign in to manage your subscriptions"},
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
	p.render(c, http.StatusOK, "frequency", frequencyPage(list.Title, "", "", "/email/subscriptions/new",
		map[string]string{"topic_id": list.Slug}, "Continue", "https://www.gov.uk"+deref(list.URL)))
}

// ChooseFrequency handles POST /email/subscriptions/new: someone signed in
// with a linked One Login account subscribes at once; anyone else goes on
// to give their address and confirm it.
func (p *Pages) ChooseFrequency(c *gin.Context) {
	list, ok := p.list(c, c.PostForm("topic_id"))
	if !ok {
		return
	}
	f, ok := subscribers.ParseFrequency(c.PostForm("frequency"))
	if !ok {
		p.render(c, http.StatusUnprocessableEntity, "frequency", frequencyPage(list.Title, "", "Select how often you want to get emails",
			"/email/subscriptions/new", map[string]string{"topic_id": list.Slug}, "Continue", "https://www.gov.uk"+deref(list.URL)))
		return
	}
	s, signedIn, err := p.session(c)
	if err != nil {
		p.fail(c, err)
		return
	}
	if !signedIn || s.Method != linking.MethodAccount || !s.HasSubscriber() || s.Subscriber.Address == nil {
		c.Redirect(http.StatusSeeOther, "/email/subscriptions/verify?"+url.Values{
			"topic_id": {list.Slug}, "frequency": {string(f)}}.Encode())
		return
	}
	_, created, err := p.subs.Subscribe(c.Request.Context(), subscribers.SubscribeRequest{
		Address: *s.Subscriber.Address, ListID: list.ID, Frequency: f, Cause: s.Cause(),
	})
	if err != nil {
		p.fail(c, err)
		return
	}
	notice := noticeSubscribed
	if !created {
		notice = noticeAlready
	}
	c.Redirect(http.StatusSeeOther, manageWithNotice(notice, list.Slug))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// topic looks up the list and frequency a subscription journey is about,
// answering 404 for an unknown list or frequency.
func (p *Pages) topic(c *gin.Context, topicID, frequency string) (subscribers.List, subscribers.Frequency, bool) {
	f, ok := subscribers.ParseFrequency(frequency)
	if !ok {
		p.NotFound(c)
		return subscribers.List{}, "", false
	}
	list, ok := p.list(c, topicID)
	return list, f, ok
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
