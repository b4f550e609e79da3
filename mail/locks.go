package mail

import (
	"context"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// errLocksLost is the outcome of a delivery whose lock session ended while
// it sent: its locks are gone, so it records nothing (the emails stay
// "sending" and their next attempt asks the provider first).
var errLocksLost = errors.New("the session holding the email locks ended")

// lockSession is the one PostgreSQL session in which a Deliverer holds the
// advisory lock of every email it is delivering, whatever the number of
// tasks: one connection, not one per send, and PostgreSQL still releases
// every lock of a worker that dies. Locks are taken and released a batch
// per statement, and the outcomes of a batch are written in the same
// session, so that an outcome is only recorded while its lock is held: if
// the session ends mid-send (a terminated backend, a PostgreSQL restart),
// the outcome write fails and the email is left "sending", as it would be
// after a crash.
//
// Session-level advisory locks are re-entrant, so the session also keeps
// the set of emails it holds: a second delivery of one of them in this
// process is turned away here, as one in another process is by
// PostgreSQL.
type lockSession struct {
	db *sqlx.DB

	mu   sync.Mutex // serialises the session's statements
	conn *sqlx.Conn // nil until first used, and after it ended
	gen  uint64     // counts sessions: locks of an older one are gone

	heldMu sync.Mutex
	held   map[uuid.UUID]struct{}
}

func newLockSession(db *sqlx.DB) *lockSession {
	return &lockSession{db: db, held: map[uuid.UUID]struct{}{}}
}

// lockKey is any stable non-negative key per email.
func lockKey(id uuid.UUID) int64 { return int64(binary.BigEndian.Uint64(id[:8]) >> 1) }

// acquire locks those of ids that nobody else is delivering, and returns
// them with the session they are held in.
func (s *lockSession) acquire(ctx context.Context, ids []uuid.UUID) ([]uuid.UUID, uint64, error) {
	s.heldMu.Lock()
	var free []uuid.UUID
	for _, id := range ids {
		if _, busy := s.held[id]; !busy {
			s.held[id] = struct{}{}
			free = append(free, id)
		}
	}
	s.heldMu.Unlock()
	if len(free) == 0 {
		return nil, 0, nil
	}
	keys := make([]int64, len(free))
	for i, id := range free {
		keys[i] = lockKey(id)
	}

	s.mu.Lock()
	gen, err := s.open(ctx)
	var got []int
	if err == nil {
		// Not cancelled midway: locks taken by a statement that then
		// fails stay held (advisory locks ignore rollbacks), and would be
		// unknown here.
		err = s.conn.SelectContext(context.WithoutCancel(ctx), &got, `
			SELECT i::int FROM unnest($1::bigint[]) WITH ORDINALITY AS t(k, i) WHERE pg_try_advisory_lock(k) ORDER BY i`,
			pq.Array(keys))
		if err != nil {
			s.check(ctx)
		}
	}
	s.mu.Unlock()

	var locked []uuid.UUID
	for _, i := range got {
		locked = append(locked, free[i-1])
	}
	s.forget(unlocked(free, locked))
	if err != nil {
		return nil, 0, err
	}
	return locked, gen, nil
}

// unlocked is all minus those in locked (a subsequence of all).
func unlocked(all, locked []uuid.UUID) []uuid.UUID {
	var rest []uuid.UUID
	j := 0
	for _, id := range all {
		if j < len(locked) && locked[j] == id {
			j++
			continue
		}
		rest = append(rest, id)
	}
	return rest
}

func (s *lockSession) forget(ids []uuid.UUID) {
	s.heldMu.Lock()
	for _, id := range ids {
		delete(s.held, id)
	}
	s.heldMu.Unlock()
}

// release unlocks ids, taken in session gen.
func (s *lockSession) release(gen uint64, ids []uuid.UUID) {
	defer s.forget(ids)
	keys := make([]int64, len(ids))
	for i, id := range ids {
		keys[i] = lockKey(id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil || gen != s.gen {
		return // that session ended, and its locks with it
	}
	ctx := context.Background()
	if _, err := s.conn.ExecContext(ctx, `SELECT pg_advisory_unlock(k) FROM unnest($1::bigint[]) k`, pq.Array(keys)); err != nil {
		// A lock that may still be held must not outlive this delivery:
		// end the session, and with it every lock it holds.
		s.end()
	}
}

// record writes the outcomes of a delivery whose locks were taken in
// session gen, in one statement and so one commit.
func (s *lockSession) record(ctx context.Context, gen uint64, outcomes []outcome) error {
	ids := make([]string, len(outcomes))
	statuses := make([]string, len(outcomes))
	refs := make([]string, len(outcomes))
	lastErrors := make([]string, len(outcomes))
	attempts := make([]int64, len(outcomes))
	putBack := make([]bool, len(outcomes))
	for i, o := range outcomes {
		ids[i], statuses[i], refs[i], lastErrors[i] = o.id.String(), o.status, o.ref, truncate(o.lastError, 1000)
		attempts[i], putBack[i] = int64(o.attempts), o.putBack
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil || gen != s.gen {
		return errLocksLost
	}
	_, err := s.conn.ExecContext(ctx, `
		UPDATE emails e SET status = o.status, attempts = o.attempts, updated_at = now(),
		       provider_reference = CASE WHEN o.put_back THEN e.provider_reference ELSE NULLIF(o.ref, '') END,
		       last_error = CASE WHEN o.put_back THEN e.last_error ELSE NULLIF(o.last_error, '') END,
		       sent_at = CASE WHEN o.status = 'sent' THEN now() END
		FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bool[])
		     AS o(id, status, ref, last_error, attempts, put_back)
		WHERE e.id = o.id`,
		pq.Array(ids), pq.Array(statuses), pq.Array(refs), pq.Array(lastErrors), pq.Array(attempts), pq.Array(putBack))
	if err != nil {
		s.check(ctx)
		return err
	}
	return nil
}

// open starts a session if there is none, and returns its generation.
// s.mu is held.
func (s *lockSession) open(ctx context.Context) (uint64, error) {
	if s.conn != nil {
		return s.gen, nil
	}
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return 0, err
	}
	s.conn = conn
	s.gen++
	return s.gen, nil
}

// check ends the session after a failed statement unless it still
// answers (the statement failed, not the connection). s.mu is held.
func (s *lockSession) check(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if s.conn.PingContext(ctx) != nil {
		s.end()
	}
}

// end closes the session; PostgreSQL releases its locks. s.mu is held.
func (s *lockSession) end() {
	// Never return a connection that may still hold locks to the pool:
	// mark it bad so that it is closed.
	_ = s.conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = s.conn.Close()
	s.conn = nil
}
