package subscribers

import (
	"bytes"
	"crypto/sha256"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"email-alert/internal/lib/textcheck"
)

// Operators of a tags or links rule.
const (
	OperatorAny = "any" // at least one of the values
	OperatorAll = "all" // every one of the values
)

// Rule is the criterion of one tags or links key: the content must carry
// any (or all) of Values under that key. Values are sorted and unique.
type Rule struct {
	Operator string
	Values   []string
}

// MarshalJSON writes r as {"any": [...]} or {"all": [...]}.
func (r Rule) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string][]string{r.Operator: r.Values})
}

// UnmarshalJSON reads a stored rule ({"any"|"all": [...]}).
func (r *Rule) UnmarshalJSON(b []byte) error {
	var m map[string][]string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for op, values := range m {
		r.Operator, r.Values = op, values
	}
	return nil
}

// Rules are the tags or the links criteria of a list, by key.
type Rules map[string]Rule

// Value stores rules as jsonb.
func (r Rules) Value() (driver.Value, error) {
	if r == nil {
		return "{}", nil
	}
	b, err := json.Marshal(map[string]Rule(r))
	return string(b), err // as text: lib/pq sends []byte as binary, which jsonb refuses
}

// Scan reads rules from jsonb.
func (r *Rules) Scan(src any) error {
	b, ok := src.([]byte)
	if !ok {
		return fmt.Errorf("rules: cannot scan %T", src)
	}
	*r = Rules{}
	return json.Unmarshal(b, (*map[string]Rule)(r))
}

// Criteria say which content changes a list is about (as email-alert-api):
// every key of Tags and Links must be matched by the change, and each
// non-empty document type must equal the change's; or ContentID is the
// change's. A list without criteria matches nothing.
type Criteria struct {
	Tags                        Rules  `db:"tags" json:"tags"`
	Links                       Rules  `db:"links" json:"links"`
	DocumentType                string `db:"document_type" json:"document_type"`
	EmailDocumentSupertype      string `db:"email_document_supertype" json:"email_document_supertype"`
	GovernmentDocumentSupertype string `db:"government_document_supertype" json:"government_document_supertype"`
	// ContentID is a single page's subscription; nil for none.
	ContentID *uuid.UUID `db:"content_id" json:"content_id"`
}

// Empty reports whether c has no criteria at all.
func (c Criteria) Empty() bool {
	return len(c.Tags) == 0 && len(c.Links) == 0 && c.DocumentType == "" && c.EmailDocumentSupertype == "" &&
		c.GovernmentDocumentSupertype == "" && c.ContentID == nil
}

// Digest is the SHA-256 of c's canonical form: lists with the same
// criteria, however they were spelled, have the same digest. nil when c is
// empty.
func (c Criteria) Digest() []byte {
	if c.Empty() {
		return nil
	}
	b, _ := json.Marshal(c) // maps marshal with sorted keys; values are sorted by ParseRules
	sum := sha256.Sum256(b)
	return sum[:]
}

// MatchKey names one (field, key, value) a content change carries, or a
// list wants: a list can only match a change that has at least one of the
// list's match keys.
func MatchKey(field, key, value string) string {
	if key == "" {
		return field + "/" + value
	}
	return field + "/" + key + "/" + value
}

// MatchKeys returns keys of which every matching content change has at
// least one: the content id, and the keys of one of the other criteria,
// since a change that matches a list meets every one of them. The one is
// the tags or links rule that needs the fewest keys (an all rule needs one,
// any of its values, as the change must carry them all; an any rule needs
// each of its values), ties going to tags before links and then to the key
// in byte order; without such a rule, a document type, then the
// supertypes. Indexing only it keeps the GIN index's candidates for a
// change close to the lists that match it: a list of one organisation's
// news is looked at for that organisation's changes, not for every piece
// of news. migrations/00029_narrow_match_keys.sql computes the same.
func (c Criteria) MatchKeys() []string {
	keys := []string{}
	if c.ContentID != nil {
		keys = append(keys, MatchKey("content_id", "", c.ContentID.String()))
	}
	var narrowest []string
	for _, field := range []string{"tags", "links"} {
		rules := map[string]Rules{"tags": c.Tags, "links": c.Links}[field]
		for _, key := range slices.Sorted(maps.Keys(rules)) {
			r := rules[key]
			values := r.Values
			if r.Operator == OperatorAll && len(values) > 0 {
				values = values[:1]
			}
			if len(values) > 0 && (narrowest == nil || len(values) < len(narrowest)) {
				narrowest = nil
				for _, v := range values {
					narrowest = append(narrowest, MatchKey(field, key, v))
				}
			}
		}
	}
	for _, t := range []struct{ field, value string }{
		{"document_type", c.DocumentType}, {"email_document_supertype", c.EmailDocumentSupertype},
		{"government_document_supertype", c.GovernmentDocumentSupertype},
	} {
		if narrowest == nil && t.value != "" {
			narrowest = []string{MatchKey(t.field, "", t.value)}
		}
	}
	keys = append(keys, narrowest...)
	sort.Strings(keys)
	return slices.Compact(keys)
}

// Limits on criteria, so that one list cannot make matching expensive.
const (
	maxCriteriaKeys   = 50
	maxCriteriaValues = 500
	maxCriteriaText   = 500
)

// ParseRules reads the tags or links of a request: an object from a key to
// {"any": [values]}, {"all": [values]} or a bare array (any). It returns
// the rules in canonical form, or what is wrong with them.
func ParseRules(raw json.RawMessage) (Rules, []string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return nil, []string{"must be an object from a key to {\"any\": [values]} or {\"all\": [values]}"}
	}
	rules := Rules{}
	var problems []string
	for key, v := range keys {
		rule, problem := parseRule(v)
		if problem != "" {
			problems = append(problems, fmt.Sprintf("%s %s", key, problem))
			continue
		}
		rules[key] = rule
	}
	problems = append(problems, rules.check()...)
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, problems
	}
	return rules, nil
}

func parseRule(raw json.RawMessage) (Rule, string) {
	var values []string
	if err := json.Unmarshal(raw, &values); err == nil {
		return Rule{Operator: OperatorAny, Values: values}, ""
	}
	var ops map[string][]string
	if err := json.Unmarshal(raw, &ops); err != nil || len(ops) != 1 {
		return Rule{}, `must be {"any": [strings]}, {"all": [strings]} or [strings]`
	}
	for op, values := range ops {
		if op != OperatorAny && op != OperatorAll {
			return Rule{}, `has an operator other than "any" or "all"`
		}
		return Rule{Operator: op, Values: values}, ""
	}
	return Rule{}, "" // not reached: ops has one entry
}

// check validates rules and puts them in canonical form (values sorted
// and unique), returning what is wrong.
func (r Rules) check() []string {
	var problems []string
	if len(r) > maxCriteriaKeys {
		problems = append(problems, fmt.Sprintf("has more than %d keys", maxCriteriaKeys))
	}
	total := 0
	for key, rule := range r {
		if !criteriaText(key) {
			problems = append(problems, fmt.Sprintf("key %q must be non-empty text of at most %d characters", key, maxCriteriaText))
		}
		if len(rule.Values) == 0 {
			problems = append(problems, fmt.Sprintf("%s must have at least one value", key))
		}
		for _, v := range rule.Values {
			if !criteriaText(v) {
				problems = append(problems, fmt.Sprintf("%s has a value that is not non-empty text of at most %d characters", key, maxCriteriaText))
				break
			}
		}
		total += len(rule.Values)
		values := slices.Clone(rule.Values)
		sort.Strings(values)
		r[key] = Rule{Operator: rule.Operator, Values: slices.Compact(values)}
	}
	if total > maxCriteriaValues {
		problems = append(problems, fmt.Sprintf("has more than %d values", maxCriteriaValues))
	}
	return problems
}

// Validate checks c (from a request or a query) field by field, putting
// tags and links in canonical form; nil means valid.
func (c *Criteria) Validate() map[string][]string {
	problems := map[string][]string{}
	for field, rules := range map[string]Rules{"tags": c.Tags, "links": c.Links} {
		if p := rules.check(); len(p) > 0 {
			sort.Strings(p)
			problems[field] = p
		}
	}
	for field, v := range map[string]string{
		"document_type": c.DocumentType, "email_document_supertype": c.EmailDocumentSupertype,
		"government_document_supertype": c.GovernmentDocumentSupertype,
	} {
		if v != "" && !criteriaText(v) {
			problems[field] = append(problems[field], fmt.Sprintf("must be text of at most %d characters", maxCriteriaText))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return problems
}

// ParseContentID reads a content_id criterion: "" is none.
func ParseContentID(s string) (*uuid.UUID, bool) {
	if s == "" {
		return nil, true
	}
	id, err := uuid.Parse(s)
	if err != nil || id.String() != strings.ToLower(s) {
		return nil, false
	}
	return &id, true
}

// criteriaText reports whether s may be a criteria key or value: non-empty,
// not too long, and text without control or bidi-override characters.
func criteriaText(s string) bool {
	return s != "" && utf8.RuneCountInString(s) <= maxCriteriaText && CleanText(s, false)
}

// CleanText reports whether s is text a person can be shown, by
// textcheck's rules: Text's when multiline (a description), else Line's.
func CleanText(s string, multiline bool) bool {
	if multiline {
		return textcheck.Text(s) == nil
	}
	return textcheck.Line(s) == nil
}
