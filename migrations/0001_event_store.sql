-- The append-only event log. Auditors may read this table directly; nothing may change or remove a row.
CREATE TABLE events (
    -- Global order of appends. Assigned before commit, so commits can land out of position order:
    -- readers that must not skip rows use (transaction_id, position) below the snapshot horizon instead.
    position        bigint GENERATED ALWAYS AS IDENTITY,
    -- The appending transaction (pg_current_xact_id()); the event INSERT is that transaction's first write.
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    stream_id       uuid        NOT NULL,
    stream_version  bigint      NOT NULL,
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT events_pkey PRIMARY KEY (position),
    -- The optimistic version check: a writer that lost the race gets a unique violation, never a second event.
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_positive CHECK (stream_version >= 1),
    CONSTRAINT events_event_type_not_empty CHECK (event_type <> ''),
    CONSTRAINT events_data_is_object CHECK (jsonb_typeof(data) = 'object'),
    CONSTRAINT events_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object')
);

-- Gap-safe catch-up reads: WHERE (transaction_id, position) > checkpoint ORDER BY transaction_id, position.
CREATE INDEX events_transaction_position_idx ON events (transaction_id, position);

-- Streams have no gaps: version N may only be appended when version N-1 exists (or N = 1).
CREATE FUNCTION events_require_previous_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.stream_version > 1 AND NOT EXISTS (
        SELECT 1 FROM events WHERE stream_id = NEW.stream_id AND stream_version = NEW.stream_version - 1
    ) THEN
        RAISE EXCEPTION 'stream % has no version %: versions must be contiguous', NEW.stream_id, NEW.stream_version - 1
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER events_contiguous_versions
    BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION events_require_previous_version();

-- Append-only for every role: the log is the truth, so history is never rewritten.
CREATE FUNCTION events_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON events FOR EACH ROW EXECUTE FUNCTION events_reject_change();
CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events FOR EACH STATEMENT EXECUTE FUNCTION events_reject_change();

-- Where each projection has got to in the log, written in the same transaction as its read-model changes.
CREATE TABLE projection_checkpoints (
    projection_name text   NOT NULL PRIMARY KEY,
    transaction_id  xid8   NOT NULL DEFAULT '0'::xid8,
    position        bigint NOT NULL DEFAULT 0,
    events_applied  bigint NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
