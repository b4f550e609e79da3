-- A subscriber merged into another (an address change that met a
-- subscriber with the address) keeps its id, so the unsubscribe links of
-- the emails it was sent name it, while its subscriptions now belong to
-- the one it merged into: followed, such a link said "You're not
-- subscribed" while the emails went on. merged_into records where each
-- merged subscriber went, so that a link follows the merge. Earlier merges
-- are read back from the audit trail, which records every one.

-- +goose Up
ALTER TABLE subscribers ADD COLUMN merged_into bigint REFERENCES subscribers (id) ON DELETE SET NULL;
-- Deleting a subscriber finds those merged into it.
CREATE INDEX subscribers_merged_into_idx ON subscribers (merged_into) WHERE merged_into IS NOT NULL;

UPDATE subscribers s SET merged_into = m.into_id
FROM (
    SELECT DISTINCT ON (a.details ->> 'from_subscriber_id')
           (a.details ->> 'from_subscriber_id')::bigint AS from_id,
           (a.details ->> 'into_subscriber_id')::bigint AS into_id
    FROM subscriber_audit a
    WHERE a.action = 'merged' AND a.details ? 'from_subscriber_id' AND a.details ? 'into_subscriber_id'
    ORDER BY a.details ->> 'from_subscriber_id', a.id DESC
) m
WHERE s.id = m.from_id AND s.address IS NULL AND m.into_id <> s.id
  AND EXISTS (SELECT 1 FROM subscribers i WHERE i.id = m.into_id);

-- +goose Down
ALTER TABLE subscribers DROP COLUMN merged_into;
