-- Blocks of serial numbers, partial sale, retirement and cancellation, registries bound to issuers, and
-- idempotent commands (README, "Blocks and partial commands").

-- btree_gist (PostgreSQL contrib, a trusted extension: the database owner may create it) lets one exclusion
-- constraint combine equality on a text key with overlap of unit ranges.
CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public;

-- --- The event log learns the new event types -------------------------------------------------------------
-- SPLIT (on a parent: the lowest units were carved into a child), CARVED (a child's first event, naming its
-- parent), CANCELLED (an issuer withdrew a block). CREATED may carry its unit range, RETIRED its category
-- and details. As in 0005: integers written as integers, fitting the decoder's int64.
ALTER TABLE events DROP CONSTRAINT events_event_type_known;
ALTER TABLE events ADD CONSTRAINT events_event_type_known
    CHECK (event_type IN ('CREATED', 'SOLD', 'RETIRED', 'CANCELLED', 'SPLIT', 'CARVED'));
ALTER TABLE events DROP CONSTRAINT events_version_one_is_created;
ALTER TABLE events ADD CONSTRAINT events_version_one_is_created
    CHECK ((stream_version = 1) = (event_type IN ('CREATED', 'CARVED')));

CREATE FUNCTION public.ledger_is_int64(value jsonb) RETURNS boolean LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN jsonb_typeof(value) = 'number'
                THEN scale(value::numeric) = 0
                     AND value::numeric BETWEEN -9223372036854775808 AND 9223372036854775807
                ELSE false END
$$;
CREATE FUNCTION public.ledger_is_optional_text(value jsonb) RETURNS boolean LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(jsonb_typeof(value), 'null') IN ('string', 'null')
$$;

ALTER TABLE events DROP CONSTRAINT events_created_data_shape;
ALTER TABLE events ADD CONSTRAINT events_created_data_shape CHECK (
    event_type <> 'CREATED' OR coalesce((
        jsonb_typeof(data -> 'project_name') = 'string' AND
        jsonb_typeof(data -> 'registry') = 'string' AND
        jsonb_typeof(data -> 'serial_number') = 'string' AND
        CASE WHEN jsonb_typeof(data -> 'vintage') = 'number'
             THEN scale((data -> 'vintage')::numeric) = 0
                  AND (data -> 'vintage')::numeric BETWEEN -2147483648 AND 2147483647
             ELSE false END AND
        public.ledger_is_int64(data -> 'quantity') AND
        (data -> 'block_start' IS NULL) = (data -> 'block_end' IS NULL) AND
        (data -> 'block_start' IS NULL OR
         (public.ledger_is_int64(data -> 'block_start') AND public.ledger_is_int64(data -> 'block_end'))) AND
        public.ledger_is_optional_text(data -> 'issuer')), false));
ALTER TABLE events DROP CONSTRAINT events_retired_data_shape;
ALTER TABLE events ADD CONSTRAINT events_retired_data_shape CHECK (
    event_type <> 'RETIRED' OR coalesce((
        public.ledger_is_optional_text(data -> 'beneficiary') AND
        public.ledger_is_optional_text(data -> 'reason') AND
        public.ledger_is_optional_text(data -> 'category') AND
        public.ledger_is_optional_text(data -> 'details')), false));
ALTER TABLE events ADD CONSTRAINT events_cancelled_data_shape CHECK (
    event_type <> 'CANCELLED' OR coalesce(public.ledger_is_optional_text(data -> 'reason'), false));
ALTER TABLE events ADD CONSTRAINT events_split_data_shape CHECK (
    event_type <> 'SPLIT' OR coalesce((
        jsonb_typeof(data -> 'child') = 'string' AND
        public.ledger_is_int64(data -> 'block_start') AND
        public.ledger_is_int64(data -> 'block_end') AND
        public.ledger_is_int64(data -> 'quantity')), false));
ALTER TABLE events ADD CONSTRAINT events_carved_data_shape CHECK (
    event_type <> 'CARVED' OR coalesce((
        jsonb_typeof(data -> 'parent') = 'string' AND
        jsonb_typeof(data -> 'project_name') = 'string' AND
        jsonb_typeof(data -> 'registry') = 'string' AND
        jsonb_typeof(data -> 'serial_number') = 'string' AND
        jsonb_typeof(data -> 'status') = 'string' AND
        CASE WHEN jsonb_typeof(data -> 'vintage') = 'number'
             THEN scale((data -> 'vintage')::numeric) = 0
                  AND (data -> 'vintage')::numeric BETWEEN -2147483648 AND 2147483647
             ELSE false END AND
        public.ledger_is_int64(data -> 'quantity') AND
        public.ledger_is_int64(data -> 'block_start') AND
        public.ledger_is_int64(data -> 'block_end') AND
        public.ledger_is_optional_text(data -> 'issuer') AND
        public.ledger_is_optional_text(data -> 'holder')), false));

-- --- Range claims: no unit issued twice ----------------------------------------------------------------------
-- stream_range_claims: ranges of numbers that streams take when they are appended to, written by the append's
-- own statement (eventstore/event_store.h, StreamRangeClaim). The exclusion constraint is what enforces it:
-- of two concurrent appends taking overlapping ranges under one (claim_kind, claim_key), exactly one commits.
-- The credit domain claims each issued block's units under its numbering (kind 'credit_units'). Append-only.
CREATE TABLE stream_range_claims (
    claim_kind text      NOT NULL CHECK (length(claim_kind) BETWEEN 1 AND 64),
    claim_key  text      NOT NULL CHECK (length(claim_key) BETWEEN 1 AND 512),
    units      int8range NOT NULL CHECK (NOT isempty(units)),
    stream_id  uuid      NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stream_range_claims_no_overlap EXCLUDE USING gist (claim_kind WITH =, claim_key WITH =, units WITH &&)
);

-- --- Snapshots: a stream's decider state every few dozen events ---------------------------------------------
-- A block carved 10,000 times has 10,000 events; the command side reads the latest snapshot and the events
-- after it, so a command costs the same on such a block as on a new one. Written by the append's own
-- statement; append-only, so every snapshot can be checked against the events it summarises.
CREATE TABLE stream_snapshots (
    stream_id      uuid   NOT NULL,
    stream_version bigint NOT NULL CHECK (stream_version >= 1),
    state          jsonb  NOT NULL CHECK (jsonb_typeof(state) = 'object'),
    PRIMARY KEY (stream_id, stream_version)
);

CREATE FUNCTION public.ledger_reject_change() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER stream_range_claims_no_update_or_delete
    BEFORE UPDATE OR DELETE ON stream_range_claims FOR EACH ROW EXECUTE FUNCTION public.ledger_reject_change();
CREATE TRIGGER stream_range_claims_no_truncate
    BEFORE TRUNCATE ON stream_range_claims FOR EACH STATEMENT EXECUTE FUNCTION public.ledger_reject_change();
CREATE TRIGGER stream_snapshots_no_update_or_delete
    BEFORE UPDATE OR DELETE ON stream_snapshots FOR EACH ROW EXECUTE FUNCTION public.ledger_reject_change();
CREATE TRIGGER stream_snapshots_no_truncate
    BEFORE TRUNCATE ON stream_snapshots FOR EACH STATEMENT EXECUTE FUNCTION public.ledger_reject_change();

-- Credits issued before blocks existed hold the units 1..quantity of their own serial number (their events
-- say so). Those under a Verra or Gold Standard serial that states a range of their quantity get the units
-- claim of that range from `carbon-ledger migrate` (command/confusable_claims.h), so no later block can
-- issue the units their serial names.

-- --- Registries bound to issuer accounts (append-only, like the keys) ---------------------------------------
CREATE TABLE registry_binding_changes (
    change_id  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account    text        NOT NULL CHECK (length(account) BETWEEN 1 AND 200),
    registry   text        NOT NULL CHECK (length(registry) BETWEEN 1 AND 200),
    change     text        NOT NULL CHECK (change IN ('bound', 'unbound')),
    changed_by text        NOT NULL DEFAULT session_user,
    actor      text        CHECK (length(actor) BETWEEN 1 AND 200 AND actor !~ '[[:cntrl:]]'),
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX registry_binding_changes_account ON registry_binding_changes (account, change_id);

CREATE FUNCTION public.registry_binding_changes_stamp() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.changed_by := session_user;
    NEW.changed_at := now();
    RETURN NEW;
END;
$$;
CREATE TRIGGER registry_binding_changes_stamp
    BEFORE INSERT ON registry_binding_changes FOR EACH ROW EXECUTE FUNCTION public.registry_binding_changes_stamp();
CREATE TRIGGER registry_binding_changes_no_update_or_delete
    BEFORE UPDATE OR DELETE ON registry_binding_changes FOR EACH ROW EXECUTE FUNCTION public.ledger_reject_change();
CREATE TRIGGER registry_binding_changes_no_truncate
    BEFORE TRUNCATE ON registry_binding_changes FOR EACH STATEMENT EXECUTE FUNCTION public.ledger_reject_change();

-- The bindings in force: the last change per (account, registry ignoring ASCII case) is 'bound'.
CREATE VIEW registry_bindings AS
    SELECT account, registry, changed_at AS bound_at FROM (
        SELECT DISTINCT ON (account, lower(registry)) account, registry, change, changed_at
          FROM registry_binding_changes ORDER BY account, lower(registry), change_id DESC) AS last_change
     WHERE change = 'bound';

-- --- Idempotency keys -------------------------------------------------------------------------------------------
-- The answer a command gave, stored in the command's own transaction, so a retry with the same key is
-- answered the same without executing again. Swept by serve after LEDGER_IDEMPOTENCY_TTL_S.
CREATE TABLE idempotency_keys (
    account         text        NOT NULL,
    idempotency_key text        NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    request_sha256  text        NOT NULL,
    response_status integer     NOT NULL CHECK (response_status BETWEEN 100 AND 599),
    response_body   text        NOT NULL,
    location        text        NOT NULL DEFAULT '',
    etag            text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, idempotency_key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- --- The read model --------------------------------------------------------------------------------------------
-- History moves to rows of its own (one INSERT per event instead of rewriting a growing jsonb), and the
-- record gains its block, parent, children count, issuer, retirement and cancellation.
CREATE TABLE credit_history (
    credit_id   uuid   NOT NULL,
    version     bigint NOT NULL CHECK (version >= 1),
    event_type  text   NOT NULL,
    recorded_at text   NOT NULL,
    data        jsonb  NOT NULL,
    PRIMARY KEY (credit_id, version)
);
INSERT INTO credit_history (credit_id, version, event_type, recorded_at, data)
SELECT r.id, (h ->> 'version')::bigint, h ->> 'type', h ->> 'recorded_at', h -> 'data'
  FROM credit_records r CROSS JOIN LATERAL jsonb_array_elements(r.history) AS h;
ALTER TABLE credit_records DROP COLUMN history;

ALTER TABLE credit_records DROP CONSTRAINT credit_records_status_check;
ALTER TABLE credit_records ADD CONSTRAINT credit_records_status_check
    CHECK (status IN ('CREATED', 'SOLD', 'RETIRED', 'CANCELLED'));
ALTER TABLE credit_records
    ADD COLUMN issuer         text   NOT NULL DEFAULT '',
    ADD COLUMN block_start    bigint NOT NULL DEFAULT 1,
    ADD COLUMN block_end      bigint,
    ADD COLUMN parent         uuid,
    ADD COLUMN children_count bigint NOT NULL DEFAULT 0,
    ADD COLUMN retirement     jsonb,
    ADD COLUMN cancellation   jsonb;
UPDATE credit_records r SET block_end = r.quantity,
       issuer = coalesce((SELECT e.data ->> 'issuer' FROM events e WHERE e.stream_id = r.id AND e.stream_version = 1), ''),
       retirement = CASE WHEN r.status = 'RETIRED' THEN (
           SELECT jsonb_build_object('beneficiary', e.data -> 'beneficiary', 'reason', e.data -> 'reason',
                                     'category', NULL, 'details', NULL)
             FROM events e WHERE e.stream_id = r.id AND e.event_type = 'RETIRED' LIMIT 1) END;
ALTER TABLE credit_records ALTER COLUMN block_end SET NOT NULL;
ALTER TABLE credit_records ALTER COLUMN issuer DROP DEFAULT;
ALTER TABLE credit_records ALTER COLUMN block_start DROP DEFAULT;
ALTER TABLE credit_records ALTER COLUMN children_count DROP DEFAULT;

-- GET /records filters, each with the index it needs (keyset paging orders by id).
CREATE INDEX credit_records_holder ON credit_records (holder, id);
CREATE INDEX credit_records_status ON credit_records (status, id);
CREATE INDEX credit_records_registry ON credit_records (lower(registry), id);
CREATE INDEX credit_records_vintage ON credit_records (vintage, id);
CREATE INDEX credit_records_parent ON credit_records (parent, id) WHERE parent IS NOT NULL;
-- Unit lookups (registry + unit) over the registries whose units are numbered across serial numbers
-- (Verra registry-wide, Gold Standard per prefix: the names command/serial_numbers.cc's registry_kind()
-- knows, kept in step with kUnitNumberedRegistriesSql in command/credit_record.h). Elsewhere units are
-- numbered within each serial, a lookup is served by credit_records_registry, and no write pays for a GiST
-- entry (it cost the lag row a third of its register rate: docs/benchmarks.md, issue 10).
CREATE INDEX credit_records_units ON credit_records
    USING gist (lower(registry), int8range(block_start, block_end, '[]'))
    WHERE lower(registry) IN ('verra', 'vcs', 'gold standard', 'goldstandard', 'gold-standard', 'gold_standard', 'gs');

-- --- Grants ------------------------------------------------------------------------------------------------------
GRANT SELECT ON stream_range_claims, stream_snapshots, registry_binding_changes, registry_bindings,
    credit_history TO ledger_serve, ledger_auditor;
GRANT INSERT (claim_kind, claim_key, units, stream_id) ON stream_range_claims TO ledger_serve;
GRANT INSERT ON stream_snapshots TO ledger_serve;
GRANT SELECT (account, change) ON api_key_changes TO ledger_serve;
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO ledger_serve;
GRANT SELECT ON idempotency_keys TO ledger_auditor;
GRANT SELECT, INSERT ON credit_history TO ledger_project;
