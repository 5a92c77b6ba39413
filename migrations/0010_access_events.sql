-- 0010: key creation and revocation (api_key_changes, 0006) and registry bindings (registry_binding_changes,
-- 0008) are appended as events too, so that whatever covers the event log (the Merkle log of 0011) covers
-- who may do what as well. All of them go to one stream of their own, the access stream
--     stream_id 6b657973-0000-4000-8000-000000000000   (auth/access_events.h, kAccessStreamId)
-- one event per change row, appended by triggers in the change's own transaction: a change that commits has
-- its event, one that rolls back has none. The change tables stay what `serve` and `keys list` read; the
-- events are their copy in the log. The credit side skips the stream (projector) and knows no credit by its
-- id (commands answer 404). Event types and data (never a secret or its hash):
--     API_KEY_CREATED   {key_id, account, role, changed_by, actor}
--     API_KEY_REVOKED   {key_id, changed_by, actor}
--     REGISTRY_BOUND    {account, registry, changed_by, actor}
--     REGISTRY_UNBOUND  {account, registry, changed_by, actor}
-- (actor may be null), metadata {change_id, source: 'api_key_changes' | 'registry_binding_changes'}.

-- --- The log learns the access event types ---------------------------------------------------------------
ALTER TABLE public.events DROP CONSTRAINT events_event_type_known;
ALTER TABLE public.events ADD CONSTRAINT events_event_type_known
    CHECK (event_type IN ('CREATED', 'SOLD', 'RETIRED', 'CANCELLED', 'SPLIT', 'CARVED',
                          'API_KEY_CREATED', 'API_KEY_REVOKED', 'REGISTRY_BOUND', 'REGISTRY_UNBOUND'));
-- A credit stream starts with CREATED or CARVED and has no other first event; the access stream has no
-- first event of its own (its version 1 is whichever change came first).
ALTER TABLE public.events DROP CONSTRAINT events_version_one_is_created;
ALTER TABLE public.events ADD CONSTRAINT events_version_one_is_created
    CHECK (event_type IN ('API_KEY_CREATED', 'API_KEY_REVOKED', 'REGISTRY_BOUND', 'REGISTRY_UNBOUND')
           OR (stream_version = 1) = (event_type IN ('CREATED', 'CARVED')));
-- Access events only in the access stream, and nothing else in it: no credit event can land there (the
-- command side would never decode it) and no credit stream can hold an access event.
ALTER TABLE public.events ADD CONSTRAINT events_access_stream_holds_access_events
    CHECK ((stream_id = '6b657973-0000-4000-8000-000000000000'::uuid)
           = (event_type IN ('API_KEY_CREATED', 'API_KEY_REVOKED', 'REGISTRY_BOUND', 'REGISTRY_UNBOUND')));
-- The data of each, as 0008 does it: coalesce(..., false) because a missing field makes the test NULL, and
-- `data - ARRAY[...] = '{}'` admits no field but these, so no secret or hash can travel in an event.
ALTER TABLE public.events ADD CONSTRAINT events_api_key_created_data_shape CHECK (
    event_type <> 'API_KEY_CREATED' OR coalesce((
        jsonb_typeof(data -> 'key_id') = 'string' AND
        jsonb_typeof(data -> 'account') = 'string' AND
        jsonb_typeof(data -> 'role') = 'string' AND
        jsonb_typeof(data -> 'changed_by') = 'string' AND
        public.ledger_is_optional_text(data -> 'actor') AND
        (data - ARRAY['key_id', 'account', 'role', 'changed_by', 'actor']) = '{}'::jsonb), false));
ALTER TABLE public.events ADD CONSTRAINT events_api_key_revoked_data_shape CHECK (
    event_type <> 'API_KEY_REVOKED' OR coalesce((
        jsonb_typeof(data -> 'key_id') = 'string' AND
        jsonb_typeof(data -> 'changed_by') = 'string' AND
        public.ledger_is_optional_text(data -> 'actor') AND
        (data - ARRAY['key_id', 'changed_by', 'actor']) = '{}'::jsonb), false));
ALTER TABLE public.events ADD CONSTRAINT events_registry_bound_data_shape CHECK (
    event_type <> 'REGISTRY_BOUND' OR coalesce((
        jsonb_typeof(data -> 'account') = 'string' AND
        jsonb_typeof(data -> 'registry') = 'string' AND
        jsonb_typeof(data -> 'changed_by') = 'string' AND
        public.ledger_is_optional_text(data -> 'actor') AND
        (data - ARRAY['account', 'registry', 'changed_by', 'actor']) = '{}'::jsonb), false));
ALTER TABLE public.events ADD CONSTRAINT events_registry_unbound_data_shape CHECK (
    event_type <> 'REGISTRY_UNBOUND' OR coalesce((
        jsonb_typeof(data -> 'account') = 'string' AND
        jsonb_typeof(data -> 'registry') = 'string' AND
        jsonb_typeof(data -> 'changed_by') = 'string' AND
        public.ledger_is_optional_text(data -> 'actor') AND
        (data - ARRAY['account', 'registry', 'changed_by', 'actor']) = '{}'::jsonb), false));

-- --- Only the change triggers write the access stream -----------------------------------------------------
-- serve may INSERT into events (its credit appends): without this it could also append forged key events.
-- An access event is accepted only from a role that is (a member of) the owner of `events`: the owner's own
-- functions below (SECURITY DEFINER, so current_user is the owner there), the owner or a superuser.
CREATE FUNCTION public.events_access_stream_owner_only() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.stream_id = '6b657973-0000-4000-8000-000000000000'::uuid AND NOT pg_catalog.pg_has_role(
        current_user,
        (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = 'public.events'::pg_catalog.regclass),
        'MEMBER') THEN
        RAISE EXCEPTION 'the access stream % is appended to only by changes of api_key_changes and '
                        'registry_binding_changes', NEW.stream_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
-- Named to fire before events_contiguous_versions (BEFORE triggers fire in name order).
CREATE TRIGGER events_access_stream_owner_only
    BEFORE INSERT ON public.events FOR EACH ROW EXECUTE FUNCTION public.events_access_stream_owner_only();

-- --- Appending to the access stream --------------------------------------------------------------------------
-- One append at a time: two concurrent changes must get versions n+1 and n+2, never both n+1 (a unique
-- violation the user would see). They queue on a table lock that only the owner can take: LOCK TABLE in
-- EXCLUSIVE mode needs UPDATE, DELETE or TRUNCATE on the table, which nobody is granted, so no other login
-- can hold it to stop key changes (an advisory lock anyone could take and keep). The lock is
-- transaction-scoped and, unlike a row lock, takes no transaction id, so the change triggers take it before
-- the change statement writes anything: a change that waited gets its transaction id after the one it waited
-- for committed, and (transaction_id, position) order, which the projector reads in, agrees with version
-- order (unless the changing transaction wrote something before its change: `keys` and `registries` do not).
CREATE TABLE public.access_stream_lock (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton)
);
INSERT INTO public.access_stream_lock DEFAULT VALUES;

CREATE FUNCTION public.access_stream_take_lock() RETURNS void LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    LOCK TABLE public.access_stream_lock IN EXCLUSIVE MODE;
END;
$$;

-- Appends one event at the stream's current last version + 1. Under the lock, and in READ COMMITTED (what
-- `keys` and `registries` use) each statement sees every append committed before it, so the version is
-- free. A REPEATABLE READ or SERIALIZABLE transaction's older snapshot may not see the last append: its
-- unique violation is reported as a serialization failure, the error such transactions are retried on.
CREATE FUNCTION public.access_stream_append(appended_type text, appended_data jsonb, appended_metadata jsonb)
    RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    next_version bigint;
BEGIN
    PERFORM public.access_stream_take_lock();
    SELECT coalesce(max(e.stream_version), 0) + 1 INTO next_version
      FROM public.events e WHERE e.stream_id = '6b657973-0000-4000-8000-000000000000'::uuid;
    BEGIN
        INSERT INTO public.events (stream_id, stream_version, event_id, event_type, data, metadata)
        VALUES ('6b657973-0000-4000-8000-000000000000'::uuid, next_version, pg_catalog.gen_random_uuid(),
                appended_type, appended_data, appended_metadata);
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'access stream version % was taken by a transaction this snapshot does not see',
                        next_version
            USING ERRCODE = 'serialization_failure', HINT = 'retry the transaction';
    END;
    -- As every append does (eventstore/event_store.h, kEventsChannel): readers of the log wake up.
    PERFORM pg_catalog.pg_notify('events_appended', '');
    RETURN next_version;
END;
$$;

CREATE FUNCTION public.access_stream_append_api_key_change(c public.api_key_changes) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF c.change = 'created' THEN
        RETURN public.access_stream_append('API_KEY_CREATED',
            pg_catalog.jsonb_build_object('key_id', c.key_id, 'account', c.account, 'role', c.role,
                                          'changed_by', c.changed_by, 'actor', c.actor),
            pg_catalog.jsonb_build_object('change_id', c.change_id, 'source', 'api_key_changes'));
    END IF;
    RETURN public.access_stream_append('API_KEY_REVOKED',
        pg_catalog.jsonb_build_object('key_id', c.key_id, 'changed_by', c.changed_by, 'actor', c.actor),
        pg_catalog.jsonb_build_object('change_id', c.change_id, 'source', 'api_key_changes'));
END;
$$;

CREATE FUNCTION public.access_stream_append_registry_binding_change(c public.registry_binding_changes)
    RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN public.access_stream_append(CASE c.change WHEN 'bound' THEN 'REGISTRY_BOUND' ELSE 'REGISTRY_UNBOUND' END,
        pg_catalog.jsonb_build_object('account', c.account, 'registry', c.registry,
                                      'changed_by', c.changed_by, 'actor', c.actor),
        pg_catalog.jsonb_build_object('change_id', c.change_id, 'source', 'registry_binding_changes'));
END;
$$;

-- Nobody calls these but the owner's triggers: SECURITY DEFINER functions open to PUBLIC would let any
-- login append to the access stream, or hold its lock.
REVOKE ALL ON FUNCTION public.access_stream_take_lock() FROM PUBLIC;
REVOKE ALL ON FUNCTION public.access_stream_append(text, jsonb, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.access_stream_append_api_key_change(public.api_key_changes) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.access_stream_append_registry_binding_change(public.registry_binding_changes)
    FROM PUBLIC;

-- --- The history so far ------------------------------------------------------------------------------------
-- Every change made before this migration, in the same transaction as the triggers below: first every key
-- change in change_id order, then every binding change in change_id order (the two tables have no common
-- order but time, and changes of one transaction share a time). Their events are recorded now; the change
-- rows keep their own changed_at.
DO $$
DECLARE
    key_change public.api_key_changes;
    binding_change public.registry_binding_changes;
BEGIN
    FOR key_change IN SELECT * FROM public.api_key_changes ORDER BY change_id LOOP
        PERFORM public.access_stream_append_api_key_change(key_change);
    END LOOP;
    FOR binding_change IN SELECT * FROM public.registry_binding_changes ORDER BY change_id LOOP
        PERFORM public.access_stream_append_registry_binding_change(binding_change);
    END LOOP;
END
$$;

-- --- Every new change appends its event ------------------------------------------------------------------------
-- BEFORE, once per statement: the lock, before the statement computes its rows, since even that can give the
-- transaction its id (the identity default's nextval does whenever it writes the sequence to the WAL), let
-- alone writing them (see access_stream_lock). AFTER, per row: the event, from the row as stored (changed_by
-- and changed_at stamped); a change that is not stored (a revocation ON CONFLICT DO NOTHING, a refused one)
-- appends nothing.
CREATE FUNCTION public.access_stream_lock_before_change() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM public.access_stream_take_lock();
    RETURN NULL;
END;
$$;

CREATE FUNCTION public.api_key_changes_append_event() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM public.access_stream_append_api_key_change(NEW);
    RETURN NULL;
END;
$$;

CREATE FUNCTION public.registry_binding_changes_append_event() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM public.access_stream_append_registry_binding_change(NEW);
    RETURN NULL;
END;
$$;

CREATE TRIGGER api_key_changes_lock_access_stream
    BEFORE INSERT ON public.api_key_changes
    FOR EACH STATEMENT EXECUTE FUNCTION public.access_stream_lock_before_change();
CREATE TRIGGER api_key_changes_append_event
    AFTER INSERT ON public.api_key_changes FOR EACH ROW EXECUTE FUNCTION public.api_key_changes_append_event();
CREATE TRIGGER registry_binding_changes_lock_access_stream
    BEFORE INSERT ON public.registry_binding_changes
    FOR EACH STATEMENT EXECUTE FUNCTION public.access_stream_lock_before_change();
CREATE TRIGGER registry_binding_changes_append_event
    AFTER INSERT ON public.registry_binding_changes
    FOR EACH ROW EXECUTE FUNCTION public.registry_binding_changes_append_event();

-- --- Grants --------------------------------------------------------------------------------------------------
-- None needed: the events table's grants (0005) already let serve, project and auditors read the new events,
-- and whoever may insert a change (the owner: 0006, 0008) appends its event through the functions above.
-- access_stream_lock gets no grant at all, so no role but the owner can lock it.
