package subscribers

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"email-alert/internal/lib/textcheck"
)

// List is a subscriber list: a topic people subscribe to.
type List struct {
	ID          int64     `db:"id" json:"id"`
	Slug        string    `db:"slug" json:"slug"`
	Title       string    `db:"title" json:"title"`
	URL         *string   `db:"url" json:"url"`
	Description string    `db:"description" json:"description"`
	CreatedAt   time.Time `db:"created_at" json:"created_at"`
	UpdatedAt   time.Time `db:"updated_at" json:"updated_at"`
}

const listColumns = `id, slug, title, url, description, created_at, updated_at`

// NewList is what a caller gives to find or create a list.
type NewList struct {
	Title       string
	Slug        string // derived from Title when empty
	URL         string
	Description string

	// slugFromTitle records that Validate derived Slug from Title: then
	// only a list of the same title is the same list (see FindOrCreateList).
	slugFromTitle bool
}

var (
	slugPattern   = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)
	nonSlugRunes  = regexp.MustCompile(`[^a-z0-9]+`)
	maxSlugLength = 255
)

// Validate trims n's title and derives its slug from the title when none is
// given, then reports what is wrong, field by field; nil means valid. The
// title, url and description pass textcheck: nothing in them can change
// the shape of an email or page they are put in.
func (n *NewList) Validate() map[string][]string {
	problems := map[string][]string{}
	add := func(field, problem string) { problems[field] = append(problems[field], problem) }
	n.Title = strings.TrimSpace(n.Title)
	switch {
	case n.Title == "":
		add("title", "can't be blank")
	case utf8.RuneCountInString(n.Title) > 1000:
		add("title", textcheck.TooLong(1000))
	}
	if err := textcheck.Line(n.Title); err != nil {
		add("title", err.Error())
	}
	if n.Slug == "" {
		n.Slug, n.slugFromTitle = Slugify(n.Title), true
		if n.Slug == "" && n.Title != "" {
			add("slug", "is required: the title has no ASCII letter or digit to make one from")
		}
	} else if !slugPattern.MatchString(n.Slug) || len(n.Slug) > maxSlugLength {
		add("slug", "must be lower-case letters, digits and single hyphens, at most 255 characters")
	}
	if n.URL != "" {
		if err := textcheck.Path(n.URL); err != nil {
			add("url", err.Error())
		}
	}
	if len(n.URL) > 2000 {
		add("url", textcheck.TooLong(2000))
	}
	if utf8.RuneCountInString(n.Description) > 10000 {
		add("description", textcheck.TooLong(10000))
	}
	if err := textcheck.Text(n.Description); err != nil {
		add("description", err.Error())
	}
	if len(problems) == 0 {
		return nil
	}
	return problems
}

// Slugify derives a list slug from a title: lower case, runs of anything
// but letters and digits become one hyphen.
func Slugify(title string) string {
	slug := strings.Trim(nonSlugRunes.ReplaceAllString(strings.ToLower(title), "-"), "-")
	if len(slug) > maxSlugLength {
		slug = strings.TrimRight(slug[:maxSlugLength], "-")
	}
	return slug
}

// FindOrCreateList returns the list with n's slug, creating it from n when
// there is none. n must have passed Validate. created says which happened.
// When Validate derived the slug from the title, a list found by it must
// have that title too: a different title whose slug collides ("C# updates"
// after "C++ updates") is a *SlugTakenError, not the other list.
func (s *Store) FindOrCreateList(ctx context.Context, n NewList) (l List, created bool, err error) {
	var url *string
	if n.URL != "" {
		url = &n.URL
	}
	// ON CONFLICT DO NOTHING returns no row when the slug exists; the
	// second statement then sees the committed row.
	err = s.db.GetContext(ctx, &l, `
		INSERT INTO subscriber_lists (slug, title, url, description)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (slug) DO NOTHING
		RETURNING `+listColumns, n.Slug, n.Title, url, n.Description)
	if err == nil {
		return l, true, nil
	}
	if err = notFound(err, ErrListNotFound); !errors.Is(err, ErrListNotFound) {
		return List{}, false, fmt.Errorf("create list: %w", err)
	}
	if l, err = s.ListBySlug(ctx, n.Slug); err != nil {
		return List{}, false, err
	}
	if n.slugFromTitle && l.Title != n.Title {
		return List{}, false, &SlugTakenError{Slug: n.Slug}
	}
	return l, false, nil
}

// SlugTakenError is a list asked for by a title whose slug is already that
// of a list with another title: the caller must send a slug of its own.
type SlugTakenError struct {
	Slug string
}

func (e *SlugTakenError) Error() string {
	return fmt.Sprintf("slug %q is taken by a list with another title", e.Slug)
}

// validText reports whether PostgreSQL can hold s as text: valid UTF-8
// without NUL. A lookup by anything else finds nothing.
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// ListBySlug returns the list with slug, or ErrListNotFound.
func (s *Store) ListBySlug(ctx context.Context, slug string) (List, error) {
	if !validText(slug) {
		return List{}, fmt.Errorf("list by slug: %w", ErrListNotFound)
	}
	var l List
	err := s.db.GetContext(ctx, &l, `SELECT `+listColumns+` FROM subscriber_lists WHERE slug = $1`, slug)
	if err != nil {
		return List{}, fmt.Errorf("list by slug: %w", notFound(err, ErrListNotFound))
	}
	return l, nil
}
