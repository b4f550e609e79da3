package alerts

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// MatchingListsSQL selects the lists content change $1 matches, with the
// change's match keys $2 (ContentChange.MatchKeys). Candidates come from
// the GIN index on match_keys (a list can only match a change that carries
// one of its keys); the exact rule is checked on them alone: the list's
// content_id is the change's, or the list has other criteria and every one
// of them holds. Exported so the benchmark measures this very statement.
const MatchingListsSQL = `
	SELECT c.id AS content_change_id, l.id AS subscriber_list_id, c.received_at
	FROM content_changes c
	JOIN subscriber_lists l ON l.match_keys && $2::text[]
	WHERE c.id = $1
	  AND ((l.content_id IS NOT NULL AND l.content_id = c.content_id)
	    OR ((l.tags <> '{}' OR l.links <> '{}' OR l.document_type <> ''
	         OR l.email_document_supertype <> '' OR l.government_document_supertype <> '')
	        AND l.document_type IN ('', c.document_type)
	        AND l.email_document_supertype IN ('', c.email_document_supertype)
	        AND l.government_document_supertype IN ('', c.government_document_supertype)
	        AND alert_rules_match(l.tags, c.tags)
	        AND alert_rules_match(l.links, c.links)))`

// matchSQL records the lists content change $1 matches.
const matchSQL = `
	INSERT INTO content_change_matches (content_change_id, subscriber_list_id, received_at)` +
	MatchingListsSQL + `
	ON CONFLICT DO NOTHING`

// fanOutBatchSQL writes the next batch of immediate emails of content
// change $1 from the cursor ($2 list, $3 subscriber): the first matched
// list at or after the cursor's, and up to $4 of its immediate subscribers
// after the cursor's subscriber, in subscriber id order (an index range
// scan). The unique key (content change, subscriber) drops a subscriber
// already emailed through another list, or by an earlier attempt of this
// batch. Alert emails are bulk mail (mail.High for "high" content, else
// mail.Normal), delivered after every transactional email. It returns the list it worked on (NULL: no list left), the last
// subscriber it read and how many it read and wrote.
const fanOutBatchSQL = `
	WITH cur AS (
		SELECT m.subscriber_list_id AS list_id,
		       CASE WHEN m.subscriber_list_id = $2 THEN $3::bigint ELSE 0 END AS after
		FROM content_change_matches m
		WHERE m.content_change_id = $1 AND m.subscriber_list_id >= $2
		ORDER BY m.subscriber_list_id LIMIT 1
	), batch AS (
		-- LATERAL, so that the cursor bounds an index range scan (see
		-- digestBatchSQL).
		SELECT s.subscriber_id, s.subscriber_list_id
		FROM cur CROSS JOIN LATERAL (
			SELECT s.subscriber_id, s.subscriber_list_id FROM subscriptions s
			WHERE s.subscriber_list_id = cur.list_id AND s.frequency = 'immediately' AND s.ended_at IS NULL
			  AND s.subscriber_id > cur.after
			ORDER BY s.subscriber_id LIMIT $4) s
	), written AS (
		INSERT INTO emails (kind, priority, address, subject, body, content_change_id, subscriber_id, subscriber_list_id)
		SELECT 'alert', (SELECT CASE c.priority WHEN 'high' THEN 'high' ELSE 'normal' END FROM content_changes c WHERE c.id = $1),
		       p.address, $5, '', $1, b.subscriber_id, b.subscriber_list_id
		FROM batch b JOIN subscribers p ON p.id = b.subscriber_id
		WHERE p.address IS NOT NULL
		ON CONFLICT DO NOTHING
		RETURNING 1
	)
	SELECT (SELECT list_id FROM cur) AS list_id,
	       coalesce((SELECT max(subscriber_id) FROM batch), 0) AS last_subscriber,
	       (SELECT count(*) FROM batch) AS read,
	       (SELECT count(*) FROM written) AS written`

// ProcessTask handles TypeFanOut.
func (s *Service) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var p fanOutPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("%w: bad payload: %w", asynq.SkipRetry, err)
	}
	return s.FanOut(ctx, p.ContentChangeID)
}

type jobRow struct {
	Status     string    `db:"status"`
	Title      string    `db:"title"`
	ListID     int64     `db:"fanout_list_id"`
	After      int64     `db:"fanout_subscriber_id"`
	ReceivedAt time.Time `db:"received_at"`
}

// FanOut runs the job of content change id to its end: it matches the
// change (once: the match and the status move in one transaction), then
// writes its immediate emails batch by batch, each batch in a transaction
// that holds the change's row and moves its cursor. A job interrupted
// anywhere resumes from the last committed batch; two workers on one job
// take turns on the row and never write an email twice. Memory does not
// grow with the list: each batch is one statement inside PostgreSQL.
func (s *Service) FanOut(ctx context.Context, id uuid.UUID) error {
	for {
		done, err := s.fanOutStep(ctx, id)
		if err != nil || done {
			return err
		}
	}
}

// fanOutStep does one unit of the job: the match, or one batch.
func (s *Service) fanOutStep(ctx context.Context, id uuid.UUID) (done bool, err error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("fan out %s: %w", id, err)
	}
	defer func() { _ = tx.Rollback() }()
	var job jobRow
	err = tx.GetContext(ctx, &job, `
		SELECT status, title, fanout_list_id, fanout_subscriber_id, received_at
		FROM content_changes WHERE id = $1 FOR UPDATE`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil // another schema's task, or never stored
	}
	if err != nil {
		return false, fmt.Errorf("fan out %s: %w", id, err)
	}
	switch job.Status {
	case "done":
		return true, nil
	case "pending":
		if err := s.match(ctx, tx, id); err != nil {
			return false, err
		}
	default:
		if err := s.fanOutBatch(ctx, tx, id, job); err != nil {
			return false, err
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("fan out %s: commit: %w", id, err)
	}
	return false, nil
}

// match records the lists content change id matches and moves its job on
// to fanning out.
func (s *Service) match(ctx context.Context, tx *sqlx.Tx, id uuid.UUID) error {
	cc, err := loadContentChange(ctx, tx, id)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, matchSQL, id, pq.Array(cc.MatchKeys())); err != nil {
		return fmt.Errorf("match %s: %w", id, err)
	}
	_, err = tx.ExecContext(ctx, `
		UPDATE content_changes SET status = 'fanning_out', matched_at = now(), updated_at = now() WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("match %s: %w", id, err)
	}
	return nil
}

func (s *Service) fanOutBatch(ctx context.Context, tx *sqlx.Tx, id uuid.UUID, job jobRow) error {
	var r struct {
		ListID  *int64 `db:"list_id"`
		Last    int64  `db:"last_subscriber"`
		Read    int    `db:"read"`
		Written int    `db:"written"`
	}
	err := tx.GetContext(ctx, &r, fanOutBatchSQL, id, job.ListID, job.After, s.cfg.BatchSize, alertSubject(job.Title))
	if err != nil {
		return fmt.Errorf("fan out %s: %w", id, err)
	}
	if r.ListID == nil { // every matched list is done
		_, err = tx.ExecContext(ctx, `
			UPDATE content_changes SET status = 'done', done_at = now(), updated_at = now() WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("fan out %s: %w", id, err)
		}
		if s.observe.FanOutFinished != nil {
			s.observe.FanOutFinished(time.Since(job.ReceivedAt))
		}
		return nil
	}
	listID, after := *r.ListID, r.Last
	if r.Read < s.cfg.BatchSize { // this list is done: on to the next
		listID, after = listID+1, 0
	}
	_, err = tx.ExecContext(ctx, `
		UPDATE content_changes SET fanout_list_id = $2, fanout_subscriber_id = $3, emails = emails + $4,
		       updated_at = now()
		WHERE id = $1`, id, listID, after, r.Written)
	if err != nil {
		return fmt.Errorf("fan out %s: %w", id, err)
	}
	s.generated(KindAlert, r.Written)
	return nil
}

// alertSubject is the subject of an immediate email about title.
func alertSubject(title string) string {
	return "Update from GOV.UK for: " + strings.Join(strings.Fields(title), " ")
}

func loadContentChange(ctx context.Context, q sqlx.QueryerContext, id uuid.UUID) (ContentChange, error) {
	var row struct {
		ContentChange
		Tags  []byte `db:"tags"`
		Links []byte `db:"links"`
	}
	err := sqlx.GetContext(ctx, q, &row, `
		SELECT id, content_id, title, base_path, change_note, description, public_updated_at, document_type,
		       email_document_supertype, government_document_supertype, publishing_app, tags, links,
		       priority, footnote
		FROM content_changes WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return ContentChange{}, fmt.Errorf("content change %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return ContentChange{}, fmt.Errorf("content change %s: %w", id, err)
	}
	cc := row.ContentChange
	if err := json.Unmarshal(row.Tags, &cc.Tags); err != nil {
		return ContentChange{}, fmt.Errorf("content change %s: tags: %w", id, err)
	}
	if err := json.Unmarshal(row.Links, &cc.Links); err != nil {
		return ContentChange{}, fmt.Errorf("content change %s: links: %w", id, err)
	}
	return cc, nil
}
