-- Per-item control (issue 15): an item's state, its failed attempts and
-- last error, its deadline; a cache's pause.
--
-- state is record.State's number: 1 active, 2 completed, 3 failed,
-- 4 expired. Items stored before it existed are active, or completed when
-- terminal, as record.StateOf derives them. Replicas of an older version
-- write terminal without state: upgrade replicas together.
ALTER TABLE items
    ADD COLUMN state      smallint    NOT NULL DEFAULT 1 CHECK (state BETWEEN 1 AND 4),
    ADD COLUMN attempts   integer     NOT NULL DEFAULT 0,
    ADD COLUMN last_error text        NOT NULL DEFAULT '',
    ADD COLUMN expires_at timestamptz;
UPDATE items SET state = 2 WHERE terminal;

-- The claim keeps using items_due (cache, next_sync_at): next_sync_at is
-- never after expires_at, so an item past its deadline is due, and the
-- claim that finds it expires it instead of sending it.

-- Paused by SetPaused, for every replica: a paused cache is not claimed,
-- so nothing of it is synced, failed or expired. A PUT leaves it alone.
ALTER TABLE caches ADD COLUMN paused boolean NOT NULL DEFAULT false;

-- The notification carries the new fields too, so that watchers get the
-- whole record of a version without a read.
CREATE OR REPLACE FUNCTION autorefresh_item_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kind    text;
    payload jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN
        kind := coalesce(nullif(current_setting('autorefresh.delete_kind', true), ''), 'deleted');
        IF kind <> 'none' THEN
            PERFORM pg_notify('autorefresh', json_build_object('k', 'i', 'c', OLD.cache, 'i', OLD.id, 'v', OLD.version, 't', kind)::text);
        END IF;
        RETURN NULL;
    END IF;
    payload := jsonb_build_object('k', 'i', 'c', NEW.cache, 'i', NEW.id, 'v', NEW.version,
        't', CASE TG_OP WHEN 'INSERT' THEN 'created' ELSE 'updated' END);
    -- The data and the last error (at most 1 KiB, record.MaxErrorBytes,
    -- longer once escaped) share the 7000 bytes that the data had alone,
    -- less room for the new fields, so the payload stays under NOTIFY's
    -- 8000.
    IF octet_length(NEW.data::text) + octet_length(to_json(NEW.last_error)::text) <= 6900 THEN
        payload := payload || jsonb_build_object('full', true, 'term', NEW.terminal,
            'ca', NEW.created_at, 'ua', NEW.updated_at, 'd', NEW.data,
            'st', NEW.state, 'at', NEW.attempts, 'le', NEW.last_error, 'ex', NEW.expires_at);
    END IF;
    PERFORM pg_notify('autorefresh', payload::text);
    RETURN NULL;
END
$$;
