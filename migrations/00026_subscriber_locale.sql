-- The language of a subscriber's emails: that of the page where they last
-- subscribed or signed in, or the locale an API caller gave. English
-- unless said otherwise.

-- +goose Up
ALTER TABLE subscribers ADD COLUMN locale text NOT NULL DEFAULT 'en'
    CONSTRAINT subscribers_locale_check CHECK (locale IN ('en', 'cy'));

-- +goose Down
ALTER TABLE subscribers DROP COLUMN locale;
