-- stream_claims: unique keys that streams take when they are appended to, written by the append's own
-- statement after its events (eventstore/event_store.h, StreamClaim). The primary key is what enforces
-- set-wide uniqueness: of two concurrent appends taking the same (claim_kind, claim_key), exactly one
-- commits. The credit domain claims the confusable skeleton of each credit's (registry, serial number)
-- as kind 'credit_confusable', so a lookalike of a registered credit can never be registered as well.
-- Append-only, like the events.
CREATE TABLE stream_claims (
    claim_kind text NOT NULL CHECK (length(claim_kind) BETWEEN 1 AND 64),
    claim_key  text NOT NULL CHECK (length(claim_key) BETWEEN 1 AND 256),
    stream_id  uuid NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (claim_kind, claim_key)
);

CREATE FUNCTION stream_claims_reject_change() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'stream_claims is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER stream_claims_no_update_or_delete
    BEFORE UPDATE OR DELETE ON stream_claims FOR EACH ROW EXECUTE FUNCTION stream_claims_reject_change();
CREATE TRIGGER stream_claims_no_truncate
    BEFORE TRUNCATE ON stream_claims FOR EACH STATEMENT EXECUTE FUNCTION stream_claims_reject_change();

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ledger_serve') THEN
        CREATE ROLE ledger_serve NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ledger_auditor') THEN
        CREATE ROLE ledger_auditor NOLOGIN;
    END IF;
END
$$;

-- serve appends claims with its events; claimed_at always comes from the database.
GRANT SELECT ON stream_claims TO ledger_serve, ledger_auditor;
GRANT INSERT (claim_kind, claim_key, stream_id) ON stream_claims TO ledger_serve;
