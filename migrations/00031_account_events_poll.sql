-- +goose Up
-- The worker finds new events the way it finds new emails (00006): by the
-- id of the transaction that stored each one, so the intake stores an
-- event in one statement and leaves enqueueing to the worker, which hands
-- events over in batches. Events stored before this migration get txid 0
-- (a constant default rewrites nothing) and so are found by the first poll.
ALTER TABLE account_events ADD COLUMN txid xid8 NOT NULL DEFAULT '0';
ALTER TABLE account_events ALTER COLUMN txid SET DEFAULT pg_current_xact_id();
CREATE INDEX account_events_pending_txid_idx ON account_events (txid, id) WHERE status = 'pending';

-- +goose Down
DROP INDEX account_events_pending_txid_idx;
ALTER TABLE account_events DROP COLUMN txid;
