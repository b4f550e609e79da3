package subscribers

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
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
}

var (
	slugPattern   = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)
	nonSlugRunes  = regexp.MustCompile(`[^a-z0-9]+`)
	maxSlugLength = 255
)

// Validate trims n's title and derives its slug from the title when none is
// given, then reports what is wrong, field by field; nil means valid.
func (n *NewList) Validate() map[string][]string {
	problems := map[string][]string{}
	n.Title = strings.TrimSpace(n.Title)
	switch {
	case n.Title == "":
		problems["title"] = append(problems["title"], "can't be blank")
	case utf8.RuneCountInString(n.Title) > 1000:
		problems["title"] = append(problems["title"], "is too long (maximum is 1000 characters)")
	}
	if n.Slug == "" {
		if n.Title != "" {
			n.Slug = Slugify(n.Title)
		}
		if n.Slug == "" && n.Title != "" {
			problems["title"] = append(problems["title"], "must contain a letter or digit")
		}
	} else if !slugPattern.MatchString(n.Slug) || len(n.Slug) > maxSlugLength {
		problems["slug"] = append(problems["slug"],
			"must be lower-case letters, digits and single hyphens, at most 255 characters")
	}
	if n.URL != "" && (!strings.HasPrefix(n.URL, "/") || strings.HasPrefix(n.URL, "//")) {
		problems["url"] = append(problems["url"], "must be a path on GOV.UK starting with /")
	}
	if len(n.URL) > 2000 {
		problems["url"] = append(problems["url"], "is too long (maximum is 2000 characters)")
	}
	if utf8.RuneCountInString(n.Description) > 10000 {
		problems["description"] = append(problems["description"], "is too long (maximum is 10000 characters)")
	}
	for field, value := range map[string]string{"title": n.Title, "url": n.URL, "description": n.Description} {
		if !validText(value) {
			problems[field] = append(problems[field], "must be valid text")
		}
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
	l, err = s.ListBySlug(ctx, n.Slug)
	return l, false, err
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
