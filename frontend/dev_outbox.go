package frontend

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"email-alert/mail"
)

// DevOutbox handles GET /dev/outbox: the latest emails, for trying the
// journeys on a local setup. It is routed only when Config.DevOutbox is set.
func (p *Pages) DevOutbox(c *gin.Context) {
	personal(c)
	emails, err := mail.Latest(c.Request.Context(), p.db, 50)
	if err != nil {
		p.fail(c, err)
		return
	}
	p.render(c, http.StatusOK, "dev_outbox", map[string]any{"Emails": emails})
}
