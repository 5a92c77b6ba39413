-- Seeds the log for the rebuild figure: :credits credits, each CREATED, SOLD and RETIRED (3 events), with
-- data as the command side writes it, stream ids md5('bench-rebuild-' || i)::uuid. 333,334 credits give
-- 1,000,002 events. Run in one transaction (psql -1), in a fresh migrated database.
-- Run as: psql -1 -v credits=333334 -f bench/gen_rebuild.sql <rebuild db>
INSERT INTO events (stream_id, stream_version, event_id, event_type, data, metadata)
  SELECT md5('bench-rebuild-' || i)::uuid, 1, gen_random_uuid(), 'CREATED',
         jsonb_build_object('project_name', 'Rebuild Project ' || (i % 100), 'registry', 'BenchRegistry',
                            'vintage', 1990 + i % 40, 'quantity', 1 + i % 10000,
                            'serial_number', 'BENCH-REBUILD-' || i),
         jsonb_build_object('request_id', 'bench-seed-' || i, 'command', 'register')
  FROM generate_series(1, :credits::bigint) AS i
  ORDER BY i;
INSERT INTO events (stream_id, stream_version, event_id, event_type, data, metadata)
  SELECT md5('bench-rebuild-' || i)::uuid, 2, gen_random_uuid(), 'SOLD',
         jsonb_build_object('buyer', 'Bench Buyer ' || (i % 50)),
         jsonb_build_object('request_id', 'bench-seed-' || i, 'command', 'sell')
  FROM generate_series(1, :credits::bigint) AS i
  ORDER BY i;
INSERT INTO events (stream_id, stream_version, event_id, event_type, data, metadata)
  SELECT md5('bench-rebuild-' || i)::uuid, 3, gen_random_uuid(), 'RETIRED',
         jsonb_build_object('beneficiary', 'Bench Beneficiary ' || (i % 20), 'reason', 'benchmark retirement'),
         jsonb_build_object('request_id', 'bench-seed-' || i, 'command', 'retire')
  FROM generate_series(1, :credits::bigint) AS i
  ORDER BY i;
