package subscribers

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// OnConflict says what an address change does when another subscriber
// already has the new address.
type OnConflict int

const (
	// Refuse fails the change with ErrAddressTaken.
	Refuse OnConflict = iota
	// Merge merges the other subscriber into this one (see mergeInto),
	// unless the other is linked to a One Login account: a linked
	// subscriber's address changes only through its account, so a change
	// asked for by anyone else (a magic-link user, an API client) fails
	// with ErrAddressLinked.
	Merge
	// MergeForAccount merges the other subscriber, linked or not. It is for
	// changes the account itself makes (its verified email at sign-in or
	// in an account event): the account that owns the address wins.
	MergeForAccount
)

// ChangeAddress gives the subscriber id the address newAddress (already
// normalised). When another subscriber has that address, onConflict says
// whether the change fails or merges the other subscriber into this one.
// Giving a subscriber its own address, in any case, changes none of its
// subscriptions. The change and any merge are recorded in the audit trail
// with cause.
func (s *Store) ChangeAddress(ctx context.Context, id int64, newAddress string, onConflict OnConflict, cause Cause) (Subscriber, error) {
	var result Subscriber
	err := s.InTx(ctx, func(tx *sqlx.Tx) (err error) {
		result, err = ChangeAddressIn(ctx, tx, id, newAddress, onConflict, cause)
		return err
	})
	return result, err
}

// ChangeAddressIn is ChangeAddress inside the caller's transaction.
func ChangeAddressIn(ctx context.Context, tx *sqlx.Tx, id int64, newAddress string, onConflict OnConflict, cause Cause) (Subscriber, error) {
	result, err := changeAddress(ctx, tx, `id = $1`, id, func(s *Subscriber) bool { return s.ID == id }, newAddress, onConflict, false, cause)
	if isNotFound(err) {
		return Subscriber{}, fmt.Errorf("subscriber %d: %w", id, ErrNotFound)
	}
	return result, err
}

// AccountEmail says where an account's verified email comes from when
// ChangeAccountAddressIn applies it.
type AccountEmail int

const (
	// EmailChanged is the new email of an account event: it is applied as
	// it is, a change of case alone included.
	EmailChanged AccountEmail = iota
	// EmailAtSignIn is the email an account has at sign-in (or when the
	// API links it): an address that differs from it in case alone is the
	// same address, and is left as it is.
	EmailAtSignIn
)

// ChangeAccountAddressIn is the email-change rule of a One Login account,
// the one path for account events and sign-in alike: the subscriber linked
// to the subject sub gets the account's verified email newAddress (already
// normalised), merging whatever subscriber holds it, linked or not
// (MergeForAccount: the account that owns the address wins). Both rows are
// found and locked in one statement, in id order, so this change cannot
// deadlock with another of the same pair. With no subscriber linked to sub
// it is ErrNotFound, and the holder of newAddress, if any, stays locked for
// the rest of tx (linking then links it).
func ChangeAccountAddressIn(ctx context.Context, tx *sqlx.Tx, sub, newAddress string, from AccountEmail, cause Cause) (Subscriber, error) {
	isLinked := func(s *Subscriber) bool { return s.GovukAccountID != nil && *s.GovukAccountID == sub }
	result, err := changeAddress(ctx, tx, `govuk_account_id = $1`, sub, isLinked, newAddress, MergeForAccount, from == EmailAtSignIn, cause)
	if isNotFound(err) {
		return Subscriber{}, fmt.Errorf("subscriber of account: %w", ErrNotFound)
	}
	return result, err
}

// CheckMergeIn returns ErrAddressLinked when newAddress belongs to a
// subscriber other than id that is linked to a One Login account: a change
// onto it with Merge would be refused, so nothing (an email to that address
// above all) should be sent to prepare one.
func CheckMergeIn(ctx context.Context, tx *sqlx.Tx, id int64, newAddress string) error {
	var linked bool
	err := tx.GetContext(ctx, &linked, `
		SELECT EXISTS (SELECT 1 FROM subscribers
		WHERE lower(address) = lower($2) AND id <> $1 AND govuk_account_id IS NOT NULL)`, id, newAddress)
	if err != nil {
		return fmt.Errorf("check address change of %d: %w", id, err)
	}
	if linked {
		return ErrAddressLinked
	}
	return nil
}

// changeAddress changes the address of the subscriber matching where
// (whose one parameter is arg; isSelf tells it from the other row) to
// newAddress. With foldCase, an address that differs from newAddress in
// case alone is left as it is.
func changeAddress(ctx context.Context, tx *sqlx.Tx, where string, arg any, isSelf func(*Subscriber) bool,
	newAddress string, onConflict OnConflict, foldCase bool, cause Cause) (Subscriber, error) {
	var result Subscriber
	err := func() error {
		// Lock both rows in id order, in one statement, so that two merges
		// of the same pair in opposite directions cannot deadlock.
		var locked []Subscriber
		err := tx.SelectContext(ctx, &locked, `
			SELECT `+subscriberColumns+` FROM subscribers
			WHERE `+where+` OR lower(address) = lower($2)
			ORDER BY id FOR UPDATE`, arg, newAddress)
		if err != nil {
			return fmt.Errorf("lock subscribers: %w", err)
		}
		var self, other *Subscriber
		for i := range locked {
			if isSelf(&locked[i]) {
				self = &locked[i]
			} else {
				other = &locked[i]
			}
		}
		if self == nil {
			return ErrNotFound
		}
		id := self.ID
		if self.Address != nil && (*self.Address == newAddress || foldCase && strings.EqualFold(*self.Address, newAddress)) {
			// Its own address: another subscriber cannot have it too.
			result = *self
			return nil
		}
		// Recorded in one INSERT: the merge on both sides, then the change.
		var changes []change
		changed := map[string]any{}
		if other != nil {
			switch {
			case onConflict == Refuse:
				return ErrAddressTaken
			case onConflict == Merge && other.Linked():
				return ErrAddressLinked
			}
			moved, err := mergeInto(ctx, tx, other.ID, self.ID)
			if err != nil {
				return err
			}
			merged := map[string]any{
				"from_subscriber_id": other.ID, "into_subscriber_id": self.ID, "subscriptions_moved": moved,
			}
			changes = append(changes,
				change{subscriberID: other.ID, action: AuditMerged, details: merged},
				change{subscriberID: self.ID, action: AuditMerged, details: merged})
			changed["merged_subscriber_id"] = other.ID
		}
		// The change and its record in one statement. The addresses
		// themselves are not recorded: the audit outlives them (see
		// migrations/00007_audit.sql).
		changes = append(changes, change{subscriberID: self.ID, action: AuditAddressChanged, details: changed})
		update, args, err := withAudit(`
			UPDATE subscribers SET address = $2, updated_at = now()
			WHERE id = $1 RETURNING `+subscriberColumns, []any{id, newAddress}, cause, changes...)
		if err != nil {
			return err
		}
		if err := tx.GetContext(ctx, &result, update, args...); err != nil {
			return fmt.Errorf("change address of %d: %w", id, err)
		}
		return nil
	}()
	return result, err
}

// mergeInto moves every active subscription of subscriber from to
// subscriber into: each is ended on from (subscriber_merged) and created on
// into (source subscriber_merged). Where both are subscribed to a list the
// more frequent subscription wins: immediately > daily > weekly. Finally
// from's address is nulled, freeing it for into, and from records where
// it went (merged_into), for the links in its old emails (MergedInto). The
// caller holds both locks, and records the merge. It returns how many
// subscriptions of from it ended.
//
// It is two statements whatever the number of subscriptions (it was three
// or four per subscription: the account events' email changes merge, and
// make bench measured them): the first ends from's subscriptions and those
// of into's that lose, frees the address and says which lists move; the
// second creates into's. They cannot be one: into's new subscription to a
// list may only be inserted once its old one there has ended, and the
// parts of one statement run in no set order.
func mergeInto(ctx context.Context, tx *sqlx.Tx, from, into int64) (int, error) {
	var moving []struct {
		ListID    int64     `db:"subscriber_list_id"`
		Frequency Frequency `db:"frequency"`
		Moves     bool      `db:"moves"`
	}
	// A list moves when into loses there (superseded) or had no
	// subscription to it: the NOT EXISTS reads into's subscriptions as
	// they were before this statement.
	err := tx.SelectContext(ctx, &moving, `
		WITH moving AS (
			UPDATE subscriptions SET ended_at = now(), ended_reason = $3, updated_at = now()
			WHERE subscriber_id = $1 AND ended_at IS NULL
			RETURNING id, subscriber_list_id, frequency, created_at
		), superseded AS (
			UPDATE subscriptions k SET ended_at = now(), ended_reason = $3, updated_at = now()
			FROM moving m
			WHERE k.subscriber_id = $2 AND k.ended_at IS NULL AND k.subscriber_list_id = m.subscriber_list_id
			  AND array_position($4::text[], m.frequency) < array_position($4::text[], k.frequency)
			RETURNING k.subscriber_list_id
		), released AS (
			UPDATE subscribers SET address = NULL, merged_into = $2, updated_at = now() WHERE id = $1
		)
		SELECT m.subscriber_list_id, m.frequency,
		       s.subscriber_list_id IS NOT NULL OR NOT EXISTS (
				SELECT 1 FROM subscriptions k
				WHERE k.subscriber_id = $2 AND k.ended_at IS NULL AND k.subscriber_list_id = m.subscriber_list_id
		       ) AS moves
		FROM moving m LEFT JOIN superseded s ON s.subscriber_list_id = m.subscriber_list_id
		ORDER BY m.created_at, m.id`, from, into, EndedSubscriberMerged, pq.StringArray(frequencyRank))
	if err != nil {
		return 0, fmt.Errorf("merge subscriptions of %d into %d: %w", from, into, err)
	}
	var lists []int64
	var frequencies []string
	for _, m := range moving {
		if m.Moves {
			lists, frequencies = append(lists, m.ListID), append(frequencies, string(m.Frequency))
		}
	}
	if len(lists) == 0 {
		return len(moving), nil
	}
	_, err = tx.ExecContext(ctx, `
		INSERT INTO subscriptions (subscriber_id, subscriber_list_id, frequency, source)
		SELECT $1, l, f, $4 FROM unnest($2::bigint[], $3::text[]) WITH ORDINALITY AS m (l, f, n)
		ORDER BY n`, into, pq.Int64Array(lists), pq.StringArray(frequencies), SourceSubscriberMerged)
	if err != nil {
		return 0, fmt.Errorf("merge subscriptions of %d into %d: %w", from, into, err)
	}
	return len(moving), nil
}

// MergedInto returns the subscriber whose subscriptions those of id are
// now: id itself, or, for a subscriber merged into another and given no
// address of its own since, the one it went into, following merges. The
// links in the emails a merged subscriber was sent name it; they act on
// the subscriber that holds its subscriptions and its address now. An
// unknown id is returned as it is.
func MergedInto(ctx context.Context, q sqlx.QueryerContext, id int64) (int64, error) {
	var into int64
	err := sqlx.GetContext(ctx, q, &into, `
		WITH RECURSIVE chain (id, next, depth) AS (
			SELECT id, CASE WHEN address IS NULL THEN merged_into END, 0 FROM subscribers WHERE id = $1
			UNION ALL
			SELECT s.id, CASE WHEN s.address IS NULL THEN s.merged_into END, c.depth + 1
			FROM chain c JOIN subscribers s ON s.id = c.next
			WHERE c.depth < 16
		)
		SELECT coalesce((SELECT id FROM chain ORDER BY depth DESC LIMIT 1), $1)`, id)
	if err != nil {
		return 0, fmt.Errorf("subscriber %d merged into: %w", id, err)
	}
	return into, nil
}
