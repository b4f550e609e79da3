package mail

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"email-alert/internal/lib/locale"
)

// Composer renders, when it is sent, an email whose body the outbox does
// not keep: alert and digest emails, whose rows only reference the content
// they are about (one shared body per content change rather than a copy
// per recipient), with the per-recipient parts (the unsubscribe link) made
// at send time. It returns m with its subject and body filled in.
type Composer func(ctx context.Context, id uuid.UUID, m Message) (Message, error)

// ErrCancelled is returned by a Composer for an email that must no longer
// be sent (its subscription ended before it went out): it is marked failed
// with the reason, and not retried.
var ErrCancelled = errors.New("email cancelled")

// ComposeWith has the emails of kind rendered by compose when they are
// sent.
func (d *Deliverer) ComposeWith(kind string, compose Composer) {
	if d.composers == nil {
		d.composers = map[string]Composer{}
	}
	d.composers[kind] = compose
}

// compose renders m if its kind has a Composer. An email that must no
// longer be sent is ErrCancelled.
func (d *Deliverer) compose(ctx context.Context, kind string, m Message) (Message, error) {
	compose := d.composers[kind]
	if compose == nil {
		return m, nil
	}
	m, err := compose(ctx, m.ID, m)
	if err != nil && !errors.Is(err, ErrCancelled) {
		return m, fmt.Errorf("compose %s: %w", kind, err)
	}
	return m, err
}

// Require fails unless every one of kinds has a template, so that a
// package adding emails of its own stops the process at start when one is
// missing.
func (t *Templates) Require(kinds ...string) error {
	for _, kind := range kinds {
		if t.sets[locale.English].Lookup(kind+".txt") == nil {
			return fmt.Errorf("email templates: %s.txt is missing", kind)
		}
	}
	return nil
}
