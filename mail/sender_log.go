package mail

import (
	"context"
	"log/slog"
)

// LogSender "delivers" by writing the email to the log: the development
// default. The outbox row keeps the email for the dev outbox page. With
// withBody false only the envelope is logged, since bodies hold sign-in
// links.
type LogSender struct {
	withBody bool
}

// NewLogSender returns a LogSender; withBody should be true only on a
// local setup.
func NewLogSender(withBody bool) *LogSender {
	return &LogSender{withBody: withBody}
}

// Send logs m and returns its id as the reference.
func (s *LogSender) Send(ctx context.Context, m Message) (string, error) {
	attrs := []any{"email_id", m.ID, "to", m.To, "subject", m.Subject}
	if s.withBody {
		attrs = append(attrs, "body", m.Body)
		if m.ListUnsubscribeURL != "" {
			attrs = append(attrs, "list_unsubscribe", m.ListUnsubscribeURL)
		}
	}
	slog.InfoContext(ctx, "email", attrs...)
	return m.ID.String(), nil
}
