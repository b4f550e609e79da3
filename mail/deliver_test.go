package mail_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
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

// fakeSender records what it sends and fails as told.
type fakeSender struct {
	mu    sync.Mutex
	sent  map[uuid.UUID]int
	fail  error
	delay time.Duration
}

func newFakeSender() *fakeSender { return &fakeSender{sent: map[uuid.UUID]int{}} }

func (s *fakeSender) Send(ctx context.Context, m mail.Message) (string, error) {
	time.Sleep(s.delay)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return "", s.fail
	}
	s.sent[m.ID]++
	return "ref-" + m.ID.String(), nil
}

func (s *fakeSender) count(id uuid.UUID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent[id]
}

// findingSender is a fakeSender that can also be asked what it sent.
type findingSender struct{ *fakeSender }

func (s findingSender) Find(_ context.Context, id uuid.UUID) (string, bool, error) {
	n := s.count(id)
	return "ref-" + id.String(), n > 0, nil
}

func write(t *testing.T, db *sqlx.DB, to string) uuid.UUID {
	t.Helper()
	id, err := mail.Write(context.Background(), db, mail.Email{Kind: "test", To: to, Subject: "Hello", Body: "Body"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

type state struct {
	Status    string  `db:"status"`
	Attempts  int     `db:"attempts"`
	LastError *string `db:"last_error"`
	Reference *string `db:"provider_reference"`
}

func stateOf(t *testing.T, db *sqlx.DB, id uuid.UUID) state {
	t.Helper()
	var s state
	if err := db.Get(&s, `SELECT status, attempts, last_error, provider_reference FROM emails WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDeliverSendsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := testdb.New(t)
	sender := newFakeSender()
	d := mail.NewDeliverer(db, sender)
	id := write(t, db, "ann@example.com")

	for range 3 {
		if err := d.Deliver(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if n := sender.count(id); n != 1 {
		t.Errorf("sent %d times, want 1", n)
	}
	s := stateOf(t, db, id)
	if s.Status != "sent" || s.Attempts != 1 || s.Reference == nil || *s.Reference != "ref-"+id.String() {
		t.Errorf("state %+v, want sent once with the provider's reference", s)
	}
}

func TestDeliverConcurrentlySendsOnce(t *testing.T) {
	t.Parallel()
	db, _ := testdb.New(t)
	sender := newFakeSender()
	sender.delay = 20 * time.Millisecond
	d := mail.NewDeliverer(db, sender)
	id := write(t, db, "ann@example.com")

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.Deliver(context.Background(), id); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := sender.count(id); n != 1 {
		t.Errorf("sent %d times by 8 concurrent deliveries, want 1", n)
	}
}

func TestDeliverFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := testdb.New(t)
	sender := newFakeSender()
	d := mail.NewDeliverer(db, sender)

	transient := write(t, db, "ann@example.com")
	sender.fail = errors.New("connection refused")
	if err := d.Deliver(ctx, transient); err == nil {
		t.Fatal("a failed send returned no error: asynq would not retry it")
	}
	if s := stateOf(t, db, transient); s.Status != "pending" || s.Attempts != 1 || s.LastError == nil {
		t.Errorf("after a transient failure: %+v, want pending with the error", s)
	}
	sender.fail = nil
	if err := d.Deliver(ctx, transient); err != nil {
		t.Fatal(err)
	}
	if s := stateOf(t, db, transient); s.Status != "sent" || s.Attempts != 2 || s.LastError != nil {
		t.Errorf("after the retry: %+v, want sent on attempt 2", s)
	}

	permanent := write(t, db, "not-an-address@invalid")
	sender.fail = &mail.PermanentError{Err: errors.New("email_address Not a valid email address")}
	err := d.Deliver(ctx, permanent)
	if !errors.Is(err, asynq.SkipRetry) {
		t.Errorf("permanent failure: err = %v, want asynq.SkipRetry", err)
	}
	if s := stateOf(t, db, permanent); s.Status != "failed" || s.LastError == nil {
		t.Errorf("after a permanent failure: %+v, want failed", s)
	}
	sender.fail = nil
	if err := d.Deliver(ctx, permanent); err != nil || sender.count(permanent) != 0 {
		t.Errorf("a failed email was sent again (%v)", err)
	}

	exhausted := write(t, db, "bob@example.com")
	if _, err := db.Exec(`UPDATE emails SET attempts = $2 WHERE id = $1`, exhausted, mail.MaxAttempts); err != nil {
		t.Fatal(err)
	}
	if err := d.Deliver(ctx, exhausted); err != nil {
		t.Fatal(err)
	}
	if s := stateOf(t, db, exhausted); s.Status != "failed" || sender.count(exhausted) != 0 {
		t.Errorf("after %d attempts: %+v, want failed without sending", mail.MaxAttempts, s)
	}
	if err := d.Deliver(ctx, uuid.New()); err != nil {
		t.Errorf("unknown email: %v, want nothing to do", err)
	}
}

// TestDeliverAfterACrashMidSend: a worker died after marking the email
// "sending". A sender that can be asked is asked before sending again.
func TestDeliverAfterACrashMidSend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := testdb.New(t)
	sender := findingSender{newFakeSender()}
	d := mail.NewDeliverer(db, sender)

	wentOut := write(t, db, "ann@example.com")
	lost := write(t, db, "bob@example.com")
	if _, err := sender.Send(ctx, mail.Message{ID: wentOut}); err != nil { // the provider got it; then the crash
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE emails SET status = 'sending', attempts = 1`); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uuid.UUID{wentOut, lost} {
		if err := d.Deliver(ctx, id); err != nil {
			t.Fatal(err)
		}
		if n := sender.count(id); n != 1 {
			t.Errorf("email %s sent %d times, want exactly 1", id, n)
		}
		if s := stateOf(t, db, id); s.Status != "sent" {
			t.Errorf("email %s: %+v, want sent", id, s)
		}
	}
}

func TestSweepEnqueuesWhatRedisLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := testdb.New(t)
	rdb := testdb.Redis(t)
	queue := testdb.Queue(t)
	client := asynq.NewClientFromRedisClient(rdb)
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	t.Cleanup(func() { _ = inspector.DeleteQueue(queue, true) })
	dispatcher := mail.NewDispatcher(db, client, queue)

	ids := []uuid.UUID{write(t, db, "a@example.com"), write(t, db, "b@example.com"), write(t, db, "c@example.com")}
	done := write(t, db, "d@example.com")
	if _, err := db.Exec(`UPDATE emails SET status = 'sent', sent_at = now() WHERE id = $1`, done); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second sweep finds the tasks already queued
		n, err := dispatcher.Sweep(ctx, 0, 0)
		if err != nil || n != len(ids) {
			t.Fatalf("Sweep = %d, %v; want %d unfinished emails handed over", n, err, len(ids))
		}
	}
	pending, err := inspector.ListPendingTasks(queue)
	if err != nil {
		t.Fatal(err)
	}
	var queued []uuid.UUID
	for _, task := range pending {
		var p struct {
			EmailIDs []uuid.UUID `json:"email_ids"`
		}
		if err := json.Unmarshal(task.Payload, &p); err != nil {
			t.Fatal(err)
		}
		queued = append(queued, p.EmailIDs...)
	}
	slices.SortFunc(queued, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	if len(pending) != 1 || !slices.Equal(queued, ids) {
		t.Errorf("after two sweeps, %d tasks queued for emails %v, want one batch of %v (no duplicates)", len(pending), queued, ids)
	}

	// Redis loses everything; the next sweep puts it back.
	if err := inspector.DeleteQueue(queue, true); err != nil {
		t.Fatal(err)
	}
	if _, err := dispatcher.Sweep(ctx, 0, 0); err != nil {
		t.Fatal(err)
	}
	// The client remembers it registered the queue, so the Inspector no
	// longer lists it; the server reads the pending list itself.
	if n := rdb.LLen(ctx, "asynq:{"+queue+"}:pending").Val(); n != 1 {
		t.Errorf("%d tasks queued after Redis lost them, want one batch", n)
	}
	if n, _ := dispatcher.Sweep(ctx, time.Hour, 0); n != 0 {
		t.Errorf("Sweep(olderThan 1h) handed over %d fresh emails, want 0", n)
	}
}

func TestPurge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := testdb.New(t)
	old, recent, pending := write(t, db, "a@example.com"), write(t, db, "b@example.com"), write(t, db, "c@example.com")
	if _, err := db.Exec(`UPDATE emails SET status = 'sent', sent_at = now() - interval '8 days' WHERE id = $1`, old); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE emails SET status = 'sent', sent_at = now() - interval '6 days' WHERE id = $1`, recent); err != nil {
		t.Fatal(err)
	}
	n, err := mail.Purge(ctx, db)
	if err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v; want 1", n, err)
	}
	bodies := map[uuid.UUID]string{}
	rows, err := db.Query(`SELECT id, body FROM emails`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id uuid.UUID
		var body string
		if err := rows.Scan(&id, &body); err != nil {
			t.Fatal(err)
		}
		bodies[id] = body
	}
	if bodies[old] != "" || bodies[recent] == "" || bodies[pending] == "" {
		t.Errorf("bodies after purge: %v; want only the 8-day-old one emptied", bodies)
	}
}

// pipeline runs the real delivery pipeline in-process: the dispatcher
// polls the outbox every 20 ms and enqueues, asynq delivers to a fake.
func pipeline(t *testing.T) (*sqlx.DB, *fakeSender) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	db, _ := testdb.New(t)
	rdb := testdb.Redis(t)
	queue := testdb.Queue(t)
	sender := newFakeSender()
	dispatcher := mail.NewDispatcher(db, asynq.NewClientFromRedisClient(rdb), queue)
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{Queues: map[string]int{queue: 1}, LogLevel: asynq.FatalLevel})
	mux := asynq.NewServeMux()
	mux.Handle(mail.TypeDeliver, mail.NewDeliverer(db, sender))
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	go func() { _ = dispatcher.Poll(ctx, 20*time.Millisecond) }()
	return db, sender
}

// waitSent waits up to 10 s for email id to be sent once.
func waitSent(t *testing.T, sender *fakeSender, id uuid.UUID) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for sender.count(id) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if sender.count(id) != 1 {
		t.Fatalf("email %s sent %d times in 10 s, want once", id, sender.count(id))
	}
}

// TestWorkerDeliversAtCommit: a write commits, the dispatcher's poll finds
// it, asynq delivers; a rolled-back email is never sent.
func TestWorkerDeliversAtCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, sender := pipeline(t)

	tx := db.MustBegin()
	id, err := mail.Write(ctx, tx, mail.Email{Kind: "test", To: "ann@example.com", Subject: "S", Body: "B"})
	if err != nil {
		t.Fatal(err)
	}
	rolledBack, err := mail.Write(ctx, tx, mail.Email{Kind: "test", To: "bob@example.com", Subject: "S", Body: "B"})
	if err != nil {
		t.Fatal(err)
	}
	_ = rolledBack
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	tx2 := db.MustBegin()
	never, err := mail.Write(ctx, tx2, mail.Email{Kind: "test", To: "eve@example.com", Subject: "S", Body: "B"})
	if err != nil {
		t.Fatal(err)
	}
	_ = tx2.Rollback()

	waitSent(t, sender, id)
	if sender.count(never) != 0 {
		t.Errorf("an email from a rolled-back transaction was sent")
	}
}

// TestPollFindsAnEmailCommittedLate: an email written by a transaction that
// started before others, and commits after the poller has enqueued theirs,
// is still found by the poll (the horizon waits for it), not left to the
// minute sweep.
func TestPollFindsAnEmailCommittedLate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, sender := pipeline(t)
	write := func(tx *sqlx.Tx, to string) uuid.UUID {
		t.Helper()
		id, err := mail.Write(ctx, tx, mail.Email{Kind: "test", To: to, Subject: "S", Body: "B"})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	slow := db.MustBegin()
	late := write(slow, "slow@example.com") // its transaction id is older than the next ones
	for i := range 3 {
		tx := db.MustBegin()
		id := write(tx, fmt.Sprintf("quick%d@example.com", i))
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		waitSent(t, sender, id)
	}
	if err := slow.Commit(); err != nil {
		t.Fatal(err)
	}
	waitSent(t, sender, late)
}

// dyingSender hands the email to its provider and then, the first time,
// kills the PostgreSQL connection of the delivery (the one holding the
// email's advisory lock), as a network failure or a restart would: the
// email went out, but cannot be marked sent.
type dyingSender struct {
	mail.Sender
	db   *sqlx.DB
	once sync.Once
}

func (s *dyingSender) Send(ctx context.Context, m mail.Message) (string, error) {
	ref, err := s.Sender.Send(ctx, m)
	s.once.Do(func() {
		key := int64(binary.BigEndian.Uint64(m.ID[:8]) >> 1) // the delivery's lock on this email
		_, _ = s.db.Exec(`
			SELECT pg_terminate_backend(pid) FROM pg_locks
			WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
			  AND (classid::bigint << 32 | objid::bigint) = $1`, key)
	})
	return ref, err
}

// TestDeliverAfterTheConnectionDiesMidSend: the connection dies after the
// provider accepted the email and before it was marked sent. The next
// attempt asks a sender that can be asked (Notify, by reference) and sends
// nothing again; one that cannot (SMTP, the log) sends it twice: at least
// once.
func TestDeliverAfterTheConnectionDiesMidSend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tt := range []struct {
		name  string
		asked bool
		want  int
	}{
		{"a sender that can be asked", true, 1},
		{"a sender that cannot", false, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := testdb.New(t)
			base := newFakeSender()
			var sender mail.Sender = &dyingSender{Sender: base, db: db}
			if tt.asked {
				sender = dyingFinder{sender.(*dyingSender), findingSender{base}}
			}
			d := mail.NewDeliverer(db, sender)
			id := write(t, db, "ann@example.com")
			if err := d.Deliver(ctx, id); err == nil {
				t.Fatal("a delivery whose connection died returned no error: it would not be tried again")
			}
			if s := stateOf(t, db, id); s.Status != "sending" {
				t.Fatalf("after the connection died: %+v, want sending", s)
			}
			if err := d.Deliver(ctx, id); err != nil {
				t.Fatal(err)
			}
			if s := stateOf(t, db, id); s.Status != "sent" {
				t.Errorf("after the retry: %+v, want sent", s)
			}
			if n := base.count(id); n != tt.want {
				t.Errorf("sent %d times, want %d", n, tt.want)
			}
		})
	}
}

type dyingFinder struct {
	*dyingSender
	findingSender
}

func (s dyingFinder) Send(ctx context.Context, m mail.Message) (string, error) {
	return s.dyingSender.Send(ctx, m)
}

// lockingSender is a fakeSender that, as it sends, has another transaction
// lock the email's row, the first time, so that recording the outcome
// waits for it.
type lockingSender struct {
	*fakeSender
	db      *sqlx.DB
	blocker *sqlx.Tx
}

func (s *lockingSender) Send(ctx context.Context, m mail.Message) (string, error) {
	if s.blocker != nil {
		return s.fakeSender.Send(ctx, m)
	}
	tx, err := s.db.Beginx()
	if err != nil {
		return "", err
	}
	if _, err := tx.Exec(`SELECT 1 FROM emails WHERE id = $1 FOR UPDATE`, m.ID); err != nil {
		return "", err
	}
	s.blocker = tx
	return s.fakeSender.Send(ctx, m)
}

// TestDeliverWhenRecordingHangs: an outcome that cannot be written in time
// fails the delivery, leaving the email "sending" as a crash would, instead
// of holding the worker's lock session for ever; the next attempt asks the
// provider and does not send it again.
func TestDeliverWhenRecordingHangs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := testdb.New(t)
	sender := &lockingSender{fakeSender: newFakeSender(), db: db}
	d := mail.NewDeliverer(db, struct {
		mail.Sender
		mail.Finder
	}{sender, findingSender{sender.fakeSender}})
	d.SetRecordTimeout(200 * time.Millisecond)
	id := write(t, db, "ann@example.com")

	done := make(chan error, 1)
	go func() { done <- d.Deliver(ctx, id) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("delivery whose outcome could not be written succeeded")
		}
	case <-time.After(time.Minute):
		t.Fatal("delivery still waiting on its outcome's write after a minute")
	}
	if err := sender.blocker.Rollback(); err != nil {
		t.Fatal(err)
	}
	if s := stateOf(t, db, id); s.Status != "sending" {
		t.Errorf("after the failed write: %+v, want sending", s)
	}

	if err := d.Deliver(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n := sender.count(id); n != 1 {
		t.Errorf("sent %d times, want exactly 1", n)
	}
	if s := stateOf(t, db, id); s.Status != "sent" {
		t.Errorf("after the next attempt: %+v, want sent", s)
	}
}
