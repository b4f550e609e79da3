-- A list's match_keys held every value of every criterion, so a list of one
-- organisation's news was a candidate for every piece of news published,
-- and each candidate costs the exact any/all check. A matching change meets
-- every criterion of the list, so the keys of one criterion are enough: the
-- content id, and the tags or links rule needing the fewest keys (an all
-- rule one, its first value; an any rule each of its values; ties to tags
-- before links, then to the key in byte order), else a document type, then
-- the supertypes, as subscribers.Criteria.MatchKeys now computes for new
-- lists.
--
-- Lists are created rarely and matched on every content change, so the GIN
-- index no longer defers its inserts to a pending list, which every lookup
-- scans in full until a vacuum merges it (4 MB of it took 63 ms a lookup).

-- +goose Up
ALTER INDEX subscriber_lists_match_keys_idx SET (fastupdate = off);

UPDATE subscriber_lists l SET match_keys = k.keys
FROM (
    SELECT l.id, ARRAY(
        SELECT x FROM unnest(
            CASE WHEN l.content_id IS NOT NULL THEN ARRAY['content_id/' || l.content_id::text] ELSE '{}'::text[] END
            || coalesce(
                (SELECT g.keys
                 FROM (SELECT r.field_rank, r.key,
                              CASE WHEN r.rule ? 'all'
                                   THEN ARRAY(SELECT r.field || '/' || r.key || '/' || v
                                              FROM jsonb_array_elements_text(r.rule -> 'all') WITH ORDINALITY AS a (v, n)
                                              ORDER BY n LIMIT 1)
                                   ELSE ARRAY(SELECT r.field || '/' || r.key || '/' || v
                                              FROM jsonb_array_elements_text(r.rule -> 'any') AS a (v))
                              END AS keys
                       FROM (SELECT 'tags' AS field, 0 AS field_rank, e.key, e.value AS rule FROM jsonb_each(l.tags) e
                             UNION ALL
                             SELECT 'links', 1, e.key, e.value FROM jsonb_each(l.links) e) r) g
                 WHERE cardinality(g.keys) > 0
                 ORDER BY cardinality(g.keys), g.field_rank, g.key COLLATE "C" LIMIT 1),
                CASE WHEN l.document_type <> '' THEN ARRAY['document_type/' || l.document_type]
                     WHEN l.email_document_supertype <> '' THEN ARRAY['email_document_supertype/' || l.email_document_supertype]
                     WHEN l.government_document_supertype <> '' THEN ARRAY['government_document_supertype/' || l.government_document_supertype]
                     ELSE '{}'::text[] END)
        ) AS x
        ORDER BY x COLLATE "C") AS keys
    FROM subscriber_lists l
) k
WHERE k.id = l.id AND l.match_keys IS DISTINCT FROM k.keys;

SELECT gin_clean_pending_list('subscriber_lists_match_keys_idx'::regclass);

-- +goose Down
-- The narrower keys find every list the wider ones did; only the pending
-- list comes back.
ALTER INDEX subscriber_lists_match_keys_idx SET (fastupdate = on);
