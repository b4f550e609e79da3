-- Account lifecycle events: the durable inbox, per-account ordering, and
-- tombstones of deleted accounts.

-- +goose Up
CREATE TABLE account_events (
    -- The SET's jti, or for the account-api calls their Idempotency-Key
    -- (or a random id): a repeated id is the same event.
    id           text PRIMARY KEY,
    -- email_changed, deleted, or unknown (stored and acknowledged, not processed).
    kind         text NOT NULL CHECK (kind IN ('email_changed', 'deleted', 'unknown')),
    event_type   text NOT NULL,
    sub          text NOT NULL,
    payload      jsonb NOT NULL,
    -- When the change happened: a SET's toe, else its iat; a call's receipt.
    occurred_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text,
    -- What processing did: applied, superseded, ignored_unverified,
    -- no_subscriber, account_deleted, not_processed.
    outcome      text,
    processed_at timestamptz
);
CREATE INDEX account_events_pending_idx ON account_events (received_at) WHERE status = 'pending';
CREATE INDEX account_events_sub_idx ON account_events (sub, occurred_at);

-- The newest event applied per account: older ones arriving later are
-- superseded. The row is also the per-account lock of processing.
CREATE TABLE account_event_cursors (
    sub             text PRIMARY KEY,
    last_applied_at timestamptz -- NULL: nothing applied yet
);

-- Accounts deleted: later events and sessions for them do nothing.
CREATE TABLE deleted_accounts (
    sub        text PRIMARY KEY,
    event_id   text NOT NULL,
    deleted_at timestamptz NOT NULL DEFAULT now()
);

-- For the job that forgets the addresses of subscribers with nothing
-- active and nothing ended recently.
CREATE INDEX subscriptions_ended_at_idx ON subscriptions (subscriber_id, ended_at);

-- +goose Down
DROP INDEX subscriptions_ended_at_idx;
DROP TABLE deleted_accounts;
DROP TABLE account_event_cursors;
DROP TABLE account_events;
