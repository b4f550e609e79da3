package subscribers

import (
	"context"
	"fmt"
	"time"
)

// forgetBatch is the most subscribers one ForgetInactive statement changes.
const forgetBatch = 1000

// ForgetInactive nulls the address of every subscriber with no active
// subscription, none ended within retention, and created before it: the
// personal data the service no longer needs. Each removal is recorded in
// the subscriber's audit trail (cause: system, forget_inactive) by the
// same statement. It works in batches and returns how many addresses it
// removed.
func (s *Store) ForgetInactive(ctx context.Context, retention time.Duration) (int64, error) {
	var total int64
	cutoff := fmt.Sprintf("%d seconds", int64(retention.Seconds()))
	statement, args, err := auditEach(`
		UPDATE subscribers SET address = NULL, updated_at = now()
		WHERE id IN (
			SELECT p.id FROM subscribers p
			WHERE p.address IS NOT NULL AND p.created_at < now() - $1::interval
			  AND NOT EXISTS (
				SELECT 1 FROM subscriptions s
				WHERE s.subscriber_id = p.id
				  AND (s.ended_at IS NULL OR s.ended_at > now() - $1::interval))
			LIMIT `+fmt.Sprint(forgetBatch)+`
			FOR UPDATE SKIP LOCKED)
		RETURNING id`, []any{cutoff}, SystemCause("forget_inactive"), AuditAddressRemoved)
	if err != nil {
		return 0, err
	}
	for {
		res, err := s.db.ExecContext(ctx, statement, args...)
		if err != nil {
			return total, fmt.Errorf("forget inactive subscribers: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < forgetBatch {
			return total, nil
		}
	}
}
