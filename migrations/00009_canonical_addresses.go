package migrations

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/lib/pq"
	"github.com/pressly/goose/v3"
	"golang.org/x/net/idna"
)

// canonicalAddresses (00009) rewrites every stored address whose domain is
// not ASCII to the form subscribers.NormalizeAddress now gives it, the
// domain's IDNA (UTS #46) A-label, so that zoe@exämple.com and
// zoe@xn--exmple-cua.com are one row of the unique index on
// lower(address). A Go migration because PostgreSQL has no IDNA.
//
// Subscribers that then share an address are merged, as an address change
// with merge does (subscribers/address_change.go): the one linked to a One
// Login account keeps the address, else the oldest; each other one's active
// subscriptions move to it (ended subscriber_merged there, created
// source subscriber_merged here; on a shared list the more frequent wins)
// and its address is nulled. Each change is in the audit trail, caused by
// the system job "migration 00009".
//
// What it runs is written here in full, not called from subscribers: a
// migration must do the same thing whenever it runs, whatever the code
// has become since. An address whose domain IDNA refuses is left as it is
// (it can no longer be typed in, and nothing else collides with it).
var canonicalAddresses = goose.NewGoMigration(9, &goose.GoFunc{RunTx: canonicalAddressesUp}, nil)

// idnaDomains is subscribers' domainProfile as of this migration.
var idnaDomains = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.BidiRule(), idna.VerifyDNSLength(true))

const migrationCause = "migration 00009"

func canonicalAddressesUp(ctx context.Context, tx *sql.Tx) error {
	// Only a non-ASCII domain changes; the index on lower(address) finds
	// what each new spelling collides with.
	rows, err := tx.QueryContext(ctx, `SELECT id, address FROM subscribers WHERE address ~ '@.*[^\x01-\x7f]'`)
	if err != nil {
		return fmt.Errorf("00009: read addresses: %w", err)
	}
	defer rows.Close()
	var ids []int64
	var addresses []string
	for rows.Next() {
		var id int64
		var address string
		if err := rows.Scan(&id, &address); err != nil {
			return fmt.Errorf("00009: read addresses: %w", err)
		}
		local, domain, _ := strings.Cut(address, "@")
		if ascii, err := idnaDomains.ToASCII(domain); err == nil && ascii != domain {
			ids, addresses = append(ids, id), append(addresses, local+"@"+ascii)
		}
	}
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return err
	}
	if _, err := tx.ExecContext(ctx, `
		CREATE TEMPORARY TABLE canonical_addresses ON COMMIT DROP AS
		SELECT * FROM unnest($1::bigint[], $2::text[]) AS c (id, address)`,
		pq.Int64Array(ids), pq.StringArray(addresses)); err != nil {
		return fmt.Errorf("00009: %w", err)
	}
	// Everyone who will share an address with a rewritten one, keeper first.
	var groups [][]int64
	rows, err = tx.QueryContext(ctx, `
		SELECT s.id, lower(coalesce(c.address, s.address)) AS key
		FROM subscribers s LEFT JOIN canonical_addresses c ON c.id = s.id
		WHERE c.id IS NOT NULL OR lower(s.address) IN (SELECT lower(address) FROM canonical_addresses)
		ORDER BY key, s.govuk_account_id IS NULL, s.id`)
	if err != nil {
		return fmt.Errorf("00009: group addresses: %w", err)
	}
	defer rows.Close()
	last := ""
	for rows.Next() {
		var id int64
		var key string
		if err := rows.Scan(&id, &key); err != nil {
			return fmt.Errorf("00009: group addresses: %w", err)
		}
		if key != last || len(groups) == 0 {
			groups = append(groups, nil)
		}
		groups[len(groups)-1], last = append(groups[len(groups)-1], id), key
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("00009: group addresses: %w", err)
	}
	for _, group := range groups {
		for _, from := range group[1:] {
			if err := mergeSubscriber(ctx, tx, from, group[0]); err != nil {
				return err
			}
		}
	}
	_, err = tx.ExecContext(ctx, `
		WITH changed AS (
			UPDATE subscribers s SET address = c.address, updated_at = now()
			FROM canonical_addresses c
			WHERE s.id = c.id AND s.address IS NOT NULL
			RETURNING s.id
		)
		INSERT INTO subscriber_audit (subscriber_id, action, cause_kind, cause_id, details)
		SELECT id, 'address_changed', 'system', $1, '{"reason":"idna_normalisation"}' FROM changed ORDER BY id`,
		migrationCause)
	if err != nil {
		return fmt.Errorf("00009: rewrite addresses: %w", err)
	}
	return nil
}

// mergeSubscriber moves the active subscriptions of from to into and nulls
// from's address, in two statements: into's new subscription to a list can
// only be inserted once its old one there has ended.
func mergeSubscriber(ctx context.Context, tx *sql.Tx, from, into int64) error {
	rank := pq.StringArray{"immediately", "daily", "weekly"}
	var moved int
	var lists pq.Int64Array
	var frequencies pq.StringArray
	err := tx.QueryRowContext(ctx, `
		WITH theirs AS (
			UPDATE subscriptions SET ended_at = now(), ended_reason = 'subscriber_merged', updated_at = now()
			WHERE subscriber_id = $1 AND ended_at IS NULL
			RETURNING id, subscriber_list_id, frequency, created_at
		), beaten AS (
			UPDATE subscriptions k SET ended_at = now(), ended_reason = 'subscriber_merged', updated_at = now()
			FROM theirs t
			WHERE k.subscriber_id = $2 AND k.ended_at IS NULL AND k.subscriber_list_id = t.subscriber_list_id
			  AND array_position($3::text[], t.frequency) < array_position($3::text[], k.frequency)
			RETURNING k.subscriber_list_id
		), released AS (
			UPDATE subscribers SET address = NULL, updated_at = now() WHERE id = $1
		), moving AS (
			SELECT t.* FROM theirs t
			WHERE t.subscriber_list_id IN (SELECT subscriber_list_id FROM beaten) OR NOT EXISTS (
				SELECT 1 FROM subscriptions k
				WHERE k.subscriber_id = $2 AND k.ended_at IS NULL AND k.subscriber_list_id = t.subscriber_list_id)
		)
		SELECT (SELECT count(*) FROM theirs),
		       coalesce((SELECT array_agg(subscriber_list_id ORDER BY created_at, id) FROM moving), '{}'),
		       coalesce((SELECT array_agg(frequency ORDER BY created_at, id) FROM moving), '{}')`,
		from, into, rank).Scan(&moved, &lists, &frequencies)
	if err != nil {
		return fmt.Errorf("00009: merge %d into %d: %w", from, into, err)
	}
	_, err = tx.ExecContext(ctx, `
		WITH created AS (
			INSERT INTO subscriptions (subscriber_id, subscriber_list_id, frequency, source)
			SELECT $1, l, f, 'subscriber_merged' FROM unnest($2::bigint[], $3::text[]) WITH ORDINALITY AS m (l, f, n)
			ORDER BY n
		)
		INSERT INTO subscriber_audit (subscriber_id, action, cause_kind, cause_id, details)
		SELECT s, 'merged', 'system', $4,
		       jsonb_build_object('from_subscriber_id', $5::bigint, 'into_subscriber_id', $1::bigint, 'subscriptions_moved', $6::int)
		FROM unnest(ARRAY[$5::bigint, $1::bigint]) WITH ORDINALITY AS a (s, n) ORDER BY n`,
		into, lists, frequencies, migrationCause, from, moved)
	if err != nil {
		return fmt.Errorf("00009: merge %d into %d: %w", from, into, err)
	}
	return nil
}
