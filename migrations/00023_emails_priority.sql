-- Each email says how urgent it is, so that a fan-out of alerts never
-- holds up a sign-in link. transactional (the default: sign-in,
-- confirmation, address confirmation, use One Login, subscribed) is
-- delivered before anything else; high (alerts about content published
-- with priority "high") before normal (other alerts and digests). The
-- worker queues each email by it and the shared provider rate limit keeps
-- a reserve for transactional emails.

-- +goose Up
ALTER TABLE emails ADD COLUMN priority text NOT NULL DEFAULT 'transactional'
    CHECK (priority IN ('transactional', 'high', 'normal'));
-- The sweeps' work list, read one priority at a time, most urgent first.
CREATE INDEX emails_unfinished_priority_idx ON emails (priority, created_at, id) WHERE status IN ('pending', 'sending');
DROP INDEX emails_unfinished_idx;

-- +goose Down
CREATE INDEX emails_unfinished_idx ON emails (created_at) WHERE status IN ('pending', 'sending');
DROP INDEX emails_unfinished_priority_idx;
ALTER TABLE emails DROP COLUMN priority;
