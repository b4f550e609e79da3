package subscribers

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"email-alert/internal/lib/textcheck"
)

// ListWithCriteria is a list with its matching criteria: the JSON of a
// list wherever the API shows one, the subscriber_list of a subscription
// included.
type ListWithCriteria struct {
	List
	Criteria
}

// ListDetails is a list as the subscriber-lists endpoints show it: with
// its matching criteria and how many active subscriptions it has. (A
// subscription's list leaves the count out: counting a list of a million
// subscriptions for every read of one subscription would make the
// hottest reads of the API as slow as the largest list.)
type ListDetails struct {
	ListWithCriteria
	ActiveSubscriptionsCount int64 `db:"active_subscriptions_count" json:"active_subscriptions_count"`
}

const listDetailsQuery = `SELECT ` + listColumns + `, tags, links, document_type, email_document_supertype,
	government_document_supertype, content_id,
	(SELECT count(*) FROM subscriptions s
	 WHERE s.subscriber_list_id = subscriber_lists.id AND s.ended_at IS NULL) AS active_subscriptions_count
	FROM subscriber_lists`

// ListDetailsBySlug returns the list with slug and its criteria, or
// ErrListNotFound.
func (s *Store) ListDetailsBySlug(ctx context.Context, slug string) (ListDetails, error) {
	if !validText(slug) {
		return ListDetails{}, fmt.Errorf("list by slug: %w", ErrListNotFound)
	}
	var l ListDetails
	err := s.db.GetContext(ctx, &l, listDetailsQuery+` WHERE slug = $1`, slug)
	if err != nil {
		return ListDetails{}, fmt.Errorf("list by slug: %w", notFound(err, ErrListNotFound))
	}
	return l, nil
}

// ListByCriteria returns the list with exactly criteria c (the oldest, if
// lists created with explicit slugs share them), or ErrListNotFound.
func (s *Store) ListByCriteria(ctx context.Context, c Criteria) (ListDetails, error) {
	return listByDigest(ctx, s.db, c.Digest())
}

func listByDigest(ctx context.Context, q sqlx.QueryerContext, digest []byte) (ListDetails, error) {
	if digest == nil {
		return ListDetails{}, fmt.Errorf("list by criteria: %w", ErrListNotFound)
	}
	var l ListDetails
	err := sqlx.GetContext(ctx, q, &l, listDetailsQuery+` WHERE criteria_digest = $1 ORDER BY id LIMIT 1`, digest)
	if err != nil {
		return ListDetails{}, fmt.Errorf("list by criteria: %w", notFound(err, ErrListNotFound))
	}
	return l, nil
}

// FindOrCreateListWithCriteria returns the list for n and c, creating it
// when there is none. With an explicit slug the list is the one with that
// slug (as FindOrCreateList). Without, it is the list with exactly these
// criteria, else a new one whose slug, derived from the title, is made
// unique. Concurrent identical calls create one list: they queue on a
// transaction-scoped advisory lock on the criteria's digest. n and c must
// have passed Validate.
func (s *Store) FindOrCreateListWithCriteria(ctx context.Context, n NewList, explicitSlug bool, c Criteria) (l ListDetails, created bool, err error) {
	digest := c.Digest()
	err = s.InTx(ctx, func(tx *sqlx.Tx) error {
		if !explicitSlug {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`,
				int64(binary.BigEndian.Uint64(digest[:8])>>1)); err != nil { // any stable non-negative key
				return fmt.Errorf("lock criteria: %w", err)
			}
			l, err = listByDigest(ctx, tx, digest)
			if !errors.Is(err, ErrListNotFound) {
				return err
			}
		}
		for attempt := 0; attempt < 5; attempt++ {
			slug := n.Slug
			if attempt > 0 {
				if explicitSlug {
					break
				}
				slug = uniqueSlug(n.Slug)
			}
			l, created, err = insertListWithCriteria(ctx, tx, n, slug, c, digest)
			if err != nil || created {
				return err
			}
			if explicitSlug {
				l, err = listDetailsBySlugIn(ctx, tx, slug)
				return err
			}
		}
		return fmt.Errorf("create list: no free slug for %q", n.Slug)
	})
	return l, created, err
}

func listDetailsBySlugIn(ctx context.Context, tx *sqlx.Tx, slug string) (ListDetails, error) {
	var l ListDetails
	err := tx.GetContext(ctx, &l, listDetailsQuery+` WHERE slug = $1`, slug)
	if err != nil {
		return ListDetails{}, fmt.Errorf("list by slug: %w", notFound(err, ErrListNotFound))
	}
	return l, nil
}

// insertListWithCriteria inserts the list unless slug is taken, which it
// reports as created == false.
func insertListWithCriteria(ctx context.Context, tx *sqlx.Tx, n NewList, slug string, c Criteria, digest []byte) (ListDetails, bool, error) {
	var url *string
	if n.URL != "" {
		url = &n.URL
	}
	var id int64
	err := tx.GetContext(ctx, &id, `
		INSERT INTO subscriber_lists (slug, title, url, description, tags, links, document_type,
			email_document_supertype, government_document_supertype, content_id, criteria_digest, match_keys)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (slug) DO NOTHING
		RETURNING id`, slug, n.Title, url, n.Description, c.Tags, c.Links, c.DocumentType,
		c.EmailDocumentSupertype, c.GovernmentDocumentSupertype, c.ContentID, digest, pq.Array(c.MatchKeys()))
	if err = notFound(err, ErrListNotFound); errors.Is(err, ErrListNotFound) {
		return ListDetails{}, false, nil
	}
	if err != nil {
		return ListDetails{}, false, fmt.Errorf("create list: %w", err)
	}
	l, err := listDetailsBySlugIn(ctx, tx, slug)
	return l, true, err
}

// uniqueSlug returns slug with a random suffix, within the slug length.
func uniqueSlug(slug string) string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand does not fail
	suffix := "-" + hex.EncodeToString(b[:])
	if len(slug)+len(suffix) > maxSlugLength {
		slug = strings.TrimRight(slug[:maxSlugLength-len(suffix)], "-")
	}
	return slug + suffix
}

// ListUpdate is a change of a list's title or description (nil: keep).
type ListUpdate struct {
	Title       *string
	Description *string
}

// Validate reports what is wrong with u, field by field; nil means valid.
func (u *ListUpdate) Validate() map[string][]string {
	problems := map[string][]string{}
	if u.Title == nil && u.Description == nil {
		problems["title"] = append(problems["title"], "or description must be given")
	}
	if u.Title != nil {
		t := strings.TrimSpace(*u.Title)
		u.Title = &t
		n := NewList{Title: t, Slug: "x"}
		for field, p := range n.Validate() {
			problems[field] = append(problems[field], p...)
		}
		if !CleanText(t, false) {
			problems["title"] = append(problems["title"], textcheck.ErrControl.Error())
		}
	}
	if u.Description != nil {
		n := NewList{Title: "x", Slug: "x", Description: *u.Description}
		for field, p := range n.Validate() {
			problems[field] = append(problems[field], p...)
		}
		if !CleanText(*u.Description, true) {
			problems["description"] = append(problems["description"], textcheck.ErrControl.Error())
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return problems
}

// UpdateList changes the title or description of the list with slug.
// u must have passed Validate.
func (s *Store) UpdateList(ctx context.Context, slug string, u ListUpdate) (ListDetails, error) {
	if !validText(slug) {
		return ListDetails{}, fmt.Errorf("update list: %w", ErrListNotFound)
	}
	res, err := s.db.ExecContext(ctx, `
		UPDATE subscriber_lists SET title = coalesce($2, title), description = coalesce($3, description),
		       updated_at = now()
		WHERE slug = $1`, slug, u.Title, u.Description)
	if err != nil {
		return ListDetails{}, fmt.Errorf("update list: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ListDetails{}, fmt.Errorf("update list: %w", ErrListNotFound)
	}
	return s.ListDetailsBySlug(ctx, slug)
}
