package frontend

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"email-alert/linking"
)

// Manage handles GET /email/manage: the signed-in subscriber's active
// subscriptions. Without a session it sends the person to sign in.
func (p *Pages) Manage(c *gin.Context) {
	personal(c)
	s, ok := p.session(c)
	if !ok {
		c.Redirect(http.StatusFound, "/email/manage/authenticate")
		return
	}
	if !s.HasSubscriber() {
		// Signed in with One Login, but the account's email is not
		// verified, so nothing could be linked.
		p.render(c, http.StatusForbidden, "error", map[string]any{
			"Heading": "You need to confirm your email address",
			"Message": "Confirm your email address in your GOV.UK One Login, then sign in again to manage your subscriptions.",
		})
		return
	}
	subscriber, subs, err := p.subs.ActiveSubscriptions(c.Request.Context(), s.Subscriber.ID, "title")
	if err != nil {
		p.fail(c, err)
		return
	}
	var subscribed string
	if slug := c.Query("subscribed"); slug != "" {
		for _, sub := range subs {
			if sub.List.Slug == slug {
				subscribed = sub.List.Title
			}
		}
	}
	address := ""
	if subscriber.Address != nil {
		address = *subscriber.Address
	}
	p.render(c, http.StatusOK, "manage", map[string]any{
		"Address": address, "Subscriptions": subs, "Subscribed": subscribed,
		"Account": s.Method == linking.MethodAccount,
	})
}
