package frontend

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// DevOutbox handles GET /dev/outbox: the latest emails, for trying the
// journeys on a local setup. It is routed only when Config.DevOutbox is set.
func (p *Pages) DevOutbox(c *gin.Context) {
	personal(c)
	var emails []struct {
		ID        string    `db:"id"`
		Kind      string    `db:"kind"`
		Address   string    `db:"address"`
		Subject   string    `db:"subject"`
		Body      string    `db:"body"`
		Status    string    `db:"status"`
		CreatedAt time.Time `db:"created_at"`
	}
	err := p.db.SelectContext(c.Request.Context(), &emails, `
		SELECT id, kind, address, subject, body, status, created_at FROM emails ORDER BY created_at DESC LIMIT 50`)
	if err != nil {
		p.fail(c, err)
		return
	}
	p.render(c, http.StatusOK, "dev_outbox", map[string]any{"Emails": emails})
}
