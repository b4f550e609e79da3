package mail_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"email-alert/internal/testkit/testdb"
	"email-alert/mail"
)

// clockSender records when each email reached it.
type clockSender struct {
	mu   sync.Mutex
	sent map[uuid.UUID][]time.Time
}

func (s *clockSender) Send(_ context.Context, m mail.Message) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent[m.ID] = append(s.sent[m.ID], time.Now())
	return "ref-" + m.ID.String(), nil
}

func (s *clockSender) times() (all []time.Time, duplicates int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ts := range s.sent {
		all = append(all, ts...)
		duplicates += len(ts) - 1
	}
	slices.SortFunc(all, func(a, b time.Time) int { return a.Compare(b) })
	return all, duplicates
}

func (s *clockSender) at(id uuid.UUID) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ts := s.sent[id]; len(ts) > 0 {
		return ts[0], true
	}
	return time.Time{}, false
}

// workers runs n workers as internal/app wires them (strict queue
// priority, rate-limited deliveries put back without using a retry), all
// taking from one shared rate limit of count per per, and a dispatcher
// polling the outbox. It returns their database and the limit.
func workers(t *testing.T, n, count int, per time.Duration, sender mail.Sender) (*sqlx.DB, *mail.RateLimit) {
	t.Helper()
	db, _ := testdb.New(t)
	rdb := testdb.Redis(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // runs before the database closes
	prefix := testdb.Queue(t)
	limit := mail.NewRateLimit(rdb, prefix+":email-rate-limit", count, per)
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	queues := map[string]int{prefix + ":email": 3, prefix + ":bulk-high": 2, prefix + ":bulk": 1}
	t.Cleanup(func() {
		for q := range queues {
			_ = inspector.DeleteQueue(q, true)
		}
	})
	for range n {
		srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
			Concurrency: 4, Queues: queues, StrictPriority: true,
			IsFailure: mail.IsFailure, RetryDelayFunc: mail.RetryDelay,
			DelayedTaskCheckInterval: 100 * time.Millisecond, TaskCheckInterval: 20 * time.Millisecond,
			LogLevel: asynq.FatalLevel,
		})
		d := mail.NewDeliverer(db, sender)
		d.Limit(limit)
		mux := asynq.NewServeMux()
		mux.Handle(mail.TypeDeliver, d)
		if err := srv.Start(mux); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
	}
	dispatcher := mail.NewDispatcher(db, asynq.NewClientFromRedisClient(rdb), prefix+":email").
		Route(mail.High, prefix+":bulk-high").Route(mail.Normal, prefix+":bulk")
	go func() { _ = dispatcher.Poll(ctx, 20*time.Millisecond) }()
	return db, limit
}

func writeBulk(t *testing.T, db *sqlx.DB, n int) {
	t.Helper()
	for range n {
		if _, err := mail.Write(context.Background(), db, mail.Email{
			Kind: "alert", To: "ann@example.com", Subject: "S", Body: "B", Priority: mail.Normal,
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRateLimitIsSharedByEveryWorker: two workers on one PostgreSQL and
// Redis hand the sender at most the limit (plus its burst) in any window,
// and every email still goes out, once, without using up its attempts.
func TestRateLimitIsSharedByEveryWorker(t *testing.T) {
	t.Parallel()
	const (
		count  = 20 // per second
		emails = 90
	)
	sender := &clockSender{sent: map[uuid.UUID][]time.Time{}}
	db, limit := workers(t, 2, count, time.Second, sender)
	writeBulk(t, db, emails)

	deadline := time.Now().Add(30 * time.Second)
	for {
		all, _ := sender.times()
		if len(all) >= emails {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d emails sent in 30 s: the rate limit dropped or stalled some", len(all), emails)
		}
		time.Sleep(50 * time.Millisecond)
	}
	all, duplicates := sender.times()
	if duplicates != 0 {
		t.Errorf("%d emails sent twice", duplicates)
	}
	most := 0
	for i, start := range all {
		j := i
		for j < len(all) && all[j].Sub(start) < time.Second {
			j++
		}
		most = max(most, j-i)
	}
	if most > count+limit.Burst() {
		t.Errorf("%d emails in one second, want at most %d + a burst of %d", most, count, limit.Burst())
	}
	if most < count/2 {
		t.Errorf("at most %d emails in any second: the limit of %d/s is not used", most, count)
	}
	// The sender has every email; each is marked sent just after it was
	// handed over, so wait for the last marks before reading attempts.
	var unmarked int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if err := db.Get(&unmarked, `SELECT count(*) FROM emails WHERE status <> 'sent'`); err != nil {
			t.Fatal(err)
		}
		if unmarked == 0 || time.Now().After(deadline) {
			break
		}
	}
	if unmarked != 0 {
		t.Errorf("%d emails handed to the sender but not marked sent", unmarked)
	}
	var wrong int
	if err := db.Get(&wrong, `SELECT count(*) FROM emails WHERE attempts <> 1`); err != nil {
		t.Fatal(err)
	}
	if wrong != 0 {
		t.Errorf("%d emails not sent on their first attempt: waiting for the limit used up attempts", wrong)
	}
}

// TestTransactionalEmailIsNotStuckBehindBulk: with a backlog of alerts
// paced by the rate limit, a sign-in email goes out at once, long before
// the backlog drains.
func TestTransactionalEmailIsNotStuckBehindBulk(t *testing.T) {
	t.Parallel()
	sender := &clockSender{sent: map[uuid.UUID][]time.Time{}}
	db, _ := workers(t, 2, 10, time.Second, sender) // the 100 alerts take 10 s
	writeBulk(t, db, 100)
	time.Sleep(time.Second) // the alerts are queued and being paced

	written := time.Now()
	id, err := mail.Write(context.Background(), db, mail.Email{Kind: mail.KindSignIn, To: "bob@example.com", Subject: "S", Body: "B"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if at, ok := sender.at(id); ok {
			all, _ := sender.times()
			if after := at.Sub(written); after > 2*time.Second {
				t.Errorf("the sign-in email went out %s after it was written, behind the alerts", after)
			}
			if len(all) > 60 {
				t.Errorf("the sign-in email went out after %d of the 100 alerts", len(all)-1)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the sign-in email was not sent within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
