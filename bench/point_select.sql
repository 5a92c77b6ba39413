-- pgbench baseline for GET /records/{id}: a point select of the same read-model row, with the columns
-- query/record_query.cc (find_record) reads. Ids are the seeded population md5('bench-sold-' || i)::uuid,
-- i uniformly in 1..:ids (pass -D ids=N), the same population the wrk GET script draws from.
-- Run as: pgbench -n -M extended -c 64 -j 2 -T 10 -D ids=N -f bench/point_select.sql <ledger db>
\set i random(1, :ids)
SELECT id::text, project_name, registry, vintage, quantity, serial_number, status, version, history::text
  FROM credit_records WHERE id = md5('bench-sold-' || :i::text)::uuid;
