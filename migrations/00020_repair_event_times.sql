-- Account events stored before a SET's toe was bounded could be dated far
-- after their receipt (a clock ahead, a toe in milliseconds). Such an event
-- moved its account's cursor past every event to come, so later email
-- changes, and deletions, were recorded superseded. This repairs what was
-- stored, once: an event dated more than 60 s after its receipt happened at
-- its receipt (as verification now requires), each cursor is the newest
-- applied event's time again, and the events wrongly superseded (every
-- deletion, and each email change not older than the repaired cursor) are
-- pending again, for the sweep to apply.

-- +goose Up
UPDATE account_events SET occurred_at = received_at
WHERE occurred_at > received_at + interval '60 seconds';

-- The outcomes that moved the cursor (events/process.go).
UPDATE account_event_cursors c SET last_applied_at = a.newest
FROM (
    SELECT sub, max(occurred_at) AS newest FROM account_events
    WHERE status = 'done' AND outcome IN ('applied', 'no_subscriber')
    GROUP BY sub
) a
WHERE c.sub = a.sub AND c.last_applied_at > a.newest;

UPDATE account_events e SET status = 'pending', outcome = NULL, processed_at = NULL
WHERE e.status = 'done' AND e.outcome = 'superseded'
  AND (e.kind = 'deleted' OR NOT EXISTS (
      SELECT 1 FROM account_event_cursors c WHERE c.sub = e.sub AND e.occurred_at < c.last_applied_at));

-- +goose Down
-- The repair cannot be undone: the times it replaced are not kept.
SELECT 1;
