package subscribers

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// orders maps the API's order parameter to an ORDER BY clause. Every order
// ends with the subscription id, so pages are stable.
var orders = map[string]string{
	"title":       "l.title ASC, s.id ASC",
	"-title":      "l.title DESC, s.id DESC",
	"created_at":  "s.created_at ASC, s.id ASC",
	"-created_at": "s.created_at DESC, s.id DESC",
}

// DefaultOrder is the order of ActiveSubscriptions when none is given.
const DefaultOrder = "-created_at"

// ActiveSubscriptions returns the subscriber id with its active
// subscriptions in order (one of title, -title, created_at, -created_at), in
// one round trip to PostgreSQL. An unknown subscriber is ErrNotFound; an
// unknown order is ErrInvalidOrder.
//
// It is the hottest read of the API. Like every parameterised query it
// runs through internal/lib/pgdb, which prepares it once per connection (so
// PostgreSQL plans it once, not on every request: most of its cost, see
// BENCHMARKS.md) and prepares it again as the tables grow.
func (s *Store) ActiveSubscriptions(ctx context.Context, id int64, order string) (Subscriber, []Subscription, error) {
	return ActiveSubscriptionsIn(ctx, s.db, id, order)
}

// ActiveSubscriptionsIn is ActiveSubscriptions on q: a transaction, or the pool.
func ActiveSubscriptionsIn(ctx context.Context, q sqlx.QueryerContext, id int64, order string) (Subscriber, []Subscription, error) {
	query, ok := activeSubscriptionsQuery(order)
	if !ok {
		return Subscriber{}, nil, ErrInvalidOrder
	}
	rows, err := q.QueryxContext(ctx, query, id)
	if err != nil {
		return Subscriber{}, nil, fmt.Errorf("subscriptions of %d: %w", id, err)
	}
	return scanActiveSubscriptions(rows, id)
}

// activeSubscriptionsQuery is the query of ActiveSubscriptions in order.
// The subscriber row comes back even with no subscriptions (LEFT JOIN), so
// one query tells "unknown" from "none".
func activeSubscriptionsQuery(order string) (string, bool) {
	orderBy, ok := orders[order]
	if !ok {
		return "", false
	}
	return `
		SELECT p.id, p.address, p.govuk_account_id, p.locale, p.linked_at, p.created_at, p.updated_at,
		       s.id, s.frequency, s.source, s.created_at, s.updated_at,
		       l.id, l.slug, l.title, l.url, l.description, l.created_at, l.updated_at,
		       l.tags, l.links, l.document_type, l.email_document_supertype, l.government_document_supertype,
		       l.content_id
		FROM subscribers p
		LEFT JOIN subscriptions s ON s.subscriber_id = p.id AND s.ended_at IS NULL
		LEFT JOIN subscriber_lists l ON l.id = s.subscriber_list_id
		WHERE p.id = $1
		ORDER BY ` + orderBy, true
}

func scanActiveSubscriptions(rows *sqlx.Rows, id int64) (Subscriber, []Subscription, error) {
	defer rows.Close()

	var (
		subscriber Subscriber
		found      bool
		subs       []Subscription
	)
	for rows.Next() {
		var (
			subID                        uuid.NullUUID
			frequency, source            sql.NullString
			createdAt, updatedAt         sql.NullTime
			listID                       sql.NullInt64
			slug, title, description     sql.NullString
			url                          *string
			listCreatedAt, listUpdatedAt sql.NullTime
			tags, links                  []byte
			documentType, emailType      sql.NullString
			governmentType               sql.NullString
			contentID                    uuid.NullUUID
		)
		err := rows.Scan(&subscriber.ID, &subscriber.Address, &subscriber.GovukAccountID, &subscriber.Locale, &subscriber.LinkedAt,
			&subscriber.CreatedAt, &subscriber.UpdatedAt,
			&subID, &frequency, &source, &createdAt, &updatedAt,
			&listID, &slug, &title, &url, &description, &listCreatedAt, &listUpdatedAt,
			&tags, &links, &documentType, &emailType, &governmentType, &contentID)
		if err != nil {
			return Subscriber{}, nil, fmt.Errorf("subscriptions of %d: %w", id, err)
		}
		found = true
		if !subID.Valid {
			continue
		}
		c := Criteria{DocumentType: documentType.String, EmailDocumentSupertype: emailType.String,
			GovernmentDocumentSupertype: governmentType.String}
		if contentID.Valid {
			c.ContentID = &contentID.UUID
		}
		if c.Tags, err = scanRules(tags); err == nil {
			c.Links, err = scanRules(links)
		}
		if err != nil {
			return Subscriber{}, nil, fmt.Errorf("subscriptions of %d: list %d: %w", id, listID.Int64, err)
		}
		subs = append(subs, Subscription{
			ID: subID.UUID, Frequency: Frequency(frequency.String), Source: source.String,
			CreatedAt: createdAt.Time, UpdatedAt: updatedAt.Time,
			List: ListWithCriteria{List: List{
				ID: listID.Int64, Slug: slug.String, Title: title.String, URL: url,
				Description: description.String, CreatedAt: listCreatedAt.Time, UpdatedAt: listUpdatedAt.Time,
			}, Criteria: c},
		})
	}
	if err := rows.Err(); err != nil {
		return Subscriber{}, nil, fmt.Errorf("subscriptions of %d: %w", id, err)
	}
	if !found {
		return Subscriber{}, nil, fmt.Errorf("subscriptions of %d: %w", id, ErrNotFound)
	}
	for i := range subs {
		subs[i].Subscriber = subscriber
	}
	return subscriber, subs, nil
}

// scanRules reads a list's tags or links as Rules.Scan does, without
// decoding the criteria most lists do not have.
func scanRules(b []byte) (Rules, error) {
	if string(b) == "{}" {
		return Rules{}, nil
	}
	var r Rules
	err := r.Scan(b)
	return r, err
}
