-- Matching criteria on subscriber lists (email-alert-api's tags, links,
-- document types and content_id), so that content changes can be matched
-- to the lists whose subscribers want to hear about them.

-- +goose Up
ALTER TABLE subscriber_lists
    -- tags and links in their canonical form: {"key": {"any"|"all": [values]}},
    -- keys and values sorted, values unique.
    ADD COLUMN tags                          jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN links                         jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN document_type                 text NOT NULL DEFAULT '',
    ADD COLUMN email_document_supertype      text NOT NULL DEFAULT '',
    ADD COLUMN government_document_supertype text NOT NULL DEFAULT '',
    ADD COLUMN content_id                    uuid,
    -- SHA-256 of the canonical criteria: lists with exactly the same
    -- criteria have the same digest (find-exact). NULL: no criteria.
    ADD COLUMN criteria_digest               bytea,
    -- Every (field, key, value) a content change must have at least one of
    -- for the list to match it ("tags:topics:x", "document_type:y",
    -- "content_id:z"). The GIN index turns "which lists can match this
    -- change" into an index lookup by the change's own keys; the exact
    -- any/all rule is then checked on those candidates only.
    ADD COLUMN match_keys                    text[] NOT NULL DEFAULT '{}';
CREATE INDEX subscriber_lists_match_keys_idx ON subscriber_lists USING gin (match_keys);
CREATE INDEX subscriber_lists_criteria_digest_idx ON subscriber_lists (criteria_digest)
    WHERE criteria_digest IS NOT NULL;
-- GET /subscriber-lists/metrics/*path counts the lists of a GOV.UK path.
CREATE INDEX subscriber_lists_url_idx ON subscriber_lists (url) WHERE url IS NOT NULL;

-- The subscribers of a list at one frequency, in subscriber id order: the
-- keyset that immediate fan-out and digest runs walk in bounded batches.
CREATE INDEX subscriptions_active_by_list_frequency_idx
    ON subscriptions (subscriber_list_id, frequency, subscriber_id) WHERE ended_at IS NULL;

-- +goose Down
DROP INDEX subscriptions_active_by_list_frequency_idx;
DROP INDEX subscriber_lists_url_idx;
DROP INDEX subscriber_lists_criteria_digest_idx;
DROP INDEX subscriber_lists_match_keys_idx;
ALTER TABLE subscriber_lists
    DROP COLUMN match_keys, DROP COLUMN criteria_digest, DROP COLUMN content_id,
    DROP COLUMN government_document_supertype, DROP COLUMN email_document_supertype,
    DROP COLUMN document_type, DROP COLUMN links, DROP COLUMN tags;
