package frontend_test

import (
	"email-alert/internal/testkit/testrig"
	"regexp"
	"testing"
)

// TestPagesDescribed checks that the public pages carry a meta description,
// which search results and link previews show.
func TestPagesDescribed(t *testing.T) {
	s := testrig.NewSite(t)
	var list struct {
		SubscriberList struct{ Slug string } `json:"subscriber_list"`
	}
	s.API.MustDo(t, "POST", "/subscriber-lists", `{"title":"Tax news"}`, &list)
	description := regexp.MustCompile(`<meta name="description" content="([^"]{50,160})">`)
	for _, path := range []string{
		"/email/manage/authenticate",
		"/email/subscriptions/new?topic_id=" + list.SubscriberList.Slug,
		"/nope",
	} {
		p := s.Get(path)
		if !description.MatchString(p.Body) {
			t.Errorf("GET %s (%d): no meta description of 50 to 160 characters", path, p.Status)
		}
	}
}
