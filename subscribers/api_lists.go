package subscribers

import (
	"encoding/json"
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
		criteriaBody
	}
	if !jsonapi.Decode(c, &body) || !jsonapi.Require(c, map[string]bool{"title": body.Title != nil}) {
		return
	}
	n := NewList{Title: deref(body.Title), Slug: deref(body.Slug), URL: deref(body.URL), Description: deref(body.Description)}
	explicitSlug := n.Slug != ""
	problems := n.Validate()
	criteria, criteriaProblems := body.criteria()
	for field, p := range criteriaProblems {
		if problems == nil {
			problems = map[string][]string{}
		}
		problems[field] = append(problems[field], p...)
	}
	if problems != nil {
		jsonapi.Abort(c, http.StatusUnprocessableEntity, "Subscriber list is not valid", problems)
		return
	}
	var (
		list ListDetails
		err  error
	)
	if criteria.Empty() {
		var l List
		if l, _, err = a.store.FindOrCreateList(c.Request.Context(), n); err == nil {
			list, err = a.store.ListDetailsBySlug(c.Request.Context(), l.Slug)
		}
	} else {
		list, _, err = a.store.FindOrCreateListWithCriteria(c.Request.Context(), n, explicitSlug, criteria)
	}
	if err != nil {
		apiErrors.Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"subscriber_list": list})
}

// List handles GET /subscriber-lists/:slug.
func (a *API) List(c *gin.Context) {
	list, err := a.store.ListDetailsBySlug(c.Request.Context(), c.Param("slug"))
	if err != nil {
		apiErrors.Fail(c, err)
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

// criteriaBody is the matching criteria of a list in a request body.
type criteriaBody struct {
	Tags                        json.RawMessage `json:"tags"`
	Links                       json.RawMessage `json:"links"`
	DocumentType                *string         `json:"document_type"`
	EmailDocumentSupertype      *string         `json:"email_document_supertype"`
	GovernmentDocumentSupertype *string         `json:"government_document_supertype"`
	ContentID                   *string         `json:"content_id"`
}
