-- scripts/bootstrap.sql — the one step that needs a superuser (or, on a managed PostgreSQL, its admin role
-- with CREATEROLE and CREATEDB): creates the ledger's roles and its database. Idempotent: run it again after
-- an upgrade or after adding auditor logins. Everything else (migrate, rebuild, keys, serve, project) runs
-- as the roles made here. README, "Database roles".
--
--   psql -X -v ON_ERROR_STOP=1 -v dbname=ledger -f scripts/bootstrap.sql 'host=... user=postgres dbname=postgres'
--   ... -v auditor=alice     also creates (or fixes) the auditor login role alice
--
-- Roles (cluster-wide):
--   ledger_owner    LOGIN, owns the database and the schema: migrate, rebuild, keys. Not a superuser, no
--                   CREATEROLE / CREATEDB.
--   ledger_serve    LOGIN, the `serve` process.
--   ledger_project  LOGIN, the `project` process; in pg_read_all_stats, so it can log who holds it back.
--   ledger_auditor  NOLOGIN group of read-only auditors; transactions bounded (see below).
--   ledger_service  NOLOGIN, retired (0003's shared group; 0005 leaves it nothing).
-- No passwords are set: a private cluster trusts its unix socket. For TCP, set one per login role
-- (ALTER ROLE ledger_serve PASSWORD '...', or \password ledger_serve) and list them in pg_hba.conf.
--
-- An existing database (one migrated by a superuser before these roles existed) is handed to ledger_owner:
-- the database, and every table, sequence and function in its schema public, provided it holds the
-- ledger's schema_migrations table.
\set ON_ERROR_STOP on
\if :{?dbname}
\else
\set dbname ledger
\endif
\if :{?auditor}
\else
\set auditor ''
\endif
-- A psql variable is not expanded inside a DO block's body: pass them as settings of this session.
SELECT pg_catalog.set_config('ledger_bootstrap.dbname', :'dbname', false) AS dbname,
       pg_catalog.set_config('ledger_bootstrap.auditor', :'auditor', false) AS auditor \gset

DO $$
DECLARE
    name text;
    is_super boolean;
    auditor text := current_setting('ledger_bootstrap.auditor');
BEGIN
    -- Concurrent bootstraps (parallel test runs) may race to create a role: the loser moves on.
    FOREACH name IN ARRAY ARRAY['ledger_owner', 'ledger_serve', 'ledger_project'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = name) THEN
            BEGIN
                EXECUTE pg_catalog.format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', name);
                RAISE NOTICE 'created login role %', name;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
            END;
        ELSIF NOT (SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = name) THEN
            -- A migration made it as a NOLOGIN placeholder before the bootstrap ran.
            EXECUTE pg_catalog.format('ALTER ROLE %I LOGIN', name);
            RAISE NOTICE 'role % may log in now', name;
        END IF;
        SELECT rolsuper INTO is_super FROM pg_catalog.pg_roles WHERE rolname = name;
        IF is_super THEN
            RAISE EXCEPTION 'role % is a superuser: it must not be (a superuser can switch the append-only triggers off); ALTER ROLE % NOSUPERUSER', name, name;
        END IF;
    END LOOP;
    FOREACH name IN ARRAY ARRAY['ledger_auditor', 'ledger_service'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = name) THEN
            BEGIN
                EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
            END;
        END IF;
    END LOOP;
    IF auditor <> '' THEN
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = auditor) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I LOGIN IN ROLE ledger_auditor', auditor);
            RAISE NOTICE 'created auditor login role %', auditor;
        ELSIF NOT pg_catalog.pg_has_role(auditor, 'ledger_auditor', 'MEMBER') THEN
            EXECUTE pg_catalog.format('GRANT ledger_auditor TO %I', auditor);
        END IF;
    END IF;
END
$$;

-- The projector logs who holds it back (pid, role, application_name, xact_start from pg_stat_activity);
-- without this it sees only its own sessions' details.
GRANT pg_read_all_stats TO ledger_project;

-- Bound what an auditor's session can hold: an open transaction with an xid stops the projector's snapshot
-- horizon, so the read model freezes until it ends. These are defaults per role; ALTER ROLE ... SET on a
-- group does not reach its members' sessions, so every login role in ledger_auditor gets them too (run the
-- bootstrap again after adding one, or ALTER ROLE it yourself). A session can still SET them itself: the
-- projector's log then names it (README).
ALTER ROLE ledger_auditor SET idle_in_transaction_session_timeout = '30s';
ALTER ROLE ledger_auditor SET statement_timeout = '60s';
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT rolname FROM pg_catalog.pg_roles
              WHERE rolcanlogin AND NOT rolsuper AND rolname NOT LIKE 'pg\_%'
                AND rolname NOT IN ('ledger_owner', 'ledger_serve', 'ledger_project')
                AND pg_catalog.pg_has_role(oid, 'ledger_auditor', 'MEMBER') LOOP
        EXECUTE pg_catalog.format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', r.rolname, '30s');
        EXECUTE pg_catalog.format('ALTER ROLE %I SET statement_timeout = %L', r.rolname, '60s');
    END LOOP;
END
$$;

-- The database, owned by ledger_owner. A non-superuser creator must be a member of the new owner.
SELECT pg_catalog.format('GRANT ledger_owner TO %I', current_user)
 WHERE NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)
   AND NOT pg_catalog.pg_has_role('ledger_owner', 'MEMBER') \gexec
SELECT pg_catalog.format('CREATE DATABASE %I OWNER ledger_owner', :'dbname')
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = :'dbname') \gexec
SELECT pg_catalog.format('ALTER DATABASE %I OWNER TO ledger_owner', :'dbname')
 WHERE (SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_catalog.pg_database WHERE datname = :'dbname')
       <> 'ledger_owner' \gexec
SELECT pg_catalog.format('GRANT CONNECT ON DATABASE %I TO ledger_owner, ledger_serve, ledger_project, ledger_auditor',
                         :'dbname') \gexec

\connect :"dbname"
-- A ledger database migrated before these roles existed: its objects belong to ledger_owner now, so that
-- migrate can run as ledger_owner (ALTER TABLE ... OWNER keeps the grants, naming the new owner as grantor).
DO $$
DECLARE
    r record;
BEGIN
    IF pg_catalog.to_regclass('public.schema_migrations') IS NULL THEN
        RETURN;
    END IF;
    FOR r IN SELECT c.relname, c.relkind FROM pg_catalog.pg_class c
              WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
                AND c.relowner <> 'ledger_owner'::regrole
                -- a sequence owned by a table column moves with its table
                AND NOT (c.relkind = 'S' AND EXISTS (SELECT FROM pg_catalog.pg_depend d
                                                      WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))
              ORDER BY c.relkind DESC LOOP
        EXECUTE pg_catalog.format(CASE r.relkind WHEN 'S' THEN 'ALTER SEQUENCE %I OWNER TO ledger_owner'
                                                 WHEN 'v' THEN 'ALTER VIEW %I OWNER TO ledger_owner'
                                                 WHEN 'm' THEN 'ALTER MATERIALIZED VIEW %I OWNER TO ledger_owner'
                                                 WHEN 'f' THEN 'ALTER FOREIGN TABLE %I OWNER TO ledger_owner'
                                                 ELSE 'ALTER TABLE %I OWNER TO ledger_owner' END, r.relname);
        RAISE NOTICE 'table % now belongs to ledger_owner', r.relname;
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_catalog.pg_proc p
              WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> 'ledger_owner'::regrole LOOP
        EXECUTE pg_catalog.format('ALTER ROUTINE %s OWNER TO ledger_owner', r.fn);
    END LOOP;
END
$$;
