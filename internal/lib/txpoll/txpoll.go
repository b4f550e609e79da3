// Package txpoll hands a table's new pending rows to a queue soon after
// their transaction commits, by the id of the transaction that wrote each
// row (a txid xid8 column): the outbox of emails and the inbox of account
// events both use it.
//
// No transaction older than the oldest one still running (the snapshot's
// xmin) can commit a row any more, so a Poller keeps that horizon as its
// cursor and reads only rows at or above it. Rows above it that are
// already committed are read again until the horizon passes them, and
// skipped when already handed over. The first poll starts from zero and so
// hands over every pending row.
package txpoll

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
)

// PageSize is the most rows one poll query reads.
const PageSize = 1000

// Poller polls one table. Its zero value is not usable: use New.
type Poller[ID comparable] struct {
	db       *sqlx.DB
	query    string
	args     []any
	batch    int
	hand     func(ctx context.Context, ids []ID) error
	horizon  uint64        // every row of a lower txid is handed over
	enqueued map[ID]uint64 // rows at or above the horizon handed over, with their txid
}

// Source is what a Poller reads: the table's pending rows, whose id
// column has the SQL type IDType ("uuid", "text"). Where is the condition
// of a pending row; its parameters are $5 onward, given in Args. The table
// needs an index on (txid) or (txid, id) under the same condition.
type Source struct {
	Table, IDType, Where string
	Args                 []any
}

// New returns a poller of src that hands its new rows to hand, at most
// batch ids at a time.
func New[ID comparable](db *sqlx.DB, src Source, batch int, hand func(ctx context.Context, ids []ID) error) *Poller[ID] {
	return &Poller[ID]{
		db: db,
		query: `
			SELECT h.horizon, t.id, t.txid::text::numeric::bigint AS txid
			FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::numeric::bigint AS horizon) h
			LEFT JOIN LATERAL (
				SELECT id, txid FROM ` + src.Table + `
				WHERE (` + src.Where + `)
				  AND txid >= $1::text::xid8 AND (txid, id) > ($2::text::xid8, $3::` + src.IDType + `)
				ORDER BY txid, id LIMIT $4
			) t ON true`,
		args:     src.Args,
		batch:    batch,
		hand:     hand,
		enqueued: map[ID]uint64{},
	}
}

// Run polls every interval until ctx ends; a failed poll is logged as
// what and tried again at the next tick.
func (p *Poller[ID]) Run(ctx context.Context, interval time.Duration, what string) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if err := p.Poll(ctx); err != nil && ctx.Err() == nil {
			slog.Warn(what+" poll", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

type row[ID any] struct {
	Horizon uint64  `db:"horizon"`
	ID      *ID     `db:"id"` // nil when nothing is pending
	TxID    *uint64 `db:"txid"`
}

// Poll hands over the pending rows at or above the horizon, in batches,
// and then moves the horizon up. It stops at the first failure, leaving
// the horizon where it was so that the next poll tries again.
func (p *Poller[ID]) Poll(ctx context.Context) error {
	var (
		afterTx uint64
		afterID ID
		horizon uint64 // of the first page: rows that commit meanwhile may sort before later pages
	)
	for page := 0; ; page++ {
		var rows []row[ID]
		args := append([]any{strconv.FormatUint(p.horizon, 10), strconv.FormatUint(afterTx, 10), afterID, PageSize}, p.args...)
		if err := p.db.SelectContext(ctx, &rows, p.query, args...); err != nil {
			return fmt.Errorf("poll: %w", err)
		}
		if len(rows) == 0 {
			return errors.New("poll: no horizon")
		}
		if page == 0 {
			horizon = rows[0].Horizon
		}
		var fresh []row[ID]
		for _, r := range rows {
			if r.ID == nil {
				break
			}
			if _, done := p.enqueued[*r.ID]; !done {
				fresh = append(fresh, r)
			}
		}
		for len(fresh) > 0 {
			batch := fresh[:min(len(fresh), p.batch)]
			ids := make([]ID, len(batch))
			for i, r := range batch {
				ids[i] = *r.ID
			}
			if err := p.hand(ctx, ids); err != nil {
				return err
			}
			for _, r := range batch {
				p.enqueued[*r.ID] = *r.TxID
			}
			fresh = fresh[len(batch):]
		}
		if n := len(rows); rows[n-1].ID != nil {
			afterTx, afterID = *rows[n-1].TxID, *rows[n-1].ID
		}
		if len(rows) < PageSize {
			p.advance(horizon)
			return nil
		}
	}
}

// advance moves the horizon up to h and forgets the rows below it.
func (p *Poller[ID]) advance(h uint64) {
	if h <= p.horizon {
		return
	}
	p.horizon = h
	for id, txid := range p.enqueued {
		if txid < h {
			delete(p.enqueued, id)
		}
	}
}
