-- pgbench baseline for the command rows (register, retire): one append per transaction, i.e. the event
-- store's own INSERT (eventstore/event_store.cc, append_events) without the pg_notify wrapper, for one
-- CREATED event of a new stream (unique stream id: gen_random_uuid()). The JSON batch parameter the
-- store binds as $1 is built in SQL here, since pgbench cannot bind a jsonb value.
-- Run as: pgbench -n -M extended -c 64 -j 2 -T 10 -f bench/append.sql <db with the migrated schema>
\set quantity random(1, 10000)
INSERT INTO events (stream_id, stream_version, event_id, event_type, data, metadata)
  SELECT (x->>'stream_id')::uuid, (x->>'stream_version')::bigint, (x->>'event_id')::uuid,
         x->>'event_type', x->'data', x->'metadata'
  FROM jsonb_array_elements(jsonb_build_array(jsonb_build_object(
         'stream_id', gen_random_uuid(),
         'stream_version', 1,
         'event_id', gen_random_uuid(),
         'event_type', 'CREATED',
         'data', jsonb_build_object('project_name', 'Bench Project', 'registry', 'BenchRegistry',
                                    'vintage', 2021, 'quantity', :quantity::bigint,
                                    'serial_number', 'PGB-' || gen_random_uuid()::text),
         'metadata', jsonb_build_object('request_id', gen_random_uuid()::text, 'command', 'register'))))
       WITH ORDINALITY AS batch(x, ord)
  ORDER BY ord;
