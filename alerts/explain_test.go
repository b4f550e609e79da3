package alerts_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"
)

// TestMatchUsesTheIndex seeds 10,000 lists with criteria and checks that
// matching a content change reads candidates through the GIN index on
// match_keys, not every list, and stays fast.
func TestMatchUsesTheIndex(t *testing.T) {
	f := setup(t, 100)
	_, err := f.db.Exec(`
		INSERT INTO subscriber_lists (slug, title, tags, criteria_digest, match_keys)
		SELECT 'list-' || i, 'List ' || i,
		       jsonb_build_object('topics', jsonb_build_object('any', jsonb_build_array('topic-' || i, 'topic-' || (i + 1)))),
		       sha256(i::text::bytea),
		       ARRAY['tags/topics/topic-' || i, 'tags/topics/topic-' || (i + 1)]
		FROM generate_series(1, 10000) i`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Exec(`ANALYZE subscriber_lists`); err != nil {
		t.Fatal(err)
	}
	id := f.change(t, "Tax rules", `,"tags":{"topics":["topic-500"]}`)
	keys := pq.Array([]string{"tags/topics/topic-500", "document_type/news_story", "content_id/" + contentID})
	var plan []string
	if err := f.db.Select(&plan, `EXPLAIN SELECT l.id FROM content_changes c JOIN subscriber_lists l ON l.match_keys && $2::text[]
		WHERE c.id = $1 AND alert_rules_match(l.tags, c.tags)`, id, keys); err != nil {
		t.Fatal(err)
	}
	if text := strings.Join(plan, "\n"); !strings.Contains(text, "subscriber_lists_match_keys_idx") {
		t.Errorf("matching does not use the GIN index:\n%s", text)
	}
	start := time.Now()
	if err := f.alerts.FanOut(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if got := f.matched(t, id); len(got) != 2 {
		t.Errorf("matched %d lists, want 2 (topic-499's and topic-500's)", len(got))
	}
	t.Logf("matched a change against 10,000 lists in %s", took)
}
