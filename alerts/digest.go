package alerts

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Digest frequencies.
const (
	Daily  = "daily"
	Weekly = "weekly"
)

// ErrBadDigest is an unknown frequency or an --at too far ahead.
var ErrBadDigest = errors.New("digest: frequency must be daily or weekly, and the time at most a day ahead")

// Run is one digest run: its window is [StartsAt, EndsAt).
type Run struct {
	ID        int64     `db:"id"`
	Frequency string    `db:"frequency"`
	Date      time.Time `db:"date"`
	StartsAt  time.Time `db:"starts_at"`
	EndsAt    time.Time `db:"ends_at"`
	Status    string    `db:"status"`
	ListID    int64     `db:"cursor_list_id"`
	After     int64     `db:"cursor_subscriber_id"`
	Emails    int       `db:"emails"`
}

// window is how far back a run of frequency looks.
func window(frequency string) time.Duration {
	if frequency == Weekly {
		return 7 * 24 * time.Hour
	}
	return 24 * time.Hour
}

// LatestScheduled returns the latest scheduled time of frequency at or
// before now: DigestTime (Europe/London) of today or yesterday for daily
// runs, of the latest Saturday for weekly ones.
func (s *Service) LatestScheduled(frequency string, now time.Time) time.Time {
	local := now.In(s.london)
	t := time.Date(local.Year(), local.Month(), local.Day(), s.cfg.DigestHour, s.cfg.DigestMinute, 0, 0, s.london)
	for t.After(now) || (frequency == Weekly && t.Weekday() != time.Saturday) {
		t = time.Date(t.Year(), t.Month(), t.Day()-1, s.cfg.DigestHour, s.cfg.DigestMinute, 0, 0, s.london)
	}
	return t
}

// How far back a worker catches up: every scheduled run of the last
// CatchUpDaily days and of the last CatchUpWeekly Saturdays that has no row
// is made when a worker sweeps (at start, then every minute). Older missed
// runs are left alone: after a longer outage, a pile of stale digests helps
// nobody, and `email-alert digest --at` can still make one. Digest runs are
// never deleted, so a run already made is never made again.
const (
	CatchUpDaily  = 7
	CatchUpWeekly = 4
)

// Scheduled returns the n latest scheduled times of frequency at or before
// now, oldest first: the runs a worker catches up.
func (s *Service) Scheduled(frequency string, now time.Time, n int) []time.Time {
	step := 1
	if frequency == Weekly {
		step = 7
	}
	times := make([]time.Time, n)
	t := s.LatestScheduled(frequency, now)
	for i := n - 1; i >= 0; i-- {
		times[i] = t
		t = time.Date(t.Year(), t.Month(), t.Day()-step, s.cfg.DigestHour, s.cfg.DigestMinute, 0, 0, s.london)
	}
	return times
}

// CatchUp makes every run of the catch-up bounds (CatchUpDaily,
// CatchUpWeekly) before now that has no row yet, each with its own window
// (the 24 hours or 7 days before its scheduled time), and returns how many
// it made. It is one statement that leaves existing runs as they are
// (unique on frequency and date), so workers catching up at once, or one
// catching up twice, make each run once.
func (s *Service) CatchUp(ctx context.Context, now time.Time) (int, error) {
	var frequencies, dates, starts, ends []string
	for _, f := range []struct {
		frequency string
		n         int
	}{{Daily, CatchUpDaily}, {Weekly, CatchUpWeekly}} {
		for _, at := range s.Scheduled(f.frequency, now, f.n) {
			frequencies = append(frequencies, f.frequency)
			dates = append(dates, at.In(s.london).Format(time.DateOnly))
			starts = append(starts, at.Add(-window(f.frequency)).Format(time.RFC3339Nano))
			ends = append(ends, at.Format(time.RFC3339Nano))
		}
	}
	res, err := s.db.ExecContext(ctx, `
		INSERT INTO digest_runs (frequency, date, starts_at, ends_at)
		SELECT * FROM unnest($1::text[], $2::date[], $3::timestamptz[], $4::timestamptz[])
		ON CONFLICT (frequency, date) DO NOTHING`,
		pq.Array(frequencies), pq.Array(dates), pq.Array(starts), pq.Array(ends))
	if err != nil {
		return 0, fmt.Errorf("digest catch-up: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// EnsureRun returns the run of frequency for at's date in Europe/London,
// creating it to cover the window before at when there is none: a run is
// unique on (frequency, date), so however many workers or commands ask,
// there is one.
func (s *Service) EnsureRun(ctx context.Context, frequency string, at time.Time) (Run, error) {
	if (frequency != Daily && frequency != Weekly) || at.After(time.Now().Add(24*time.Hour)) {
		return Run{}, ErrBadDigest
	}
	date := at.In(s.london).Format(time.DateOnly)
	var r Run
	err := s.db.GetContext(ctx, &r, `
		WITH created AS (
			INSERT INTO digest_runs (frequency, date, starts_at, ends_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (frequency, date) DO NOTHING
			RETURNING *)
		SELECT id, frequency, date, starts_at, ends_at, status, cursor_list_id, cursor_subscriber_id, emails FROM created
		UNION ALL
		SELECT id, frequency, date, starts_at, ends_at, status, cursor_list_id, cursor_subscriber_id, emails
		FROM digest_runs WHERE frequency = $1 AND date = $2`,
		frequency, date, at.Add(-window(frequency)), at)
	if err != nil {
		return Run{}, fmt.Errorf("digest run %s %s: %w", frequency, date, err)
	}
	return r, nil
}

// Digest runs (or resumes, or finds finished) the run of frequency for at
// and returns how many emails it wrote in all, once they are all in the
// outbox: the `email-alert digest` command.
func (s *Service) Digest(ctx context.Context, frequency string, at time.Time) (int, error) {
	r, err := s.EnsureRun(ctx, frequency, at)
	if err != nil {
		return 0, err
	}
	return s.RunDigest(ctx, r.ID)
}

// digestBatchSQL writes the next batch of digest emails of run $1 from its
// cursor ($2 list, $3 subscriber): the first list at or after the cursor's
// that matched content in the run's window, and up to $5 of its active
// subscribers at frequency $4 after the cursor's subscriber. A subscriber
// gets the email only when the list matched content after the
// subscription began (content matched while it was active); the email
// covers from then, or from the window's start.
const digestBatchSQL = `
	WITH run AS (SELECT starts_at, ends_at FROM digest_runs WHERE id = $1),
	cur AS (
		SELECT m.subscriber_list_id AS list_id,
		       CASE WHEN m.subscriber_list_id = $2 THEN $3::bigint ELSE 0 END AS after
		FROM content_change_matches m, run
		WHERE m.received_at >= run.starts_at AND m.received_at < run.ends_at AND m.subscriber_list_id >= $2
		ORDER BY m.subscriber_list_id LIMIT 1
	), batch AS (
		-- LATERAL, so that the cursor's list and subscriber bound an index
		-- range scan; as a join the planner, not knowing them, walked every
		-- subscription in subscriber id order from the start, each batch.
		SELECT s.subscriber_id, s.subscriber_list_id, greatest(run.starts_at, s.created_at) AS covers_from
		FROM cur CROSS JOIN run CROSS JOIN LATERAL (
			SELECT s.subscriber_id, s.subscriber_list_id, s.created_at FROM subscriptions s
			WHERE s.subscriber_list_id = cur.list_id AND s.frequency = $4 AND s.ended_at IS NULL
			  AND s.subscriber_id > cur.after AND s.created_at < run.ends_at
			ORDER BY s.subscriber_id LIMIT $5) s
	), written AS (
		INSERT INTO emails (kind, priority, address, subject, body, digest_run_id, subscriber_id, subscriber_list_id, covers_from)
		SELECT 'digest', 'normal', p.address, $6 || l.title, '', $1, b.subscriber_id, b.subscriber_list_id, b.covers_from
		FROM batch b
		JOIN subscribers p ON p.id = b.subscriber_id
		JOIN subscriber_lists l ON l.id = b.subscriber_list_id
		WHERE p.address IS NOT NULL AND EXISTS (
			SELECT 1 FROM content_change_matches m, run
			WHERE m.subscriber_list_id = b.subscriber_list_id
			  AND m.received_at >= b.covers_from AND m.received_at < run.ends_at)
		ON CONFLICT DO NOTHING
		RETURNING 1
	)
	SELECT (SELECT list_id FROM cur) AS list_id,
	       coalesce((SELECT max(subscriber_id) FROM batch), 0) AS last_subscriber,
	       (SELECT count(*) FROM batch) AS read,
	       (SELECT count(*) FROM written) AS written`

// RunDigest runs digest run id to its end, batch by batch, each batch in a
// transaction that holds the run's row and moves its cursor, and returns
// the run's emails. Like a fan-out it resumes after a crash, and two
// workers on one run take turns and never write an email twice.
func (s *Service) RunDigest(ctx context.Context, id int64) (int, error) {
	for first := true; ; first = false {
		r, done, err := s.digestStep(ctx, id, first)
		if err != nil || done {
			return r.Emails, err
		}
	}
}

func (s *Service) digestStep(ctx context.Context, id int64, first bool) (r Run, done bool, err error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return Run{}, false, fmt.Errorf("digest run %d: %w", id, err)
	}
	defer func() { _ = tx.Rollback() }()
	err = tx.GetContext(ctx, &r, `
		SELECT id, frequency, date, starts_at, ends_at, status, cursor_list_id, cursor_subscriber_id, emails
		FROM digest_runs WHERE id = $1 FOR UPDATE`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, true, nil
	}
	if err != nil {
		return Run{}, false, fmt.Errorf("digest run %d: %w", id, err)
	}
	if r.Status == "done" {
		return r, true, nil
	}
	if first && r.ListID == 0 && r.After == 0 && s.observe.DigestRun != nil {
		s.observe.DigestRun(r.Frequency, "started", 0)
	}
	if err := s.digestBatch(ctx, tx, &r); err != nil {
		return Run{}, false, err
	}
	if err := tx.Commit(); err != nil {
		return Run{}, false, fmt.Errorf("digest run %d: commit: %w", id, err)
	}
	if r.Status == "done" && s.observe.DigestRun != nil {
		s.observe.DigestRun(r.Frequency, "finished", r.Emails)
	}
	return r, false, nil
}

func (s *Service) digestBatch(ctx context.Context, tx *sqlx.Tx, r *Run) error {
	var b struct {
		ListID  *int64 `db:"list_id"`
		Last    int64  `db:"last_subscriber"`
		Read    int    `db:"read"`
		Written int    `db:"written"`
	}
	err := tx.GetContext(ctx, &b, digestBatchSQL, r.ID, r.ListID, r.After, r.Frequency, s.cfg.BatchSize,
		digestPeriod(r.Frequency)+" update from GOV.UK for: ")
	if err != nil {
		return fmt.Errorf("digest run %d: %w", r.ID, err)
	}
	if b.ListID == nil {
		r.Status = "done"
		_, err = tx.ExecContext(ctx, `UPDATE digest_runs SET status = 'done', finished_at = now() WHERE id = $1`, r.ID)
		if err != nil {
			return fmt.Errorf("digest run %d: %w", r.ID, err)
		}
		return nil
	}
	r.ListID, r.After = *b.ListID, b.Last
	if b.Read < s.cfg.BatchSize {
		r.ListID, r.After = r.ListID+1, 0
	}
	r.Emails += b.Written
	_, err = tx.ExecContext(ctx, `
		UPDATE digest_runs SET cursor_list_id = $2, cursor_subscriber_id = $3, emails = $4 WHERE id = $1`,
		r.ID, r.ListID, r.After, r.Emails)
	if err != nil {
		return fmt.Errorf("digest run %d: %w", r.ID, err)
	}
	s.generated(KindDigest, b.Written)
	return nil
}

func digestPeriod(frequency string) string {
	if frequency == Weekly {
		return "Weekly"
	}
	return "Daily"
}

type digestPayload struct {
	RunID int64 `json:"run_id"`
}

func (s *Service) digestTask(id int64) *asynq.Task {
	payload, _ := json.Marshal(digestPayload{RunID: id}) // cannot fail
	return asynq.NewTask(TypeDigestRun, payload, asynq.TaskID(fmt.Sprintf("digest-run:%d", id)),
		asynq.Queue(s.cfg.Queues.Normal), asynq.MaxRetry(25), asynq.Timeout(time.Hour))
}

// DigestRunHandler handles TypeDigestRun.
func (s *Service) DigestRunHandler(ctx context.Context, t *asynq.Task) error {
	var p digestPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("%w: bad payload: %w", asynq.SkipRetry, err)
	}
	_, err := s.RunDigest(ctx, p.RunID)
	return err
}
