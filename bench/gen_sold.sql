-- Seeds SOLD credits for the retire and GET figures: for i in :from..:to, a CREATED and a SOLD event of
-- stream md5('bench-sold-' || i)::uuid, with data as the command side writes it (command/credit.cc,
-- encode_event_data). Run in one transaction (psql -1): CREATED rows get lower positions than SOLD rows
-- of the same transaction, so the projector applies them in order.
-- Run as: psql -1 -v from=1 -v to=100000 -f bench/gen_sold.sql <ledger db>
INSERT INTO events (stream_id, stream_version, event_id, event_type, data, metadata)
  SELECT md5('bench-sold-' || i)::uuid, 1, gen_random_uuid(), 'CREATED',
         jsonb_build_object('project_name', 'Bench Project ' || (i % 100), 'registry', 'BenchRegistry',
                            'vintage', 1990 + i % 40, 'quantity', 1 + i % 10000,
                            'serial_number', 'BENCH-SOLD-' || i),
         jsonb_build_object('request_id', 'bench-seed-' || i, 'command', 'register')
  FROM generate_series(:from::bigint, :to::bigint) AS i
  ORDER BY i;
INSERT INTO events (stream_id, stream_version, event_id, event_type, data, metadata)
  SELECT md5('bench-sold-' || i)::uuid, 2, gen_random_uuid(), 'SOLD',
         jsonb_build_object('buyer', 'Bench Buyer ' || (i % 50)),
         jsonb_build_object('request_id', 'bench-seed-' || i, 'command', 'sell')
  FROM generate_series(:from::bigint, :to::bigint) AS i
  ORDER BY i;
