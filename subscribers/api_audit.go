package subscribers

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// Audit handles GET /subscribers/:id/audit: every recorded change to the
// subscriber, oldest first. As on every subscriber path, a malformed id is
// answered as an unknown subscriber (404).
func (a *API) Audit(c *gin.Context) {
	id, ok := subscriberID(c)
	if !ok {
		return
	}
	entries, err := a.store.AuditTrail(c.Request.Context(), id)
	if err != nil {
		apiErrors.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"subscriber_id": id, "audit": entries})
}
