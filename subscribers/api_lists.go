package subscribers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"email-alert/jsonapi"
)

// FindOrCreateList handles POST /subscriber-lists.
func (a *API) FindOrCreateList(c *gin.Context) {
	var body struct {
		Title       *string `json:"title"`
		Slug        *string `json:"slug"`
		URL         *string `json:"url"`
		Description *string `json:"description"`
	}
	if !jsonapi.Decode(c, &body) {
		return
	}
	n := NewList{Title: deref(body.Title), Slug: deref(body.Slug), URL: deref(body.URL), Description: deref(body.Description)}
	if problems := n.Validate(); problems != nil {
		jsonapi.Abort(c, http.StatusUnprocessableEntity, "Subscriber list is not valid", problems)
		return
	}
	list, _, err := a.store.FindOrCreateList(c.Request.Context(), n)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"subscriber_list": list})
}

// List handles GET /subscriber-lists/:slug.
func (a *API) List(c *gin.Context) {
	list, err := a.store.ListBySlug(c.Request.Context(), c.Param("slug"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"subscriber_list": list})
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
