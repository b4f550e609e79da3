package subscribers

import (
	"context"
	"net/url"
	"strings"

	"github.com/jmoiron/sqlx"

	"email-alert/mail"
)

// SubscribedEmail returns the OnSubscribed hook that writes the "You've
// subscribed to: <title>" email to the outbox, in the transaction that
// creates the subscription.
func SubscribedEmail(templates *mail.Templates, publicURL *url.URL) OnSubscribed {
	base := strings.TrimSuffix(publicURL.String(), "/")
	return func(ctx context.Context, tx *sqlx.Tx, sub Subscription) error {
		if sub.Subscriber.Address == nil {
			return nil
		}
		var pageURL string
		if sub.List.URL != nil {
			pageURL = "https://www.gov.uk" + *sub.List.URL
		}
		e, err := templates.Render(mail.KindSubscribed, *sub.Subscriber.Address, map[string]any{
			"Title":             sub.List.Title,
			"FrequencySentence": sub.Frequency.Sentence(),
			"URL":               pageURL,
			"ManageURL":         base + "/email/manage/authenticate",
		})
		if err != nil {
			return err
		}
		_, err = mail.Write(ctx, tx, e)
		return err
	}
}
