package subscribers

import (
	"net/url"
	"regexp"
	"sort"

	"email-alert/jsonapi"
)

// criteriaParam is one Rails-style criteria parameter:
// tags[topics][any][]=x, links[organisations][all][]=y, tags[topics][]=z.
var criteriaParam = regexp.MustCompile(`^(tags|links)\[([^\[\]]+)\](?:\[(any|all)\])?\[\]$`)

// ParseCriteriaQuery reads criteria from a query string as email-alert-api
// takes them (GET /subscriber-lists?tags[topics][any][]=x&document_type=y),
// returning them valid and canonical, or what is wrong.
func ParseCriteriaQuery(q url.Values) (Criteria, map[string][]string) {
	c := Criteria{Tags: Rules{}, Links: Rules{}}
	problems := map[string][]string{}
	for name, values := range q {
		if m := criteriaParam.FindStringSubmatch(name); m != nil {
			rules := c.Tags
			if m[1] == "links" {
				rules = c.Links
			}
			op := m[3]
			if op == "" {
				op = OperatorAny
			}
			if prev, ok := rules[m[2]]; ok && prev.Operator != op {
				problems[m[1]] = append(problems[m[1]], m[2]+" has both any and all")
				continue
			}
			rule := rules[m[2]]
			rules[m[2]] = Rule{Operator: op, Values: append(rule.Values, values...)}
			continue
		}
		if len(values) != 1 {
			problems[name] = append(problems[name], "must be given once")
			continue
		}
		switch name {
		case "document_type":
			c.DocumentType = values[0]
		case "email_document_supertype":
			c.EmailDocumentSupertype = values[0]
		case "government_document_supertype":
			c.GovernmentDocumentSupertype = values[0]
		case "content_id":
			id, ok := ParseContentID(values[0])
			if !ok {
				problems[name] = append(problems[name], jsonapi.NotUUID)
			}
			c.ContentID = id
		default:
			problems[name] = append(problems[name], "is not a criterion")
		}
	}
	for field, p := range c.Validate() {
		problems[field] = append(problems[field], p...)
	}
	if len(problems) == 0 {
		return c, nil
	}
	for _, p := range problems {
		sort.Strings(p)
	}
	return Criteria{}, problems
}
