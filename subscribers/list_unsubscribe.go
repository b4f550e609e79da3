package subscribers

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// ListCursor is where a walk over a list's active subscriptions has got
// to: the (frequency, subscriber id) of the last one read, the order of
// the index of a list's active subscriptions. The zero value is the start.
type ListCursor struct {
	Frequency    string `db:"frequency"`
	SubscriberID int64  `db:"subscriber_id"`
}

// EndedSubscription is one subscription EndListBatch ended.
type EndedSubscription struct {
	SubscriberID int64  `db:"subscriber_id"`
	Address      string `db:"address"` // "" for a subscriber whose address was removed
	Locale       string `db:"locale"`  // the language of the subscriber's emails
}

// ListBatch is what one EndListBatch did.
type ListBatch struct {
	Read  int                 // active subscriptions read after the cursor
	Next  ListCursor          // the cursor after them
	Ended []EndedSubscription // those this batch ended (not one ended meanwhile by another change)
}

// endListBatchSQL ends up to $3 active subscriptions of list $1 after the
// cursor ($4 frequency, $5 subscriber), in cursor order (a range scan of
// subscriptions_active_by_list_frequency_idx), with reason $2, and records
// each ending in its subscriber's audit trail with cause ($6, $7). The
// UPDATE checks ended_at again, so a subscription another change ended
// meanwhile is left alone and not counted.
const endListBatchSQL = `
	WITH batch AS (
		SELECT id, subscriber_id, frequency FROM subscriptions
		WHERE subscriber_list_id = $1 AND ended_at IS NULL AND (frequency, subscriber_id) > ($4, $5)
		ORDER BY frequency, subscriber_id LIMIT $3
	), ended AS (
		UPDATE subscriptions s SET ended_at = now(), ended_reason = $2, updated_at = now()
		FROM batch b WHERE s.id = b.id AND s.ended_at IS NULL
		RETURNING s.subscriber_id
	), audit AS (
		INSERT INTO subscriber_audit (subscriber_id, action, cause_kind, cause_id, details)
		SELECT subscriber_id, $8, $6, $7,
		       jsonb_build_object('reason', $2::text, 'count', 1, 'subscriber_list_id', $1::bigint)
		FROM ended
	)
	SELECT 'ended' AS row, e.subscriber_id, coalesce(p.address, '') AS address, p.locale, '' AS frequency
	FROM ended e JOIN subscribers p ON p.id = e.subscriber_id
	UNION ALL
	SELECT 'last', subscriber_id, '', '', frequency::text
	FROM (SELECT subscriber_id, frequency FROM batch ORDER BY frequency DESC, subscriber_id DESC LIMIT 1) l
	UNION ALL
	SELECT 'read', count(*), '', '', '' FROM batch`

// EndListBatch ends, inside the caller's transaction, the next size active
// subscriptions of list listID after cursor with reason, each recorded in
// its subscriber's audit trail with cause. A batch that reads fewer than
// size is the list's last. Memory is one batch: call it again from Next,
// in a new transaction, for the next one.
func EndListBatch(ctx context.Context, tx *sqlx.Tx, listID int64, after ListCursor, size int, reason string, cause Cause) (ListBatch, error) {
	if cause.Kind == "" || cause.ID == "" {
		return ListBatch{}, errNoCause
	}
	var rows []struct {
		Row          string `db:"row"`
		SubscriberID int64  `db:"subscriber_id"`
		Address      string `db:"address"`
		Locale       string `db:"locale"`
		Frequency    string `db:"frequency"`
	}
	err := tx.SelectContext(ctx, &rows, endListBatchSQL, listID, reason, size, after.Frequency, after.SubscriberID,
		cause.Kind, cause.ID, AuditSubscriptionsEnded)
	if err != nil {
		return ListBatch{}, fmt.Errorf("end subscriptions of list %d: %w", listID, err)
	}
	b := ListBatch{Next: after}
	for _, r := range rows {
		switch r.Row {
		case "ended":
			b.Ended = append(b.Ended, EndedSubscription{SubscriberID: r.SubscriberID, Address: r.Address, Locale: r.Locale})
		case "last":
			b.Next = ListCursor{Frequency: r.Frequency, SubscriberID: r.SubscriberID}
		case "read":
			b.Read = int(r.SubscriberID)
		}
	}
	return b, nil
}
