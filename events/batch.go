package events

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"email-alert/linking/session"
)

// BatchTask handles TypeApply: the batch's events, each once.
func (p *Processor) BatchTask(ctx context.Context, t *asynq.Task) error {
	var payload batchPayload
	if err := json.Unmarshal(t.Payload(), &payload); err != nil || len(payload.EventIDs) == 0 {
		return fmt.Errorf("%w: bad payload %q", asynq.SkipRetry, t.Payload())
	}
	return p.ProcessBatch(ctx, payload.EventIDs)
}

// ProcessBatch applies the stored events ids as Process does, but in one
// transaction: their load is one statement, and so is their "done". The
// events of one account are applied in the order received, each seeing
// what the one before it changed. If anything fails the transaction rolls
// back and each event is processed on its own, so that one bad event
// neither holds up nor fails the others; the error returned is then the
// first of theirs.
func (p *Processor) ProcessBatch(ctx context.Context, ids []string) error {
	var applied []processed
	err := p.subs.InTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		applied, err = p.applyBatch(ctx, tx, ids)
		return err
	})
	if err == nil {
		if p.onProcessed != nil {
			for _, e := range applied {
				p.onProcessed(e.kind, e.outcome, time.Since(e.received))
			}
		}
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	var first error
	for _, id := range ids {
		if err := p.Process(ctx, id); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// processed is an event applied in a batch, for metrics once committed.
type processed struct {
	kind, outcome string
	received      time.Time
}

// applyBatch applies the pending events among ids in tx and marks them
// done.
func (p *Processor) applyBatch(ctx context.Context, tx *sqlx.Tx, ids []string) ([]processed, error) {
	// Lock the events, in id order, and their accounts' cursors, in sub
	// order (so that two batches cannot deadlock on them), and learn each
	// account's newest event applied and whether it was deleted.
	var rows []struct {
		Event
		ReceivedAt  time.Time  `db:"received_at"`
		LastApplied *time.Time `db:"last_applied_at"`
		Deleted     bool       `db:"deleted"`
	}
	err := tx.SelectContext(ctx, &rows, `
		WITH e AS (
			SELECT id, kind, event_type, sub, payload, occurred_at, received_at FROM account_events
			WHERE id = ANY($1) AND status = 'pending'
			ORDER BY id FOR UPDATE
		), c AS (
			INSERT INTO account_event_cursors (sub) SELECT DISTINCT sub FROM e ORDER BY sub
			ON CONFLICT (sub) DO UPDATE SET sub = EXCLUDED.sub
			RETURNING sub, last_applied_at
		)
		SELECT e.*, c.last_applied_at, `+session.AccountDeletedSQL("e.sub")+` AS deleted
		FROM e JOIN c USING (sub)
		ORDER BY e.received_at, e.id`, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("load events: %w", err)
	}
	type account struct {
		lastApplied *time.Time
		deleted     bool
		moved       bool // the cursor moves to lastApplied
	}
	accounts := map[string]*account{}
	var (
		done     = make([]processed, 0, len(rows))
		doneIDs  = make([]string, 0, len(rows))
		outcomes = make([]string, 0, len(rows))
	)
	for _, r := range rows {
		a := accounts[r.Sub]
		if a == nil {
			a = &account{lastApplied: r.LastApplied, deleted: r.Deleted}
			accounts[r.Sub] = a
		}
		outcome, changed, err := p.apply(ctx, tx, r.Event, a.lastApplied, a.deleted)
		if err != nil {
			return nil, fmt.Errorf("event %s: %w", r.ID, err)
		}
		if changed {
			if a.lastApplied == nil || r.OccurredAt.After(*a.lastApplied) {
				a.lastApplied = &r.OccurredAt
			}
			a.moved = true
		}
		if r.Kind == KindDeleted && changed {
			a.deleted = true
		}
		done = append(done, processed{kind: r.Kind, outcome: outcome, received: r.ReceivedAt})
		doneIDs, outcomes = append(doneIDs, r.ID), append(outcomes, outcome)
	}
	if len(done) == 0 {
		return nil, nil
	}
	var subs, times []string
	for sub, a := range accounts {
		if a.moved {
			subs, times = append(subs, sub), append(times, a.lastApplied.Format(time.RFC3339Nano))
		}
	}
	// The events are done and the cursors of the accounts they changed
	// moved (never back): one statement.
	if _, err := tx.ExecContext(ctx, `
		WITH cursor AS (
			UPDATE account_event_cursors c SET last_applied_at = GREATEST(c.last_applied_at, m.t)
			FROM unnest($3::text[], $4::timestamptz[]) AS m(sub, t)
			WHERE c.sub = m.sub
		)
		UPDATE account_events e SET status = 'done', outcome = d.outcome, attempts = attempts + 1,
		       last_error = NULL, processed_at = now()
		FROM unnest($1::text[], $2::text[]) AS d(id, outcome)
		WHERE e.id = d.id`, pq.Array(doneIDs), pq.Array(outcomes), pq.Array(subs), pq.Array(times)); err != nil {
		return nil, fmt.Errorf("mark events done: %w", err)
	}
	return done, nil
}
