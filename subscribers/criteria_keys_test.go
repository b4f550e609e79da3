package subscribers_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"email-alert/subscribers"
)

// TestMatchKeysAreTheNarrowestCriterion: a list is indexed under the
// content id and one criterion, the narrowest, so that a change is only a
// candidate of the lists it can match through that criterion.
func TestMatchKeysAreTheNarrowestCriterion(t *testing.T) {
	page := uuid.MustParse("5f0b3e6a-1c1d-4c4e-9a57-3b8f0f1b2c3d")
	anyOf := func(vs ...string) subscribers.Rule {
		return subscribers.Rule{Operator: subscribers.OperatorAny, Values: vs}
	}
	allOf := func(vs ...string) subscribers.Rule {
		return subscribers.Rule{Operator: subscribers.OperatorAll, Values: vs}
	}
	for _, tc := range []struct {
		name string
		c    subscribers.Criteria
		want []string
	}{
		{"a page", subscribers.Criteria{ContentID: &page}, []string{"content_id/" + page.String()}},
		{"an organisation's news: the organisation, not the supertype",
			subscribers.Criteria{Links: subscribers.Rules{"organisations": anyOf("hmrc")}, EmailDocumentSupertype: "news_and_communications"},
			[]string{"links/organisations/hmrc"}},
		{"an all rule: one of its values is enough",
			subscribers.Criteria{Links: subscribers.Rules{"taxon_tree": allOf("t1", "t2"), "organisations": anyOf("dfe", "hmrc")}},
			[]string{"links/taxon_tree/t1"}},
		{"the any rule of fewest values",
			subscribers.Criteria{Links: subscribers.Rules{"taxon_tree": anyOf("a", "b", "c"), "people": anyOf("p", "q")}},
			[]string{"links/people/p", "links/people/q"}},
		{"a tie goes to tags",
			subscribers.Criteria{Tags: subscribers.Rules{"topics": anyOf("x")}, Links: subscribers.Rules{"organisations": anyOf("hmrc")}},
			[]string{"tags/topics/x"}},
		{"document types: the document type first",
			subscribers.Criteria{DocumentType: "guide", EmailDocumentSupertype: "publications", GovernmentDocumentSupertype: "statistics"},
			[]string{"document_type/guide"}},
		{"a page and criteria: either",
			subscribers.Criteria{ContentID: &page, Links: subscribers.Rules{"organisations": anyOf("hmrc")}},
			[]string{"content_id/" + page.String(), "links/organisations/hmrc"}},
		{"no criteria", subscribers.Criteria{}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.c.MatchKeys()); diff != "" {
				t.Errorf("MatchKeys (-want +got):\n%s", diff)
			}
		})
	}
}
