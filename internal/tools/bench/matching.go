package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"email-alert/alerts"
	"email-alert/subscribers"
)

// matchingBench answers the design question of how a content change finds
// its lists: the service's jsonb criteria with a GIN index on match_keys
// (alerts.MatchingListsSQL), or a normalised criteria table (a row per
// list and value, a B-tree on (field, key, value), and the any/all rule
// checked by counting). Both are seeded with the same lists, of
// GOV.UK-like shapes, and asked for the same content changes, alternating;
// every answer of the one must equal the other's, or the benchmark fails.
func matchingBench(ctx context.Context, lists, changes int) (string, error) {
	const name = "email_alert_bench_matching"
	step(fmt.Sprintf("matching: seeding %d lists and their normalised criteria", lists))
	db, err := freshDB(ctx, name)
	if err != nil {
		return "", err
	}
	defer db.Close()

	rng := rand.New(rand.NewPCG(1, 2))
	vocab := newVocabulary()
	pages := make([]uuid.UUID, 0, lists/3)
	// Lists are unique by criteria (find-exact on create), as the
	// service's are: draw until there are enough different ones.
	criteria := make([]subscribers.Criteria, 0, lists)
	seen := map[string]bool{}
	for tries := 0; len(criteria) < lists; tries++ {
		if tries > 50*lists {
			return "", fmt.Errorf("matching: only %d different lists in %d draws", len(criteria), tries)
		}
		c := vocab.list(rng)
		if d := string(c.Digest()); !seen[d] {
			seen[d] = true
			criteria = append(criteria, c)
			if c.ContentID != nil {
				pages = append(pages, *c.ContentID)
			}
		}
	}
	if err := seedMatching(ctx, db, criteria); err != nil {
		return "", fmt.Errorf("seed: %w", err)
	}

	type change struct {
		id   uuid.UUID
		keys []string
		k    [3][]string // field, key, value of each key, for the normalised query
	}
	cs := make([]change, changes)
	for i := range cs {
		cc := vocab.change(rng, pages)
		tags, _ := json.Marshal(cc.Tags)
		links, _ := json.Marshal(cc.Links)
		if err := db.GetContext(ctx, &cs[i].id, `
			INSERT INTO content_changes (content_id, title, base_path, change_note, public_updated_at, document_type,
				email_document_supertype, government_document_supertype, publishing_app, tags, links)
			VALUES ($1, 'Bench', '/bench/' || $2, 'Changed', now(), $3, $4, '', 'bench', $5, $6)
			RETURNING id`, cc.ContentID, i, cc.DocumentType, cc.EmailDocumentSupertype, string(tags), string(links)); err != nil {
			return "", err
		}
		cs[i].keys = cc.MatchKeys()
		for _, k := range cs[i].keys {
			f := strings.SplitN(k, "/", 3)
			if len(f) == 2 {
				f = []string{f[0], "", f[1]}
			}
			for j := range 3 {
				cs[i].k[j] = append(cs[i].k[j], f[j])
			}
		}
	}
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		return "", err
	}

	var jsonbTimes, normTimes []time.Duration
	matched := 0
	for _, c := range cs {
		var a, b []int64
		start := time.Now()
		if err := db.SelectContext(ctx, &a, `SELECT subscriber_list_id FROM (`+alerts.MatchingListsSQL+`) m`,
			c.id, pq.Array(c.keys)); err != nil {
			return "", fmt.Errorf("jsonb match: %w", err)
		}
		jsonbTimes = append(jsonbTimes, time.Since(start))
		start = time.Now()
		if err := db.SelectContext(ctx, &b, normalisedMatchSQL,
			pq.Array(c.k[0]), pq.Array(c.k[1]), pq.Array(c.k[2])); err != nil {
			return "", fmt.Errorf("normalised match: %w", err)
		}
		normTimes = append(normTimes, time.Since(start))
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			return "", fmt.Errorf("matching: the two designs disagree on a change: jsonb %d lists, normalised %d", len(a), len(b))
		}
		matched += len(a)
	}

	var jsonbSize, normSize string
	if err := db.GetContext(ctx, &jsonbSize, `SELECT pg_size_pretty(pg_total_relation_size('subscriber_lists'))`); err != nil {
		return "", err
	}
	if err := db.GetContext(ctx, &normSize, `SELECT pg_size_pretty(pg_total_relation_size('norm_values') + pg_total_relation_size('norm_rules') + pg_total_relation_size('norm_lists'))`); err != nil {
		return "", err
	}

	var b strings.Builder
	fmt.Fprintf(&b, "### Matching: jsonb and GIN, or a normalised criteria table\n\n"+
		"%d lists of GOV.UK-like shapes (a third single pages by content_id; the rest organisations, taxons, people, "+
		"world locations, topics, some with `all` and document types), and %d content changes, each asked of both designs in turn; "+
		"both gave the same lists for every change (%.1f lists per change on average).\n\n",
		lists, changes, float64(matched)/float64(changes))
	b.WriteString("| design | p50 | p99 | mean | size of lists and criteria |\n|---|---:|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| jsonb criteria, GIN on match_keys (the service's) | %s | %s | %s | %s (the whole `subscriber_lists`) |\n",
		ms(percentile(jsonbTimes, 50)), ms(percentile(jsonbTimes, 99)), ms(mean(jsonbTimes)), jsonbSize)
	fmt.Fprintf(&b, "| normalised rows, B-tree on (field, key, value) | %s | %s | %s | %s (on top of the lists) |\n\n",
		ms(percentile(normTimes, 50)), ms(percentile(normTimes, 99)), ms(mean(normTimes)), normSize)
	return b.String(), nil
}

// normalisedMatchSQL is the normalised design's match: the change's
// (field, key, value) triples find the list values they hit; a rule group
// holds when any of its values was hit, or, for all, every one; a list
// matches when every one of its groups holds.
const normalisedMatchSQL = `
	WITH ck AS (
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS k(field, key, value)
	), hit AS (
		SELECT v.list_id, v.field, v.key, count(*) AS n
		FROM ck JOIN norm_values v USING (field, key, value)
		GROUP BY 1, 2, 3
	), held AS (
		SELECT h.list_id, count(*) AS groups
		FROM hit h JOIN norm_rules r USING (list_id, field, key)
		WHERE NOT r.all_of OR h.n = r.nvalues
		GROUP BY 1
	)
	SELECT h.list_id FROM held h JOIN norm_lists l USING (list_id) WHERE h.groups = l.ngroups`

// seedMatching writes the lists into subscriber_lists as the service
// stores them, and the same criteria into the normalised tables.
func seedMatching(ctx context.Context, db *sqlx.DB, criteria []subscribers.Criteria) error {
	for _, q := range []string{
		`CREATE TABLE norm_lists (list_id bigint PRIMARY KEY, ngroups int NOT NULL)`,
		`CREATE TABLE norm_rules (list_id bigint, field text, key text, all_of boolean NOT NULL, nvalues int NOT NULL,
			PRIMARY KEY (list_id, field, key))`,
		`CREATE TABLE norm_values (field text NOT NULL, key text NOT NULL, value text NOT NULL, list_id bigint NOT NULL)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	lists, err := tx.PrepareContext(ctx, `COPY subscriber_lists (id, slug, title, tags, links, document_type,
		email_document_supertype, content_id, criteria_digest, match_keys) FROM STDIN`)
	if err != nil {
		return err
	}
	type rule struct {
		list       int64
		field, key string
		all        bool
		values     []string
	}
	var rules []rule
	groups := make([]int, len(criteria))
	for i, c := range criteria {
		id := int64(i + 1)
		tags, _ := c.Tags.Value()
		links, _ := c.Links.Value()
		if _, err := lists.ExecContext(ctx, id, fmt.Sprintf("list-%d", id), "Bench", tags, links, c.DocumentType,
			c.EmailDocumentSupertype, c.ContentID, c.Digest(), pq.Array(c.MatchKeys())); err != nil {
			return err
		}
		for field, rs := range map[string]subscribers.Rules{"tags": c.Tags, "links": c.Links} {
			for key, r := range rs {
				rules = append(rules, rule{id, field, key, r.Operator == subscribers.OperatorAll, r.Values})
			}
		}
		for field, v := range map[string]string{"document_type": c.DocumentType, "email_document_supertype": c.EmailDocumentSupertype} {
			if v != "" {
				rules = append(rules, rule{id, field, "", false, []string{v}})
			}
		}
		if c.ContentID != nil {
			rules = append(rules, rule{id, "content_id", "", false, []string{c.ContentID.String()}})
		}
	}
	if _, err := lists.ExecContext(ctx); err != nil {
		return err
	}
	if err := lists.Close(); err != nil {
		return err
	}
	rulesCopy, err := tx.PrepareContext(ctx, `COPY norm_rules (list_id, field, key, all_of, nvalues) FROM STDIN`)
	if err != nil {
		return err
	}
	for _, r := range rules {
		groups[r.list-1]++
		if _, err := rulesCopy.ExecContext(ctx, r.list, r.field, r.key, r.all, len(r.values)); err != nil {
			return err
		}
	}
	if _, err := rulesCopy.ExecContext(ctx); err != nil {
		return err
	}
	if err := rulesCopy.Close(); err != nil {
		return err
	}
	values, err := tx.PrepareContext(ctx, `COPY norm_values (field, key, value, list_id) FROM STDIN`)
	if err != nil {
		return err
	}
	for _, r := range rules {
		for _, v := range r.values {
			if _, err := values.ExecContext(ctx, r.field, r.key, v, r.list); err != nil {
				return err
			}
		}
	}
	if _, err := values.ExecContext(ctx); err != nil {
		return err
	}
	if err := values.Close(); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO norm_lists SELECT i, g FROM unnest($1::int[]) WITH ORDINALITY AS t(g, i)`,
		pq.Array(groups)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `CREATE INDEX norm_values_idx ON norm_values (field, key, value, list_id)`); err != nil {
		return err
	}
	return tx.Commit()
}

// vocabulary is the set of tags and links values lists and changes draw
// from, of about GOV.UK's sizes.
type vocabulary struct {
	organisations, taxons, people, locations, topics, documentTypes []string
}

func newVocabulary() vocabulary {
	words := func(prefix string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s-%d", prefix, i)
		}
		return out
	}
	return vocabulary{
		organisations: words("org", 1_200), taxons: words("taxon", 3_000), people: words("person", 1_000),
		locations: words("location", 230), topics: words("topic", 600), documentTypes: words("doctype", 60),
	}
}

// pick draws from vs, the first values much more often than the last (a
// few organisations publish most of GOV.UK).
func pick(rng *rand.Rand, vs []string) string {
	x := rng.Float64()
	return vs[int(x*x*float64(len(vs)))]
}

func pickN(rng *rand.Rand, vs []string, n int) []string {
	out := make([]string, 0, n)
	for range n {
		out = append(out, pick(rng, vs))
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// list is one list's criteria, in the proportions of GOV.UK's lists.
func (v vocabulary) list(rng *rand.Rand) subscribers.Criteria {
	anyOf := func(vs []string, n int) subscribers.Rule {
		return subscribers.Rule{Operator: subscribers.OperatorAny, Values: pickN(rng, vs, n)}
	}
	var c subscribers.Criteria
	switch x := rng.IntN(100); {
	case x < 33: // a single page
		id := uuid.New()
		c.ContentID = &id
	case x < 55:
		c.Links = subscribers.Rules{"organisations": anyOf(v.organisations, 1)}
	case x < 70:
		c.Links = subscribers.Rules{"taxon_tree": anyOf(v.taxons, 1)}
	case x < 80:
		c.Links = subscribers.Rules{"organisations": anyOf(v.organisations, 1)}
		c.EmailDocumentSupertype = []string{"publications", "news_and_communications", "guidance"}[rng.IntN(3)]
	case x < 85:
		c.Links = subscribers.Rules{"people": anyOf(v.people, 1)}
	case x < 89:
		c.Links = subscribers.Rules{"world_locations": anyOf(v.locations, 1)}
	case x < 94:
		c.Links = subscribers.Rules{
			"taxon_tree":    {Operator: subscribers.OperatorAll, Values: pickN(rng, v.taxons, 2)},
			"organisations": anyOf(v.organisations, 2),
		}
	case x < 97:
		c.Tags = subscribers.Rules{"topics": anyOf(v.topics, 1+rng.IntN(3))}
	default:
		c.Links = subscribers.Rules{"organisations": anyOf(v.organisations, 1)}
		c.DocumentType = pick(rng, v.documentTypes)
	}
	return c
}

// change is one content change's tags, links and types; one in three is
// a page some list follows.
func (v vocabulary) change(rng *rand.Rand, pages []uuid.UUID) alerts.ContentChange {
	cc := alerts.ContentChange{
		ContentID:              uuid.New(),
		DocumentType:           pick(rng, v.documentTypes),
		EmailDocumentSupertype: []string{"publications", "news_and_communications", "guidance", "other"}[rng.IntN(4)],
		Links: alerts.Values{
			"organisations": pickN(rng, v.organisations, 1+rng.IntN(3)),
			"taxon_tree":    pickN(rng, v.taxons, 1+rng.IntN(4)),
		},
		Tags: alerts.Values{},
	}
	if rng.IntN(3) == 0 && len(pages) > 0 {
		cc.ContentID = pages[rng.IntN(len(pages))]
	}
	if rng.IntN(3) == 0 {
		cc.Links["people"] = pickN(rng, v.people, 1+rng.IntN(2))
	}
	if rng.IntN(5) == 0 {
		cc.Links["world_locations"] = pickN(rng, v.locations, 1)
	}
	if rng.IntN(10) == 0 {
		cc.Tags["topics"] = pickN(rng, v.topics, 1+rng.IntN(2))
	}
	return cc
}

func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}
