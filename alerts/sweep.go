package alerts

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
)

// Sweep makes sure every unfinished job has a task: every scheduled daily
// and weekly run within the catch-up bounds exists (CatchUp: runs missed
// while no worker was up are caught up here, each as its own run), and
// every content change and digest run not done and
// untouched for olderThan (0: all of them) is enqueued again, in case
// Redis lost it or its enqueue failed. Tasks still waiting are not
// duplicated (TaskID); a job found running twice is still exactly once
// (row locks and unique keys). It returns how many jobs it enqueued.
func (s *Service) Sweep(ctx context.Context, now time.Time, olderThan time.Duration) (int, error) {
	if _, err := s.CatchUp(ctx, now); err != nil {
		return 0, err
	}
	age := fmt.Sprintf("%d milliseconds", olderThan.Milliseconds())
	var changes []struct {
		ID       uuid.UUID `db:"id"`
		Priority string    `db:"priority"`
	}
	err := s.db.SelectContext(ctx, &changes, `
		SELECT id, priority FROM content_changes
		WHERE status <> 'done' AND updated_at <= now() - $1::interval
		ORDER BY received_at LIMIT 10000`, age)
	if err != nil {
		return 0, fmt.Errorf("sweep content changes: %w", err)
	}
	n := 0
	for _, c := range changes {
		if err := s.enqueue(ctx, s.fanOutTask(c.ID, c.Priority)); err != nil {
			return n, err
		}
		n++
	}
	var runs []int64
	if err := s.db.SelectContext(ctx, &runs, `SELECT id FROM digest_runs WHERE status = 'pending' ORDER BY ends_at`); err != nil {
		return n, fmt.Errorf("sweep digest runs: %w", err)
	}
	for _, id := range runs {
		if err := s.enqueue(ctx, s.digestTask(id)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// SweepHandler handles TypeSweep: jobs untouched for a minute are enqueued
// again, and due digest runs created.
func (s *Service) SweepHandler(ctx context.Context, _ *asynq.Task) error {
	n, err := s.Sweep(ctx, time.Now(), time.Minute)
	if n > 0 {
		slog.InfoContext(ctx, "alerts sweep", "enqueued", n)
	}
	return err
}
