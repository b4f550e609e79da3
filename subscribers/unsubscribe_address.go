package subscribers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// EndAllOfAddressIn ends, inside the caller's transaction, every active
// subscription of the subscriber holding address (compared as addresses
// are, case-insensitively), with reason and recorded with cause, and
// returns how many it ended. An address no subscriber holds ends nothing
// and is no error: the caller (a provider's callback) must not learn
// whether an address is known. Ending none, as a repeated callback does,
// records nothing.
func EndAllOfAddressIn(ctx context.Context, tx *sqlx.Tx, address, reason string, cause Cause) (int64, error) {
	if cause.Kind == "" || cause.ID == "" {
		return 0, errNoCause
	}
	canonical, ok := NormalizeAddress(address)
	if !ok {
		return 0, nil
	}
	var id int64
	err := tx.GetContext(ctx, &id, `SELECT id FROM subscribers WHERE lower(address) = lower($1) FOR UPDATE`, canonical)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("find subscriber by address: %w", err)
	}
	return EndAllIn(ctx, tx, id, reason, cause)
}
