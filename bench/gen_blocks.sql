-- Seeds SOLD blocks for the partial-retirement figures (issue 10): for i in :from..:to, a CREATED event with an
-- explicit unit range (block_start 1, block_end :quantity) and a SOLD event to the account 'Bench Buyer'
-- (bench/run.sh creates its key, so the holder is a known account), of stream md5('bench-block-' || i)::uuid,
-- serial number BENCH-BLOCK-<i>, data as the command side writes it (command/credit.cc, encode_event_data; the
-- CHECK constraints of migrations/0008_blocks.sql hold). Blocks without a registry range claim nothing
-- (migrations/0008_blocks.sql), so no stream_range_claims rows are needed. Run in one transaction (psql -1):
-- CREATED rows get lower positions than SOLD rows of the same transaction, so the projector applies them in order.
-- Run as: psql -1 -v from=1 -v to=1000 -v quantity=1000000 -f bench/gen_blocks.sql <ledger db>
INSERT INTO events (stream_id, stream_version, event_id, event_type, data, metadata)
  SELECT md5('bench-block-' || i)::uuid, 1, gen_random_uuid(), 'CREATED',
         jsonb_build_object('project_name', 'Bench Block Project ' || (i % 100), 'registry', 'BenchRegistry',
                            'vintage', 1990 + i % 40, 'quantity', :quantity::bigint,
                            'block_start', 1, 'block_end', :quantity::bigint,
                            'serial_number', 'BENCH-BLOCK-' || i),
         jsonb_build_object('request_id', 'bench-seed-block-' || i, 'command', 'register')
  FROM generate_series(:from::bigint, :to::bigint) AS i
  ORDER BY i;
INSERT INTO events (stream_id, stream_version, event_id, event_type, data, metadata)
  SELECT md5('bench-block-' || i)::uuid, 2, gen_random_uuid(), 'SOLD',
         jsonb_build_object('buyer', 'Bench Buyer'),
         jsonb_build_object('request_id', 'bench-seed-block-' || i, 'command', 'sell')
  FROM generate_series(:from::bigint, :to::bigint) AS i
  ORDER BY i;
