package mail

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// OutboxEmail is an email as the outbox holds it, for people to look at.
type OutboxEmail struct {
	ID        uuid.UUID `db:"id"`
	Kind      string    `db:"kind"`
	Address   string    `db:"address"`
	Subject   string    `db:"subject"`
	Body      string    `db:"body"` // "" for alerts and digests, rendered when sent, and once purged
	Status    string    `db:"status"`
	CreatedAt time.Time `db:"created_at"`
}

// Latest returns the n emails written last, newest first: the local
// outbox page, which shows what the journeys sent.
func Latest(ctx context.Context, db sqlx.QueryerContext, n int) ([]OutboxEmail, error) {
	var emails []OutboxEmail
	err := sqlx.SelectContext(ctx, db, &emails, `
		SELECT id, kind, address, subject, body, status, created_at FROM emails ORDER BY created_at DESC LIMIT $1`, n)
	if err != nil {
		return nil, fmt.Errorf("latest emails: %w", err)
	}
	return emails, nil
}
