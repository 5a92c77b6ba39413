-- pgbench baseline for GET /records/{id}: a point select of the same read-model row with its first history
-- page, i.e. query/record_query.cc's find-by-id statement (kFindByIdSql, with kCreditRecordSelect's columns
-- and the default history_limit 100, so 101 history rows read) for one id instead of an unnest of a batch.
-- Ids are the seeded population md5('bench-sold-' || i)::uuid, i uniformly in 1..:ids (pass -D ids=N), the
-- same population the wrk GET script draws from.
-- Run as: pgbench -n -M extended -c 64 -j 2 -T 10 -D ids=N -f bench/point_select.sql <ledger db>
\set i random(1, :ids)
SELECT r.id::text, r.project_name, r.registry, r.vintage, r.quantity, r.serial_number, r.status, r.version,
       r.last_position, r.holder, r.issuer, r.block_start, r.block_end, coalesce(r.parent::text, ''),
       r.children_count, coalesce(r.retirement::text, ''), coalesce(r.cancellation::text, ''),
       h.history, h.more, h.last_version
  FROM credit_records r
  CROSS JOIN LATERAL (
    SELECT coalesce(json_agg(json_build_object('version', p.version, 'type', p.event_type,
             'recorded_at', p.recorded_at, 'data', p.data) ORDER BY p.version) FILTER (WHERE p.n <= 100),
             '[]')::text AS history,
           count(*) > 100 AS more,
           max(p.version) FILTER (WHERE p.n <= 100) AS last_version
    FROM (SELECT x.*, row_number() OVER (ORDER BY x.version) AS n FROM credit_history x
          WHERE x.credit_id = r.id AND x.version > 0 ORDER BY x.version LIMIT 101) AS p
  ) AS h
 WHERE r.id = md5('bench-sold-' || :i::text)::uuid;
