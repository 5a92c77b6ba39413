-- API keys become an append-only log of changes, like the events: a key is created once and revoked at
-- most once, each change recording who made it and when, and nothing is ever edited or removed. The old
-- api_keys table (0004) could be edited in place (a role changed, a revocation undone, a row deleted); its
-- rows move into the log and api_keys becomes a view of the active and revoked keys derived from it.
CREATE TABLE public.api_key_changes (
    change_id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_id         text        NOT NULL CHECK (key_id ~ '^[0-9a-f]{16}$'),
    change         text        NOT NULL CHECK (change IN ('created', 'revoked')),
    -- Set for 'created' only: what the key is. A revocation says nothing but which key and who.
    account        text        CHECK (length(account) BETWEEN 1 AND 200),
    role           text        CHECK (role IN ('issuer', 'holder', 'auditor', 'admin')),
    secret_sha256  bytea       CHECK (length(secret_sha256) = 32),
    -- The database login that made the change (session_user, set by the trigger below whatever the
    -- INSERT says), and who the operator said they were (`keys ... --actor`, default the OS user).
    changed_by     text        NOT NULL DEFAULT session_user,
    actor          text        CHECK (length(actor) BETWEEN 1 AND 200 AND actor !~ '[[:cntrl:]]'),
    changed_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_key_changes_shape CHECK (
        (change = 'created' AND account IS NOT NULL AND role IS NOT NULL AND secret_sha256 IS NOT NULL) OR
        (change = 'revoked' AND account IS NULL AND role IS NULL AND secret_sha256 IS NULL))
);

-- A key id is created once (so a revoked key can never come back with a new secret or role) and revoked
-- at most once.
CREATE UNIQUE INDEX api_key_changes_created_once ON public.api_key_changes (key_id) WHERE change = 'created';
CREATE UNIQUE INDEX api_key_changes_revoked_once ON public.api_key_changes (key_id) WHERE change = 'revoked';

-- The rows of 0004's table, with their own times, before the triggers that stamp new changes exist.
INSERT INTO public.api_key_changes (key_id, change, account, role, secret_sha256, changed_by, actor, changed_at)
SELECT key_id, 'created', account, role, secret_sha256, session_user, 'migration 0006 (from api_keys)', created_at
  FROM public.api_keys;
INSERT INTO public.api_key_changes (key_id, change, changed_by, actor, changed_at)
SELECT key_id, 'revoked', session_user, 'migration 0006 (from api_keys)', revoked_at
  FROM public.api_keys WHERE revoked_at IS NOT NULL;

DROP TABLE public.api_keys;

-- Who and when come from the database, not from the writer; a revocation needs a key to revoke. The
-- search_path is pinned and every name qualified, so a session's own objects (a temporary table called
-- api_key_changes) cannot stand in for the real ones.
CREATE FUNCTION public.api_key_changes_stamp() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.changed_by := session_user;
    NEW.changed_at := now();
    IF NEW.change = 'revoked' AND NOT EXISTS (
        SELECT 1 FROM public.api_key_changes WHERE key_id = NEW.key_id AND change = 'created'
    ) THEN
        RAISE EXCEPTION 'no key with id % to revoke', NEW.key_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER api_key_changes_stamp
    BEFORE INSERT ON public.api_key_changes FOR EACH ROW EXECUTE FUNCTION public.api_key_changes_stamp();

-- Append-only for every role, superusers included (as for events; see README for what that does not stop).
CREATE FUNCTION public.api_key_changes_reject_change() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'api_key_changes is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER api_key_changes_no_update_or_delete
    BEFORE UPDATE OR DELETE ON public.api_key_changes
    FOR EACH ROW EXECUTE FUNCTION public.api_key_changes_reject_change();
CREATE TRIGGER api_key_changes_no_truncate
    BEFORE TRUNCATE ON public.api_key_changes
    FOR EACH STATEMENT EXECUTE FUNCTION public.api_key_changes_reject_change();

-- Every change tells `serve` at once (it keeps the active keys in memory): in the changing transaction,
-- so the notification arrives only if the change committed. Any INSERT notifies, not only the CLI's.
CREATE FUNCTION public.api_key_changes_notify() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pg_catalog.pg_notify('api_keys_changed', NEW.key_id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER api_key_changes_notify
    AFTER INSERT ON public.api_key_changes FOR EACH ROW EXECUTE FUNCTION public.api_key_changes_notify();

-- The keys as 0004's table showed them, now derived: a key is active when created and never revoked. A
-- view over a join cannot be updated or deleted from.
CREATE VIEW public.api_keys AS
SELECT c.key_id, c.account, c.role, c.secret_sha256, c.changed_at AS created_at, r.changed_at AS revoked_at,
       c.changed_by AS created_by, c.actor AS created_by_actor,
       r.changed_by AS revoked_by, r.actor AS revoked_by_actor
  FROM public.api_key_changes c
  LEFT JOIN public.api_key_changes r ON r.key_id = c.key_id AND r.change = 'revoked'
 WHERE c.change = 'created';

-- Roles (README, "Database roles"): ledger_owner runs `keys` (appends changes, reads them), ledger_serve
-- only reads, auditors read everything but the secrets' hashes. Created NOLOGIN here if 0005 has not
-- created them (roles are cluster-wide, so another database may have made them first).
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['ledger_owner', 'ledger_serve', 'ledger_auditor'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
            END;
        END IF;
    END LOOP;
END
$$;

GRANT USAGE ON SCHEMA public TO ledger_owner, ledger_serve, ledger_auditor;
GRANT SELECT, INSERT ON public.api_key_changes TO ledger_owner;
GRANT SELECT ON public.api_keys TO ledger_owner;
GRANT SELECT ON public.api_key_changes, public.api_keys TO ledger_serve;
-- 0003's ledger_service group gets nothing: 0005 retired it in favour of one login role per process.
GRANT SELECT (change_id, key_id, change, account, role, changed_by, actor, changed_at)
    ON public.api_key_changes TO ledger_auditor;
GRANT SELECT (key_id, account, role, created_at, revoked_at, created_by, created_by_actor, revoked_by,
              revoked_by_actor)
    ON public.api_keys TO ledger_auditor;
