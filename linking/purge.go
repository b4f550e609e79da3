package linking

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
)

// TypePurge is the periodic task deleting expired tokens and sessions.
const TypePurge = "linking:purge"

// Purge deletes the tokens (package magiclink's), sessions (package
// session's), One Login sign-ins never finished and jtis of logout tokens
// that expired more than a day ago (the day keeps recent ones around for
// "link has expired" support questions, and a logout token's jti until
// well after the token itself is refused as expired), and returns how many
// rows went. It is the one expiry sweep of signing in: the four tables
// share expires_at and the day's grace, so it is written once, here.
func Purge(ctx context.Context, db *sqlx.DB) (int64, error) {
	var total int64
	for _, table := range []string{"auth_tokens", "sessions", "oidc_sign_ins", "oidc_logout_jtis"} {
		res, err := db.ExecContext(ctx, `DELETE FROM `+table+` WHERE expires_at < now() - interval '1 day'`)
		if err != nil {
			return total, fmt.Errorf("purge %s: %w", table, err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}

// PurgeHandler handles TypePurge.
func PurgeHandler(db *sqlx.DB) asynq.HandlerFunc {
	return func(ctx context.Context, _ *asynq.Task) error {
		n, err := Purge(ctx, db)
		if n > 0 {
			slog.InfoContext(ctx, "expired tokens and sessions purged", "rows", n)
		}
		return err
	}
}
