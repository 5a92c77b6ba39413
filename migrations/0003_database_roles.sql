-- Database roles that follow the ledger's rules, so they hold even for someone with a SQL prompt:
--   ledger_service: what the carbon-ledger processes need. It may INSERT and SELECT events but never
--                   UPDATE or DELETE them (the triggers forbid that to everyone as well).
--   ledger_auditor: reads everything, changes nothing.
-- Both are NOLOGIN groups: grant them to login roles (see README, "For auditors"). Roles belong to the
-- whole cluster, so creating them tolerates another database's migration having done it first.
-- Each is created only when missing: CREATE ROLE needs CREATEROLE, which the schema owner (ledger_owner, who
-- runs migrate) does not have; scripts/bootstrap.sql creates them first. (Edited after release so that
-- migrate works as ledger_owner; eventstore/migrator.cc accepts this file's original checksum too.)
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'ledger_service') THEN
        BEGIN
            CREATE ROLE ledger_service NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'ledger_auditor') THEN
        BEGIN
            CREATE ROLE ledger_auditor NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO ledger_service, ledger_auditor;

GRANT SELECT, INSERT ON events TO ledger_service;
GRANT SELECT, INSERT, UPDATE ON projection_checkpoints TO ledger_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON credit_records TO ledger_service;
GRANT SELECT ON schema_migrations TO ledger_service;

GRANT SELECT ON events, projection_checkpoints, credit_records, schema_migrations TO ledger_auditor;
