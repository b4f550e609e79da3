package subscribers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"email-alert/jsonapi"
)

// criteria reads and validates the criteria of a request body.
func (b criteriaBody) criteria() (Criteria, map[string][]string) {
	problems := map[string][]string{}
	var c Criteria
	var p []string
	if c.Tags, p = ParseRules(b.Tags); len(p) > 0 {
		problems["tags"] = p
	}
	if c.Links, p = ParseRules(b.Links); len(p) > 0 {
		problems["links"] = p
	}
	c.DocumentType = deref(b.DocumentType)
	c.EmailDocumentSupertype = deref(b.EmailDocumentSupertype)
	c.GovernmentDocumentSupertype = deref(b.GovernmentDocumentSupertype)
	id, ok := ParseContentID(deref(b.ContentID))
	if !ok {
		problems["content_id"] = append(problems["content_id"], jsonapi.NotUUID)
	}
	c.ContentID = id
	for field, fp := range c.Validate() {
		problems[field] = append(problems[field], fp...)
	}
	if len(problems) == 0 {
		return c, nil
	}
	return Criteria{}, problems
}

// FindListByCriteria handles GET /subscriber-lists?tags[topics][any][]=…:
// the list with exactly these criteria.
func (a *API) FindListByCriteria(c *gin.Context) {
	criteria, problems := ParseCriteriaQuery(c.Request.URL.Query())
	if problems != nil {
		jsonapi.Abort(c, http.StatusUnprocessableEntity, "Criteria are not valid", problems)
		return
	}
	list, err := a.store.ListByCriteria(c.Request.Context(), criteria)
	if err != nil {
		apiErrors.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"subscriber_list": list})
}

// UpdateList handles PATCH /subscriber-lists/:slug {title?, description?}.
func (a *API) UpdateList(c *gin.Context) {
	var body struct {
		Title       *string `json:"title"`
		Description *string `json:"description"`
	}
	if !jsonapi.Decode(c, &body) {
		return
	}
	u := ListUpdate{Title: body.Title, Description: body.Description}
	if problems := u.Validate(); problems != nil {
		jsonapi.Abort(c, http.StatusUnprocessableEntity, "Subscriber list is not valid", problems)
		return
	}
	list, err := a.store.UpdateList(c.Request.Context(), c.Param("slug"), u)
	if err != nil {
		apiErrors.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"subscriber_list": list})
}
