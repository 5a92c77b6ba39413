-- Samples pg_stat_activity every :interval_ms for :seconds (BENCH_DIAGNOSE=1 runs it during the lag run):
-- one NOTICE line per backend that is active, holds a transaction id or is background work, "W|<ms since
-- start>|<backend type>|<state>|<wait event type>|<wait event>|<xid>|<ms in transaction>|<query>", which
-- bench/waits.py sums up. Notices, not a table, so the sampler
-- never takes a transaction id: one held for the run would hold back the projector's horizon.
-- Run as: psql -X -q -v seconds=30 -v interval_ms=20 -f bench/wait_sampler.sql <db>
SELECT set_config('bench.seconds', :'seconds', false), set_config('bench.interval_ms', :'interval_ms', false) \gset
DO $$
DECLARE
  started constant timestamptz := clock_timestamp();
  deadline constant timestamptz := started + make_interval(secs => current_setting('bench.seconds')::float8);
  pause constant float8 := current_setting('bench.interval_ms')::float8 / 1000.0;
  r record;
BEGIN
  WHILE clock_timestamp() < deadline LOOP
    PERFORM pg_stat_clear_snapshot();  -- pg_stat_activity is otherwise read once per transaction
    FOR r IN
      SELECT coalesce(backend_type, '') AS backend_type, coalesce(state, '') AS state,
             coalesce(wait_event_type, '') AS wait_event_type, coalesce(wait_event, '') AS wait_event,
             coalesce(backend_xid::text, '') AS xid,
             coalesce(round(extract(epoch FROM clock_timestamp() - xact_start) * 1000)::text, '') AS xact_ms,
             left(regexp_replace(coalesce(query, ''), '[\s|]+', ' ', 'g'), 60) AS query
      FROM pg_stat_activity
      WHERE pid <> pg_backend_pid()  -- busy sessions, sessions holding a transaction id (they hold back the
                                     -- projector's horizon), and background processes not idling
        AND (state = 'active' OR backend_xid IS NOT NULL
             OR (backend_type <> 'client backend' AND wait_event_type IS DISTINCT FROM 'Activity'))
    LOOP
      RAISE NOTICE 'W|%|%|%|%|%|%|%|%', round(extract(epoch FROM clock_timestamp() - started) * 1000),
        r.backend_type, r.state, r.wait_event_type, r.wait_event, r.xid, r.xact_ms, r.query;
    END LOOP;
    PERFORM pg_sleep(pause);
  END LOOP;
END $$;
