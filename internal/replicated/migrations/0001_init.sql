-- Caches: one row per registered cache. config is the full registration,
-- webhook secret and headers included: protect the database accordingly.
CREATE TABLE caches (
    name         text COLLATE "C" PRIMARY KEY,
    config       jsonb       NOT NULL,
    generation   bigint      NOT NULL DEFAULT 1,  -- +1 on every PUT
    -- Copied out of config for the SQL that needs them.
    resync_period  interval NOT NULL,
    sync_on_create boolean  NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    housekept_at timestamptz NOT NULL DEFAULT now()  -- last deletion/eviction pass
);

-- Counters of a cache, summed over every replica (each flushes its deltas).
CREATE TABLE cache_stats (
    cache         text COLLATE "C" PRIMARY KEY REFERENCES caches (name) ON DELETE CASCADE,
    syncs         bigint NOT NULL DEFAULT 0,
    sync_errors   bigint NOT NULL DEFAULT 0,
    enqueued      bigint NOT NULL DEFAULT 0,
    hits          bigint NOT NULL DEFAULT 0,
    misses        bigint NOT NULL DEFAULT 0,
    evictions     bigint NOT NULL DEFAULT 0,
    deletions     bigint NOT NULL DEFAULT 0,
    last_sync_at  timestamptz,
    last_error    text,
    last_error_at timestamptz
);

-- Items. (cache, id) in byte order, so that list pages are in the same
-- order as in the embedded store whatever the database's collation.
CREATE TABLE items (
    cache          text COLLATE "C" NOT NULL REFERENCES caches (name) ON DELETE CASCADE,
    id             text COLLATE "C" NOT NULL,
    data           jsonb       NOT NULL,
    terminal       boolean     NOT NULL DEFAULT false,
    version        bigint      NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    synced_at      timestamptz,
    pending_delete boolean     NOT NULL DEFAULT false,
    next_sync_at   timestamptz NOT NULL,
    lease_owner    text,
    lease_until    timestamptz,
    epoch          bigint      NOT NULL DEFAULT 0,
    last_used_at   timestamptz NOT NULL,
    PRIMARY KEY (cache, id)
);

-- The claim query: due, non-terminal, not pending-delete items of a cache.
CREATE INDEX items_due ON items (cache, next_sync_at) WHERE NOT terminal AND NOT pending_delete;
-- The deletion pass.
CREATE INDEX items_pending_delete ON items (cache) WHERE pending_delete;
-- The size bound: least recently used first.
CREATE INDEX items_lru ON items (cache, last_used_at);

-- Notifications. Every committed change that other replicas must hear of is
-- sent on the channel 'autorefresh' as a JSON payload under NOTIFY's 8000
-- bytes (a cache name is at most 63 bytes, an id 256):
--   {"k":"c","c":cache,"g":generation}                 a cache was registered or changed
--   {"k":"c","c":cache,"g":0}                          a cache was deleted
--   {"k":"i","c":cache,"i":id,"v":version,"t":type}    an item was created, updated, deleted or evicted
--   {"k":"s","c":cache}                                a sync of the cache was asked for (sent by the service)
-- A created or updated item whose data is at most 7000 bytes comes whole
-- ("full":true with "term", "ca", "ua", "d"), so that watchers get exactly
-- that version; a larger one is re-read by the listener. A deletion is an
-- eviction when the transaction has set autorefresh.delete_kind to
-- 'evicted'; 'none' silences the item deletions of a cache deletion.
CREATE FUNCTION autorefresh_item_notify() RETURNS trigger LANGUAGE plpgsql AS $$
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
    IF octet_length(NEW.data::text) <= 7000 THEN
        payload := payload || jsonb_build_object('full', true, 'term', NEW.terminal,
            'ca', NEW.created_at, 'ua', NEW.updated_at, 'd', NEW.data);
    END IF;
    PERFORM pg_notify('autorefresh', payload::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER items_notify_insert AFTER INSERT ON items
    FOR EACH ROW EXECUTE FUNCTION autorefresh_item_notify();
CREATE TRIGGER items_notify_update AFTER UPDATE OF version ON items
    FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version) EXECUTE FUNCTION autorefresh_item_notify();
CREATE TRIGGER items_notify_delete AFTER DELETE ON items
    FOR EACH ROW EXECUTE FUNCTION autorefresh_item_notify();

CREATE FUNCTION autorefresh_cache_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('autorefresh', json_build_object('k', 'c', 'c', OLD.name, 'g', 0)::text);
    ELSE
        PERFORM pg_notify('autorefresh', json_build_object('k', 'c', 'c', NEW.name, 'g', NEW.generation)::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER caches_notify AFTER INSERT OR DELETE OR UPDATE OF config ON caches
    FOR EACH ROW EXECUTE FUNCTION autorefresh_cache_notify();
