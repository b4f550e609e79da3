package frontend

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

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
		message := "Enter an email address in the correct format, like name@example.com"
		if strings.TrimSpace(raw) == "" {
			message = "Enter your email address"
		}
		p.render(c, http.StatusUnprocessableEntity, "verify", map[string]any{
			"Title": list.Title, "TopicID": list.Slug, "Frequency": string(frequency), "Address": raw, "Error": message,
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
	p.render(c, http.StatusOK, "check_email_confirm", map[string]any{"Address": address, "Title": list.Title})
}

// ConfirmSubscription handles GET /email/subscriptions/authenticate: the
// link in the confirmation email. It subscribes and signs the person in.
func (p *Pages) ConfirmSubscription(c *gin.Context) {
	c.Header("Referrer-Policy", "no-referrer")
	personal(c)
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
	if confirmed.Session == "" {
		p.render(c, http.StatusOK, "subscribed_sign_in", map[string]any{"Title": confirmed.Subscription.List.Title})
		return
	}
	p.renewSession(c, confirmed.Session)
	c.Redirect(http.StatusSeeOther, "/email/manage?"+url.Values{"subscribed": {confirmed.Subscription.List.Slug}}.Encode())
}

// topic looks up the list and frequency a subscription journey is about,
// answering 404 for an unknown list or frequency.
func (p *Pages) topic(c *gin.Context, topicID, frequency string) (subscribers.List, subscribers.Frequency, bool) {
	f, ok := subscribers.ParseFrequency(frequency)
	if !ok {
		p.NotFound(c)
		return subscribers.List{}, "", false
	}
	list, err := p.subs.ListBySlug(c.Request.Context(), topicID)
	if errors.Is(err, subscribers.ErrListNotFound) {
		p.NotFound(c)
		return subscribers.List{}, "", false
	}
	if err != nil {
		p.fail(c, err)
		return subscribers.List{}, "", false
	}
	return list, f, true
}
