-- One database role per process, so each holds only what it needs (README, "Database roles"):
--   ledger_owner    owns the schema; runs migrate, rebuild and keys. Not a superuser. (Owns this database.)
--   ledger_serve    the `serve` process: appends events (named columns only) and reads; never writes the
--                   read model or the checkpoint.
--   ledger_project  the `project` process: writes the read model and its checkpoint; reads events.
--   ledger_auditor  (0003) reads everything, changes nothing.
-- The login roles come from the bootstrap (scripts/bootstrap.sql), run once by a superuser or a managed
-- PostgreSQL's admin. Created here only as NOLOGIN placeholders when missing, so that a database migrated
-- by a superuser without the bootstrap still gets its grants (the bootstrap later makes them LOGIN).
DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['ledger_serve', 'ledger_project'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = name) THEN
            BEGIN
                EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
            END;
        END IF;
    END LOOP;
END
$$;

-- ledger_service (0003) was one group for both services, able to write the read model. It keeps nothing:
-- login roles in it must move to ledger_serve or ledger_project.
REVOKE ALL ON events, projection_checkpoints, credit_records, schema_migrations, api_keys FROM ledger_service;
REVOKE ALL ON SCHEMA public FROM ledger_service;

GRANT USAGE ON SCHEMA public TO ledger_serve, ledger_project;

-- serve: INSERT on the named columns only. position (identity), transaction_id (pg_current_xact_id()) and
-- recorded_at (clock_timestamp()) always come from the database: naming them is "permission denied", and
-- OVERRIDING SYSTEM VALUE needs the column too.
GRANT SELECT ON events TO ledger_serve;
GRANT INSERT (stream_id, stream_version, event_id, event_type, data, metadata) ON events TO ledger_serve;
GRANT SELECT ON credit_records, projection_checkpoints, schema_migrations, api_keys TO ledger_serve;

-- project: reads the log, writes the read model (an upsert) and its checkpoint. Its batches lock the
-- checkpoint row (SELECT ... FOR UPDATE), which needs UPDATE: a role without it (auditors, serve) cannot
-- take that lock and so cannot stop the projector.
GRANT SELECT ON events, schema_migrations TO ledger_project;
GRANT SELECT, INSERT, UPDATE ON credit_records TO ledger_project;
GRANT SELECT, UPDATE ON projection_checkpoints TO ledger_project;

-- Nobody but the owner creates objects in the schema (PostgreSQL 15's default, restated for databases made
-- from older templates), and no ledger role gets temporary tables: a temporary table is searched before the
-- schema by default, which is how a session could shadow `events` for an unpinned function. Auditors keep
-- TEMP for their own analysis (they cannot write ledger tables).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
DO $$
BEGIN
    EXECUTE pg_catalog.format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', pg_catalog.current_database());
    EXECUTE pg_catalog.format('GRANT TEMPORARY ON DATABASE %I TO ledger_auditor', pg_catalog.current_database());
END
$$;

-- Every function runs with a fixed search_path (pg_temp last, else it is searched first) and names what it
-- reads by schema: a session's own objects (a TEMP TABLE events, say) can no longer stand in for the log.
CREATE OR REPLACE FUNCTION events_require_previous_version() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF NEW.stream_version > 1 AND NOT EXISTS (
        SELECT 1 FROM public.events WHERE stream_id = NEW.stream_id AND stream_version = NEW.stream_version - 1
    ) THEN
        RAISE EXCEPTION 'stream % has no version %: versions must be contiguous', NEW.stream_id, NEW.stream_version - 1
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
ALTER FUNCTION events_reject_change() SET search_path = pg_catalog, public, pg_temp;

-- The event types the ledger knows and the shape of each one's data: what the projector and the command
-- side need to decode it (projector/credit_projection.cc, command/credit.cc), so no row can get in that
-- would stop the projector or make every command on its credit fail. One constraint per type, each
-- ignoring the others: a later migration adds a type by replacing events_event_type_known and adding the
-- new type's events_<type>_data_shape. Integers must be written as integers (jsonb keeps "2023.0" as such,
-- which decodes as a double) and fit the decoder's int32 (vintage) or int64 (quantity). Each shape is
-- coalesce(..., false): a missing field makes jsonb_typeof NULL, and a CHECK that is NULL passes.
ALTER TABLE events ADD CONSTRAINT events_event_type_known
    CHECK (event_type IN ('CREATED', 'SOLD', 'RETIRED')) NOT VALID;
ALTER TABLE events ADD CONSTRAINT events_version_one_is_created
    CHECK ((stream_version = 1) = (event_type = 'CREATED')) NOT VALID;
ALTER TABLE events ADD CONSTRAINT events_created_data_shape CHECK (
    event_type <> 'CREATED' OR coalesce((
        jsonb_typeof(data -> 'project_name') = 'string' AND
        jsonb_typeof(data -> 'registry') = 'string' AND
        jsonb_typeof(data -> 'serial_number') = 'string' AND
        CASE WHEN jsonb_typeof(data -> 'vintage') = 'number'
             THEN scale((data -> 'vintage')::numeric) = 0
                  AND (data -> 'vintage')::numeric BETWEEN -2147483648 AND 2147483647
             ELSE false END AND
        CASE WHEN jsonb_typeof(data -> 'quantity') = 'number'
             THEN scale((data -> 'quantity')::numeric) = 0
                  AND (data -> 'quantity')::numeric BETWEEN -9223372036854775808 AND 9223372036854775807
             ELSE false END AND
        coalesce(jsonb_typeof(data -> 'issuer'), 'null') IN ('string', 'null')), false)) NOT VALID;
ALTER TABLE events ADD CONSTRAINT events_sold_data_shape CHECK (
    event_type <> 'SOLD' OR coalesce((
        jsonb_typeof(data -> 'buyer') = 'string' AND
        coalesce(jsonb_typeof(data -> 'seller'), 'null') IN ('string', 'null')), false)) NOT VALID;
ALTER TABLE events ADD CONSTRAINT events_retired_data_shape CHECK (
    event_type <> 'RETIRED' OR coalesce((
        coalesce(jsonb_typeof(data -> 'beneficiary'), 'null') IN ('string', 'null') AND
        coalesce(jsonb_typeof(data -> 'reason'), 'null') IN ('string', 'null')), false)) NOT VALID;
-- Existing rows are checked too; one that fails names its constraint and the migration rolls back.
ALTER TABLE events VALIDATE CONSTRAINT events_event_type_known;
ALTER TABLE events VALIDATE CONSTRAINT events_version_one_is_created;
ALTER TABLE events VALIDATE CONSTRAINT events_created_data_shape;
ALTER TABLE events VALIDATE CONSTRAINT events_sold_data_shape;
ALTER TABLE events VALIDATE CONSTRAINT events_retired_data_shape;

-- Why a projection stopped, for /healthz and operators: set by the projector when the log holds an event
-- it cannot apply (names the row and what is wrong), NULL while it is fine; cleared by its next committed
-- batch after a restart, and by a successful rebuild.
ALTER TABLE projection_checkpoints
    ADD COLUMN halted_reason text CHECK (halted_reason <> ''),
    ADD COLUMN halted_at timestamptz;
