package alerts

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"email-alert/internal/lib/locale"
	"email-alert/mail"
)

// The outbox keeps no body for alert and digest emails: each is rendered
// here when mail/ sends it, from the content change (one row, whatever the
// number of recipients) and the recipient's list and subscription. The
// unsubscribe link, and the one-click URL of the same token (the
// List-Unsubscribe header), are made at that moment too, so a link is only ever
// issued for an email that goes out, and an email whose subscription has
// ended since it was written is cancelled instead of sent.

type recipient struct {
	Address        string     `db:"address"`
	SubscriberID   int64      `db:"subscriber_id"`
	ListID         int64      `db:"subscriber_list_id"`
	ListTitle      string     `db:"list_title"`
	Locale         string     `db:"locale"` // the subscriber's, read as the email is sent
	SubscriptionID *uuid.UUID `db:"subscription_id"`
}

const recipientSQL = `
	SELECT e.address, e.subscriber_id, e.subscriber_list_id, l.title AS list_title, COALESCE(p.locale, 'en') AS locale,
	       (SELECT s.id FROM subscriptions s
	        WHERE s.subscriber_id = e.subscriber_id AND s.subscriber_list_id = e.subscriber_list_id
	          AND s.ended_at IS NULL) AS subscription_id
	FROM emails e JOIN subscriber_lists l ON l.id = e.subscriber_list_id
	LEFT JOIN subscribers p ON p.id = e.subscriber_id
	WHERE e.id = $1`

// recipient returns the recipient of email id, with the unsubscribe
// page's link for the body; m gets the one-click URL of the same token.
func (s *Service) recipient(ctx context.Context, id uuid.UUID, m *mail.Message) (recipient, string, error) {
	var r recipient
	if err := s.db.GetContext(ctx, &r, recipientSQL, id); err != nil {
		return recipient{}, "", fmt.Errorf("email %s: %w", id, err)
	}
	if r.SubscriptionID == nil {
		return recipient{}, "", fmt.Errorf("%w: the subscription ended before it was sent", mail.ErrCancelled)
	}
	page, oneClick, err := s.links.Link(ctx, r.SubscriberID, r.ListID, *r.SubscriptionID, r.Address)
	if err != nil {
		return recipient{}, "", err
	}
	m.ListUnsubscribeURL = oneClick
	return r, inLanguage(page, r.Locale), nil
}

// inLanguage adds lang=cy to a link in a Welsh email, so the page opens
// in Welsh; English links are left as they are.
func inLanguage(link, lang string) string {
	if lang != locale.Welsh || link == "" {
		return link
	}
	u, err := url.Parse(link)
	if err != nil {
		return link
	}
	q := u.Query()
	q.Set("lang", lang)
	u.RawQuery = q.Encode()
	return u.String()
}

// ComposeAlert is the mail.Composer of immediate emails.
func (s *Service) ComposeAlert(ctx context.Context, id uuid.UUID, m mail.Message) (mail.Message, error) {
	var ccID uuid.UUID
	if err := s.db.GetContext(ctx, &ccID, `SELECT content_change_id FROM emails WHERE id = $1`, id); err != nil {
		return m, fmt.Errorf("email %s: %w", id, err)
	}
	cc, err := loadContentChange(ctx, s.db, ccID)
	if err != nil {
		return m, err
	}
	r, unsubscribe, err := s.recipient(ctx, id, &m)
	if err != nil {
		return m, err
	}
	return s.render(KindAlert, r.Locale, m, map[string]any{
		"ListTitle":       r.ListTitle,
		"Title":           cc.Title,
		"URL":             s.contentURL(cc.BasePath),
		"Description":     cc.Description,
		"ChangeNote":      cc.ChangeNote,
		"PublicUpdatedAt": s.FormatTime(r.Locale, cc.PublicUpdatedAt),
		"Footnote":        cc.Footnote,
		"UnsubscribeURL":  unsubscribe,
		"ManageURL":       inLanguage(s.links.ManageLink(), r.Locale),
	})
}

// digestChange is one content change listed in a digest.
type digestChange struct {
	Title           string
	URL             string
	ChangeNote      string
	PublicUpdatedAt string
}

// ComposeDigest is the mail.Composer of digest emails: every content
// change the list matched from the email's covers_from to the run's end.
func (s *Service) ComposeDigest(ctx context.Context, id uuid.UUID, m mail.Message) (mail.Message, error) {
	var rows []struct {
		Frequency       string    `db:"frequency"`
		Title           string    `db:"title"`
		BasePath        string    `db:"base_path"`
		ChangeNote      string    `db:"change_note"`
		PublicUpdatedAt time.Time `db:"public_updated_at"`
	}
	err := s.db.SelectContext(ctx, &rows, `
		SELECT r.frequency, c.title, c.base_path, c.change_note, c.public_updated_at
		FROM emails e
		JOIN digest_runs r ON r.id = e.digest_run_id
		JOIN content_change_matches m ON m.subscriber_list_id = e.subscriber_list_id
		     AND m.received_at >= e.covers_from AND m.received_at < r.ends_at
		JOIN content_changes c ON c.id = m.content_change_id
		WHERE e.id = $1
		ORDER BY m.received_at, c.id
		LIMIT 500`, id)
	if err != nil {
		return m, fmt.Errorf("email %s: %w", id, err)
	}
	if len(rows) == 0 {
		return m, fmt.Errorf("%w: no content for the digest", mail.ErrCancelled)
	}
	r, unsubscribe, err := s.recipient(ctx, id, &m)
	if err != nil {
		return m, err
	}
	changes := make([]digestChange, len(rows))
	for i, row := range rows {
		changes[i] = digestChange{Title: row.Title, URL: s.contentURL(row.BasePath), ChangeNote: row.ChangeNote,
			PublicUpdatedAt: s.FormatTime(r.Locale, row.PublicUpdatedAt)}
	}
	return s.render(KindDigest, r.Locale, m, map[string]any{
		"Weekly":         rows[0].Frequency == Weekly,
		"ListTitle":      r.ListTitle,
		"Changes":        changes,
		"UnsubscribeURL": unsubscribe,
		"ManageURL":      inLanguage(s.links.ManageLink(), r.Locale),
	})
}

func (s *Service) render(kind, lang string, m mail.Message, data map[string]any) (mail.Message, error) {
	e, err := s.templates.Render(kind, lang, m.To, data)
	if err != nil {
		return m, err
	}
	m.Subject, m.Body = e.Subject, e.Body
	return m, nil
}

func (s *Service) contentURL(basePath string) string {
	return strings.TrimSuffix(s.cfg.WebsiteRoot.String(), "/") + basePath
}

// FormatTime writes t as GOV.UK does in emails, in lang: 10:05am,
// 1 December 2026 (10:05yb, 1 Rhagfyr 2026), Europe/London time.
func (s *Service) FormatTime(lang string, t time.Time) string {
	return s.templates.Locales().Time(lang, t.In(s.london))
}
