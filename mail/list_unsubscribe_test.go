package mail_test

import (
	"context"
	"sync"
	"testing"

	"github.com/google/uuid"

	"email-alert/internal/testkit/testdb"
	"email-alert/mail"
)

// messageSender records every message it is given.
type messageSender struct {
	mu   sync.Mutex
	sent []mail.Message
}

func (s *messageSender) Send(_ context.Context, m mail.Message) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, m)
	return "ref", nil
}

// The one-click URL written with an email reaches the sender with it, and
// is emptied with the body once the email has been delivered a while.
func TestListUnsubscribeURLKeptUntilPurged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := testdb.New(t)
	const oneClick = "https://www.example/email/unsubscribe/one-click/x?token=t"
	list, err := mail.Write(ctx, db, mail.Email{Kind: "subscribed", To: "ann@example.com", Subject: "S", Body: "B", ListUnsubscribeURL: oneClick})
	if err != nil {
		t.Fatal(err)
	}
	transactional := write(t, db, "bob@example.com")
	sender := &messageSender{}
	d := mail.NewDeliverer(db, sender)
	if err := d.DeliverBatch(ctx, []uuid.UUID{list, transactional}); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range sender.sent {
		got[m.To] = m.ListUnsubscribeURL
	}
	if got["ann@example.com"] != oneClick || got["bob@example.com"] != "" || len(got) != 2 {
		t.Errorf("List-Unsubscribe URLs sent = %q, want ann's %q and none for bob", got, oneClick)
	}

	if _, err := db.Exec(`UPDATE emails SET sent_at = now() - interval '8 days'`); err != nil {
		t.Fatal(err)
	}
	if _, err := mail.Purge(ctx, db); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := db.Get(&left, `SELECT count(*) FROM emails WHERE list_unsubscribe_url IS NOT NULL`); err != nil || left != 0 {
		t.Errorf("%d one-click URLs left after the purge (%v), want 0", left, err)
	}
}
