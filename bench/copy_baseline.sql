-- Baseline for the rebuild figure: COPY of the same rows (a file written by COPY events TO) into a
-- scratch table shaped like events (CREATE TABLE ... (LIKE events): columns and NOT NULLs only; no
-- indexes, triggers or identity). Only the COPY is timed (\timing prints "Time: <ms> ms").
-- Run as: psql -X -v ON_ERROR_STOP=1 -v copy_file=/path/events.copy -f bench/copy_baseline.sql <rebuild db>
SET client_min_messages = warning;
DROP TABLE IF EXISTS scratch;
CREATE TABLE scratch (LIKE events);
CHECKPOINT;
\timing on
COPY scratch FROM :'copy_file';
\timing off
DROP TABLE scratch;
