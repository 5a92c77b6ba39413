#!/usr/bin/env bash
# bench/run.sh — the Carbon Ledger benchmark suite (`make bench`). See docs/benchmarks.md.
#
# Starts a fresh private PostgreSQL 15 cluster (durable: fsync on) in a mktemp directory under /tmp, and in
# one run measures the service and a plain-PostgreSQL baseline side by side, the runs of the two sides
# interleaved (ours, baseline, ours, baseline, ...), then prints a Markdown table of medians and ratios and
# rewrites the results section of docs/benchmarks.md. Everything it starts is stopped on exit (trap EXIT),
# and the directory removed; every wait is bounded.
#
# Databases in the cluster (one per purpose, so no figure disturbs another):
#   ledger    serve + project run on it: register, retire, GET, projector lag, memory
#   base      migrated, nothing running on it: the pgbench append baseline (register and retire rows)
#   rebuild   1,000,000 seeded events: `carbon-ledger rebuild` against COPY into a scratch table
# The partial-command rows (issue 10: partial, hot, carve10k) run on `ledger` after the lag row, so that their
# events (three per partial retirement) do not enlarge the log the lag row works on.
# The GET baseline (pgbench point select) runs on `ledger`, against the very rows GET serves.
#
# Environment (defaults in brackets):
#   BENCH_SECONDS [10]          length of each measured run
#   BENCH_RUNS [3]              runs per figure and side (the table shows medians)
#   BENCH_CONNECTIONS [64]      wrk connections and pgbench clients
#   BENCH_THREADS [2]           wrk threads and pgbench -j
#   BENCH_LAG_SECONDS [30]      length of the projector lag run (register load + prober)
#   BENCH_LAG_SAMPLES [200]     lag samples to take in that time (bench/lag_probe.py; bench/fsync_probe.py times
#                               the disk's fdatasync on the same filesystem during the same run)
#   BENCH_REBUILD_CREDITS [333334]   credits x 3 events seeded for the rebuild figure
#   BENCH_VERIFY_CREDITS [333334]    credits x 3 events seeded and sealed for the verify figure (events/s of
#                               `carbon-ledger verify` over the whole log, median of BENCH_RUNS runs; logged)
#   BENCH_REPORT [docs/benchmarks.md] where to write the results ("" = do not write)
#   BENCH_KEEP_LOGS [0]         1 = copy the work directory's logs (and PostgreSQL's) to /tmp/ledger-bench-logs.<date>/ first
#   BENCH_FIGURES [register seal retire get lag partial hot carve10k rebuild verify]   the rows to measure (separated by
#                               spaces or commas), in that order whatever the order given (memory comes with any
#                               HTTP row). GET reads credits the retire row seeds; without retire they are seeded
#                               all the same. partial: partial retirements/s over many SOLD blocks; hot: the same
#                               on one block; carve10k: the 10,000th carve of a block against the first
#   BENCH_PARTIAL_BLOCKS [1000] SOLD blocks per run of the partial row (seeded with SQL, bench/gen_blocks.sql)
#   BENCH_BLOCK_UNITS [1000000] units of each block of the partial, hot and carve10k rows
#   BENCH_CARVES [10000]        carves of one block before carve10k measures again
#   BENCH_CARVE_SAMPLES [100]   timed retires before and after those carves (medians; GETs: 100 of each kind)
#   BENCH_LAG_SEED_CREDITS [0]  without the retire row: SOLD credits to seed (2 events each) before the lag row, so
#                               that its log is about as large as in the full suite (which has ~1,100,000 events by then)
#   BENCH_DIAGNOSE [0]          1 = during the lag run, sample pg_stat_activity every 20 ms (bench/wait_sampler.sql,
#                               summed up by bench/waits.py) and have PostgreSQL log checkpoints, lock waits over
#                               100 ms, autovacuum runs and statements over 100 ms; both summaries are printed
#   LEDGER_BIN [build/carbon-ledger]
# Quick smoke run: BENCH_SECONDS=2 BENCH_RUNS=1 BENCH_LAG_SECONDS=4 BENCH_REBUILD_CREDITS=20000 BENCH_REPORT= bash bench/run.sh
# The tail-latency row alone (about a minute): BENCH_FIGURES=lag BENCH_LAG_SECONDS=30 BENCH_REPORT= bash bench/run.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

log() { printf 'bench: [%4ss] %s\n' "$SECONDS" "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

int_env() {  # NAME DEFAULT MIN
  local name=$1 value=${!1:-$2}
  [[ $value =~ ^[0-9]+$ ]] && ((value >= $3)) || die "$name must be an integer >= $3, got '$value'"
  printf '%s\n' "$value"
}
RUN_SECONDS=$(int_env BENCH_SECONDS 10 1)
RUNS=$(int_env BENCH_RUNS 3 1)
CLIENTS=$(int_env BENCH_CONNECTIONS 64 1)
THREADS=$(int_env BENCH_THREADS 2 1)
LAG_SECONDS=$(int_env BENCH_LAG_SECONDS 30 3)
LAG_SAMPLES=$(int_env BENCH_LAG_SAMPLES 200 1)
REBUILD_CREDITS=$(int_env BENCH_REBUILD_CREDITS 333334 1)
REPORT=${BENCH_REPORT-docs/benchmarks.md}
[[ -z $REPORT || $REPORT == /* ]] || REPORT=$ROOT/$REPORT
KEEP_LOGS=${BENCH_KEEP_LOGS:-0}
DIAGNOSE=${BENCH_DIAGNOSE:-0}
[[ $DIAGNOSE == 0 || $DIAGNOSE == 1 ]] || die "BENCH_DIAGNOSE must be 0 or 1, got '$DIAGNOSE'"
LAG_SEED_CREDITS=$(int_env BENCH_LAG_SEED_CREDITS 0 0)
PARTIAL_BLOCKS=$(int_env BENCH_PARTIAL_BLOCKS 1000 1)
BLOCK_UNITS=$(int_env BENCH_BLOCK_UNITS 1000000 2)
CARVES=$(int_env BENCH_CARVES 10000 1)
CARVE_SAMPLES=$(int_env BENCH_CARVE_SAMPLES 100 1)
((CARVES >= CARVE_SAMPLES && BLOCK_UNITS > CARVES + CARVE_SAMPLES)) \
  || die "need BENCH_CARVES >= BENCH_CARVE_SAMPLES and BENCH_BLOCK_UNITS > BENCH_CARVES + BENCH_CARVE_SAMPLES"
KNOWN_FIGURES="register seal retire get lag partial hot carve10k rebuild verify"
FIGURES=${BENCH_FIGURES-$KNOWN_FIGURES}
FIGURES=${FIGURES//,/ }
declare -A RUN_FIGURE=()
for figure in $FIGURES; do
  [[ " $KNOWN_FIGURES " == *" $figure "* ]] \
    || die "BENCH_FIGURES: unknown figure '$figure' (known: $KNOWN_FIGURES)"
  RUN_FIGURE[$figure]=1
done
((${#RUN_FIGURE[@]} > 0)) || die "BENCH_FIGURES names no figure (known: $KNOWN_FIGURES)"
runs() { [[ -n ${RUN_FIGURE[$1]:-} ]]; }
BIN=${LEDGER_BIN:-build/carbon-ledger}
((THREADS <= CLIENTS)) || die "BENCH_THREADS ($THREADS) must not exceed BENCH_CONNECTIONS ($CLIENTS)"

for tool in wrk pgbench psql python3 runuser /usr/bin/time timeout; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not installed"
done
[[ -x $BIN ]] || die "$BIN not found: run 'make build' first (or 'make bench', which builds)"
BIN=$(realpath "$BIN")
ORIGINAL_COMMAND="$(for v in BENCH_SECONDS BENCH_RUNS BENCH_CONNECTIONS BENCH_THREADS BENCH_LAG_SECONDS \
  BENCH_LAG_SAMPLES BENCH_REBUILD_CREDITS BENCH_FIGURES BENCH_LAG_SEED_CREDITS BENCH_DIAGNOSE BENCH_PARTIAL_BLOCKS \
  BENCH_BLOCK_UNITS BENCH_CARVES BENCH_CARVE_SAMPLES LEDGER_BIN; do if [[ -n ${!v:-} ]]; then printf '%s=%q ' "$v" "${!v}"; fi; done)"
if [[ -n ${MAKELEVEL:-} ]]; then ORIGINAL_COMMAND+="make bench"; else ORIGINAL_COMMAND+="bash bench/run.sh"; fi

# ------------------------------------------------------------------------------------------ cleanup
WORK=""
PGDIR=""
SERVE_PID=""
PROJECT_PID=""
LOAD_PID=""
SAMPLER_PID=""
DISK_PID=""

stop_process() {  # PID NAME: SIGTERM, wait up to 15 s, then SIGKILL
  local pid=$1 name=$2 i
  [[ -n $pid ]] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "WARNING: $name (pid $pid) did not stop within 15 s of SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  local rc=0
  wait "$pid" 2>/dev/null || rc=$?
  ((rc == 0)) || log "WARNING: $name (pid $pid) exited with status $rc after SIGTERM"
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  stop_process "$LOAD_PID" wrk
  stop_process "$SAMPLER_PID" "wait sampler"
  stop_process "$DISK_PID" "disk probe"
  stop_process "$SERVE_PID" serve
  stop_process "$PROJECT_PID" project
  if [[ -n $WORK && -d $WORK ]]; then
    if ((rc != 0)); then
      for f in "$WORK"/serve.log "$WORK"/project.log; do
        # Request lines (one per request) are left out: the rest is what went wrong.
        [[ -s $f ]] && { log "last lines of $(basename "$f") (without request lines):"
                         grep -Ev '^serve: [A-Z]+ /' "$f" | tail -n 15 >&2; }
      done
    fi
    [[ -n $PGDIR ]] && "$ROOT/scripts/pg-cluster.sh" stop "$PGDIR" >/dev/null 2>&1
    if [[ $KEEP_LOGS == 1 ]]; then
      local keep
      keep="/tmp/ledger-bench-logs.$(date +%Y%m%d-%H%M%S)"
      mkdir -p "$keep" && find "$WORK" -maxdepth 1 -type f \( -name '*.log' -o -name '*.out' -o -name '*.jsonl' \) \
        -exec cp {} "$keep"/ \; && { [[ ! -f $PGDIR/postgres.log ]] || cp "$PGDIR/postgres.log" "$keep"/; } \
        && log "logs kept in $keep"
    fi
    rm -rf -- "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------------------------------ helpers
# Bounded foreground commands: the child still gets Ctrl-C, and is killed when it overstays.
bounded() {  # SECONDS CMD...
  local limit=$1; shift
  timeout --foreground -k 10 "$limit" "$@"
}

# url DB [ROLE]: as the superuser (seeding, baselines, checks), or as the role a carbon-ledger command runs as.
url() { "$ROOT/scripts/pg-cluster.sh" url "$PGDIR" "$@"; }
# psql, bounded by SQL_TIMEOUT seconds (default 300; set it for the long statements).
sql() {  # DB psql-args...
  local db=$1; shift
  timeout --foreground -k 10 "${SQL_TIMEOUT:-300}" env PGCONNECT_TIMEOUT=10 \
    psql -X -q -v ON_ERROR_STOP=1 "$(url "$db")" "$@"
}
sql_value() { sql "$1" -tA -c "$2"; }

checkpoint() { sql "$1" -c CHECKPOINT; }

add_result() { python3 "$ROOT/bench/report.py" add --results "$WORK/results.jsonl" "$@"; }

run_wrk() {  # OUT SCRIPT SECONDS ARGS...
  local out=$1 script=$2 secs=$3; shift 3
  bounded $((secs + 60)) wrk -t "$THREADS" -c "$CLIENTS" -d "${secs}s" --timeout 10s --latency \
    -s "$ROOT/bench/$script" "http://127.0.0.1:$PORT" -- "$@" >"$out" 2>&1 \
    || { cat "$out" >&2; die "wrk $script failed"; }
}

run_pgbench() {  # OUT LOGPREFIX DB SCRIPT [pgbench args...]
  local out=$1 prefix=$2 db=$3 script=$4; shift 4
  bounded $((RUN_SECONDS + 120)) env PGCONNECT_TIMEOUT=10 pgbench -n -M extended -c "$CLIENTS" -j "$THREADS" \
    -T "$RUN_SECONDS" -l --log-prefix="$prefix" -f "$ROOT/bench/$script" "$@" \
    -h "$PGDIR/socket" -p "${PGCLUSTER_PORT:-5432}" -U postgres "$db" >"$out" 2>&1 \
    || { cat "$out" >&2; die "pgbench $script failed"; }
}

# Waits until the projector has applied every event in the log (bounded).
wait_projected() {  # LIMIT_SECONDS
  local limit=$1 deadline=$((SECONDS + $1)) line applied total last_log=$SECONDS
  while :; do
    # events_applied counts credit events: the access stream's (key changes) are passed over.
    line=$(sql_value ledger "SELECT (SELECT events_applied FROM projection_checkpoints
                              WHERE projection_name = 'credit_records') || ' ' || (SELECT count(*) FROM events
                              WHERE stream_id <> '6b657973-0000-4000-8000-000000000000')")
    read -r applied total <<<"$line"
    ((applied >= total)) && return 0
    kill -0 "$PROJECT_PID" 2>/dev/null || die "the projector exited (see project.log)"
    ((SECONDS < deadline)) || die "the projector did not catch up within ${limit}s ($applied of $total events)"
    if ((SECONDS - last_log >= 10)); then
      log "waiting for the projector: $applied of $total events applied"
      last_log=$SECONDS
    fi
    sleep 0.5
  done
}

# The projector seals the verifiable log, as make run has it (every row is measured so), unless SEALING is
# empty (the seal row's baseline).
SEALING=1
start_project() {
  LEDGER_SIGNING_KEY_FILE=${SEALING:+$SEAL_KEY_FILE} DATABASE_URL=$(url ledger ledger_project) "$BIN" project \
    >>"$WORK/project.log" 2>&1 &
  PROJECT_PID=$!
}

# Waits until the sealer has put every event under a checkpoint (bounded).
wait_sealed() {  # LIMIT_SECONDS
  local deadline=$((SECONDS + $1)) line sealed total
  while :; do
    line=$(sql_value ledger "SELECT (SELECT coalesce(max(tree_size), 0) FROM log_checkpoints) || ' ' || (SELECT count(*) FROM events)")
    read -r sealed total <<<"$line"
    ((sealed >= total)) && return 0
    kill -0 "$PROJECT_PID" 2>/dev/null || die "the projector exited (see project.log)"
    ((SECONDS < deadline)) || die "the sealer did not catch up within ${1}s ($sealed of $total events)"
    sleep 0.5
  done
}

start_serve() {
  local i
  PORT=""
  : >"$WORK/serve.log"
  DATABASE_URL=$(url ledger ledger_serve) LEDGER_HTTP_PORT=0 "$BIN" serve >/dev/null 2>"$WORK/serve.log" &
  SERVE_PID=$!
  for ((i = 0; i < 300; i++)); do
    PORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$WORK/serve.log" | head -n 1)
    [[ -n $PORT ]] && break
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; die "serve exited before listening"; }
    sleep 0.1
  done
  [[ -n $PORT ]] || die "serve did not log 'listening on http://127.0.0.1:<port>' within 30 s"
}

vm_hwm_kib() {  # PID
  awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}

# ------------------------------------------------------------------------------------------ cluster
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$(mktemp -d /tmp/ledger-bench.XXXXXX)
chmod 755 "$WORK"
chown postgres: "$WORK"
PGDIR=$WORK/pg
# The suite uses one copy of the binary throughout: others may rebuild build/ while it runs.
cp "$BIN" "$WORK/carbon-ledger"
"$WORK/carbon-ledger" --help >/dev/null || die "$BIN does not run"
BIN=$WORK/carbon-ledger
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]]; then COMMIT+=" (with uncommitted changes)"; fi
log "work directory $WORK; $RUNS run(s) of ${RUN_SECONDS}s per figure and side, $CLIENTS connections, $THREADS threads"
bounded 180 "$ROOT/scripts/pg-cluster.sh" start "$PGDIR" 2>"$WORK/pg-cluster.log" \
  || { cat "$WORK/pg-cluster.log" >&2; die "could not start PostgreSQL"; }
log "$(sql_value postgres "SHOW server_version") with fsync=$(sql_value postgres "SHOW fsync"), synchronous_commit=$(sql_value postgres "SHOW synchronous_commit"), shared_buffers=$(sql_value postgres "SHOW shared_buffers")"
if ((DIAGNOSE)); then
  # Logging and timing only (reloadable settings); deadlock_timeout is also when a lock wait gets logged.
  for setting in "log_checkpoints = on" "log_lock_waits = on" "deadlock_timeout = '100ms'" \
                 "log_autovacuum_min_duration = 0" "log_min_duration_statement = 100" "log_line_prefix = '%m [%p] %b '" \
                 "track_wal_io_timing = on"; do
    sql postgres -c "ALTER SYSTEM SET $setting"
  done
  sql postgres -c "SELECT pg_reload_conf()" >/dev/null
fi
for db in base rebuild; do   # owned by ledger_owner, as the bootstrap makes `ledger`
  bounded 60 "$ROOT/scripts/pg-cluster.sh" bootstrap "$PGDIR" "$db" 2>>"$WORK/pg-cluster.log" \
    || { cat "$WORK/pg-cluster.log" >&2; die "bootstrap of database $db failed"; }
done
for db in ledger base rebuild; do
  bounded 120 env DATABASE_URL="$(url "$db" ledger_owner)" "$BIN" migrate 2>>"$WORK/migrate.log" \
    || { cat "$WORK/migrate.log" >&2; die "migrate failed on $db"; }
done
# Every request carries an admin key (the Lua scripts and lag_probe.py read LEDGER_BENCH_KEY).
LEDGER_BENCH_KEY=$(bounded 60 env DATABASE_URL="$(url ledger ledger_owner)" "$BIN" keys create --account bench --role admin) \
  || die "keys create failed"
export LEDGER_BENCH_KEY
# A buyer must be a known account (one that has or had a key) since issue 10: the account the bench sells to
# over HTTP (carve10k), and the holder of the blocks bench/gen_blocks.sql seeds, gets a holder key (not used).
bounded 60 env DATABASE_URL="$(url ledger ledger_owner)" "$BIN" keys create --account "Bench Buyer" --role holder \
  >/dev/null || die "keys create (buyer account) failed"

SEAL_KEY_FILE=$WORK/seal-signing.key
"$BIN" signing-key create --name bench.local/log --file "$SEAL_KEY_FILE" >/dev/null 2>"$WORK/seal-key.log" \
  || { cat "$WORK/seal-key.log" >&2; die "signing-key create failed"; }
start_project
start_serve
log "serve (pid $SERVE_PID) on port $PORT, project (pid $PROJECT_PID, sealing the log)"
# A request must work before anything is measured.
probe=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz" 2>/dev/null) || probe=""
[[ $probe == 200 ]] || die "GET /healthz answered '${probe:-nothing}'"

# ------------------------------------------------------------------------------------------ register
for ((run = 1; run <= RUNS; run++)); do
  runs register || break
  wait_projected 300
  checkpoint ledger
  log "register: ours, run $run/$RUNS"
  run_wrk "$WORK/register-ours-$run.out" register.lua "$RUN_SECONDS" "r$run-$(date +%s%N)"
  add_result --figure register --side ours --run "$run" --wrk "$WORK/register-ours-$run.out"

  wait_projected 300
  checkpoint base
  log "register: baseline (pgbench append), run $run/$RUNS"
  run_pgbench "$WORK/register-base-$run.out" "$WORK/pgb-register-$run" base append.sql
  add_result --figure register --side baseline --run "$run" --pgbench "$WORK/register-base-$run.out" \
    --pgbench-logs "$WORK/pgb-register-$run"
  rm -f "$WORK/pgb-register-$run".*
done

# ------------------------------------------------------------------------------------------ seal
# What the verifiable log costs register throughput: the register load with the projector sealing (ours)
# against the same without a signing key (baseline), interleaved, each after the log has caught up.
for ((run = 1; run <= RUNS; run++)); do
  runs seal || break
  for side in baseline ours; do
    stop_process "$PROJECT_PID" project
    if [[ $side == ours ]]; then SEALING=1; else SEALING=; fi
    start_project
    wait_projected 300
    [[ -n $SEALING ]] && wait_sealed 300
    checkpoint ledger
    log "seal: register with the log $([[ -n $SEALING ]] && echo sealed || echo not sealed), run $run/$RUNS"
    run_wrk "$WORK/seal-$side-$run.out" register.lua "$RUN_SECONDS" "s$side$run-$(date +%s%N)"
    add_result --figure seal --side "$side" --run "$run" --wrk "$WORK/seal-$side-$run.out"
  done
done
if [[ -z $SEALING ]]; then
  stop_process "$PROJECT_PID" project
  SEALING=1
  start_project
fi

# ------------------------------------------------------------------------------------------ retire
# Enough SOLD credits for every retire run at up to 2x the best register rate (retire does the same work
# plus reading two events; a thread that runs out starts over and is reported), seeded with SQL in one
# transaction. Rather than have the projector work through that backlog live, `carbon-ledger rebuild`
# projects it instead (the running projector waits for it and continues from the rebuilt checkpoint).
# Without a register row, a rate of 6,000/s stands in for the best one (about what this machine does).
best_register=$(python3 -c 'import json,os,sys
rates=[json.loads(l)["rate"] for l in open(sys.argv[1]) if json.loads(l)["figure"]=="register" and json.loads(l)["side"]=="ours"] if os.path.exists(sys.argv[1]) else []
print(int(max(rates)) if rates else 6000)' "$WORK/results.jsonl")
PER_RUN=$(( (best_register * RUN_SECONDS * 2) > 5000 ? best_register * RUN_SECONDS * 2 : 5000 ))
SOLD=0
if runs retire || runs get; then
  SOLD=$((PER_RUN * RUNS))
elif runs lag; then
  SOLD=$LAG_SEED_CREDITS
fi
if ((SOLD > 0)); then
  if runs retire || runs get; then
    log "retire: seeding $SOLD SOLD credits ($PER_RUN per run) with SQL"
  else
    log "lag: seeding $SOLD SOLD credits (BENCH_LAG_SEED_CREDITS) with SQL"
  fi
  t0=$SECONDS
  SQL_TIMEOUT=1800 sql ledger -1 -v from=1 -v to="$SOLD" -f "$ROOT/bench/gen_sold.sql"
  log "retire: seeded $((2 * SOLD)) events in $((SECONDS - t0)) s; projecting them with carbon-ledger rebuild"
  t0=$SECONDS
  bounded 1800 env DATABASE_URL="$(url ledger ledger_owner)" "$BIN" rebuild 2>"$WORK/seed-rebuild.log" \
    || { tail -n 20 "$WORK/seed-rebuild.log" >&2; die "rebuild of the seeded credits failed"; }
  log "retire: $(grep 'rebuild: replayed' "$WORK/seed-rebuild.log" || echo 'rebuild finished') (wall $((SECONDS - t0)) s)"
  wait_projected 300
  sql ledger -c "ANALYZE"
fi
for ((run = 1; run <= RUNS; run++)); do
  runs retire || break
  ids="$WORK/retire-ids-$run.txt"
  sql_value ledger "SELECT md5('bench-sold-' || i)::uuid FROM generate_series($(((run - 1) * PER_RUN + 1)), $((run * PER_RUN))) AS i" >"$ids"
  wait_projected 300
  checkpoint ledger
  log "retire: ours, run $run/$RUNS"
  run_wrk "$WORK/retire-ours-$run.out" retire.lua "$RUN_SECONDS" "$ids" "$THREADS"
  add_result --figure retire --side ours --run "$run" --wrk "$WORK/retire-ours-$run.out"

  wait_projected 300
  checkpoint base
  log "retire: baseline (pgbench append), run $run/$RUNS"
  run_pgbench "$WORK/retire-base-$run.out" "$WORK/pgb-retire-$run" base append.sql
  add_result --figure retire --side baseline --run "$run" --pgbench "$WORK/retire-base-$run.out" \
    --pgbench-logs "$WORK/pgb-retire-$run"
  rm -f "$WORK/pgb-retire-$run".*
done

# ------------------------------------------------------------------------------------------ GET
# Both sides draw uniformly from the same seeded credits (SOLD, or RETIRED by the retire runs).
GET_IDS=$((SOLD < 100000 ? SOLD : 100000))
if runs get; then
sql_value ledger "SELECT md5('bench-sold-' || i)::uuid FROM generate_series(1, $GET_IDS) AS i" >"$WORK/get-ids.txt"
wait_projected 300
missing=$(sql_value ledger "SELECT $GET_IDS - count(*) FROM credit_records
                             WHERE id IN (SELECT md5('bench-sold-' || i)::uuid FROM generate_series(1, $GET_IDS) AS i)")
((missing == 0)) || die "$missing of the $GET_IDS GET ids are not in credit_records"
sql ledger -c "VACUUM ANALYZE credit_records"
for ((run = 1; run <= RUNS; run++)); do
  checkpoint ledger
  log "GET: ours, run $run/$RUNS"
  run_wrk "$WORK/get-ours-$run.out" get.lua "$RUN_SECONDS" "$WORK/get-ids.txt"
  add_result --figure get --side ours --run "$run" --wrk "$WORK/get-ours-$run.out"

  checkpoint ledger
  log "GET: baseline (pgbench point select), run $run/$RUNS"
  run_pgbench "$WORK/get-base-$run.out" "$WORK/pgb-get-$run" ledger point_select.sql -D ids="$GET_IDS"
  add_result --figure get --side baseline --run "$run" --pgbench "$WORK/get-base-$run.out" \
    --pgbench-logs "$WORK/pgb-get-$run"
  rm -f "$WORK/pgb-get-$run".*
done
fi

# ------------------------------------------------------------------------------------------ projector lag
if runs lag; then
wait_projected 300
checkpoint ledger
log "projector lag: ${LAG_SECONDS}s of register load with the prober ($LAG_SAMPLES samples)"
tag="lag-$(date +%s%N)"
if ((DIAGNOSE)); then
  stats_sql="SELECT 'checkpoints timed ' || checkpoints_timed || ', requested ' || checkpoints_req || '; WAL '
             || pg_size_pretty(wal_bytes) || ' (' || wal_fpi || ' full-page images), ' || wal_sync || ' WAL syncs taking '
             || round(wal_sync_time) || ' ms; buffers written by backends ' || buffers_backend || '; commits '
             || (SELECT sum(xact_commit) FROM pg_stat_database)
             FROM pg_stat_bgwriter, pg_stat_wal"
  log "diagnose: before the lag run: $(sql_value ledger "$stats_sql")"
  log_bytes_before=$(stat -c %s "$PGDIR/postgres.log")
  bounded $((LAG_SECONDS + 60)) psql -X -q -v seconds="$LAG_SECONDS" -v interval_ms=20 -f "$ROOT/bench/wait_sampler.sql" \
    "$(url ledger)" >"$WORK/waits.out" 2>&1 &
  SAMPLER_PID=$!
fi
bounded $((LAG_SECONDS + 60)) wrk -t "$THREADS" -c "$CLIENTS" -d "${LAG_SECONDS}s" --timeout 10s --latency \
  -s "$ROOT/bench/register.lua" "http://127.0.0.1:$PORT" -- "$tag" >"$WORK/lag-load.out" 2>&1 &
LOAD_PID=$!
# The disk's own fdatasync latency meanwhile (8 kB every 50 ms, on the filesystem of the WAL): a disk stall or ours?
bounded $((LAG_SECONDS + 30)) python3 "$ROOT/bench/fsync_probe.py" --dir "$WORK" --seconds "$LAG_SECONDS" \
  >"$WORK/disk-probe.out" 2>&1 &
DISK_PID=$!
sleep 1
bounded $((LAG_SECONDS + 30)) python3 "$ROOT/bench/lag_probe.py" --port "$PORT" --samples "$LAG_SAMPLES" \
  --seconds "$((LAG_SECONDS - 2))" --tag "$tag" >"$WORK/lag-probe.out" 2>&1 \
  || { cat "$WORK/lag-probe.out" >&2; die "the lag prober failed"; }
wait "$LOAD_PID" || { cat "$WORK/lag-load.out" >&2; die "wrk (lag load) failed"; }
LOAD_PID=""
add_result --figure lag-load --side ours --run 1 --wrk "$WORK/lag-load.out"
add_result --figure lag --side ours --run 1 --json "$(grep '^BENCH_RESULT ' "$WORK/lag-probe.out")"
wait "$DISK_PID" || { cat "$WORK/disk-probe.out" >&2; die "the disk probe failed"; }
DISK_PID=""
add_result --figure disk --side ours --run 1 --json "$(grep '^BENCH_RESULT ' "$WORK/disk-probe.out")"
if ((DIAGNOSE)); then
  wait "$SAMPLER_PID" || log "WARNING: the wait sampler failed (see below)"
  SAMPLER_PID=""
  log "diagnose: after the lag run: $(sql_value ledger "$stats_sql")"
  log "diagnose: the prober's slowest registers (ms, at seconds into the run): $(python3 -c 'import json,sys
print(json.loads(sys.argv[1][len("BENCH_RESULT "):]).get("register_slowest"))' "$(grep '^BENCH_RESULT ' "$WORK/lag-probe.out")")"
  log "diagnose: pg_stat_activity during the lag run (bench/waits.py):"
  python3 "$ROOT/bench/waits.py" "$WORK/waits.out" >&2 || tail -n 5 "$WORK/waits.out" >&2
  log "diagnose: PostgreSQL's log during the lag run (checkpoints, autovacuum, lock waits, statements over 100 ms):"
  tail -c +"$((log_bytes_before + 1))" "$PGDIR/postgres.log" \
    | grep -E 'checkpoint|automatic (vacuum|analyze)|still waiting|acquired|duration: ' | cut -c 1-300 | tail -n 40 >&2 || true
fi
fi

# ------------------------------------------------------------------------------------------ partial commands
# Issue 10. partial: POST /records/{id}/retire {"quantity": 1} spread over PARTIAL_BLOCKS SOLD blocks of
# BLOCK_UNITS units per run (each wrk thread walks its own slice round and round, so two requests rarely meet
# on one block), against the append baseline; hot: the same with every connection on one block (a fresh one per
# run), against the partial row of the same run (target >= 0.5x). The blocks are seeded with SQL
# (bench/gen_blocks.sql, 2 events each, few enough for the running projector): blocks 1..PARTIAL_BLOCKS*RUNS
# for partial, the next RUNS for hot.
if runs partial || runs hot; then
  SEED_BLOCKS=$((PARTIAL_BLOCKS * RUNS + RUNS))
  log "partial: seeding $SEED_BLOCKS SOLD blocks of $BLOCK_UNITS units with SQL"
  SQL_TIMEOUT=1800 sql ledger -1 -v from=1 -v to="$SEED_BLOCKS" -v quantity="$BLOCK_UNITS" -f "$ROOT/bench/gen_blocks.sql"
  wait_projected 300
  sql ledger -c "ANALYZE"
fi
for ((run = 1; run <= RUNS; run++)); do
  runs partial || runs hot || break
  if runs partial; then
    ids="$WORK/partial-ids-$run.txt"
    sql_value ledger "SELECT md5('bench-block-' || i)::uuid FROM generate_series($(((run - 1) * PARTIAL_BLOCKS + 1)), $((run * PARTIAL_BLOCKS))) AS i" >"$ids"
    wait_projected 300
    checkpoint ledger
    log "partial: ours (retire quantity 1 over $PARTIAL_BLOCKS blocks), run $run/$RUNS"
    run_wrk "$WORK/partial-ours-$run.out" partial.lua "$RUN_SECONDS" "$ids" "$THREADS" spread
    add_result --figure partial --side ours --run "$run" --wrk "$WORK/partial-ours-$run.out"
  fi
  if runs hot; then
    ids="$WORK/hot-ids-$run.txt"
    sql_value ledger "SELECT md5('bench-block-' || $((PARTIAL_BLOCKS * RUNS + run)))::uuid" >"$ids"
    wait_projected 300
    checkpoint ledger
    log "hot: ours (retire quantity 1, all $CLIENTS connections on block $(cat "$ids")), run $run/$RUNS"
    run_wrk "$WORK/hot-ours-$run.out" partial.lua "$RUN_SECONDS" "$ids" "$THREADS" hot
    add_result --figure hot --side ours --run "$run" --wrk "$WORK/hot-ours-$run.out"
  fi
  if runs partial; then
    wait_projected 300
    checkpoint base
    log "partial: baseline (pgbench append), run $run/$RUNS"
    run_pgbench "$WORK/partial-base-$run.out" "$WORK/pgb-partial-$run" base append.sql
    add_result --figure partial --side baseline --run "$run" --pgbench "$WORK/partial-base-$run.out" \
      --pgbench-logs "$WORK/pgb-partial-$run"
    rm -f "$WORK/pgb-partial-$run".*
  fi
done
# carve10k: bench/carve_probe.py registers and sells one block over HTTP (to "Bench Buyer"), times 100 GETs of
# each kind and CARVE_SAMPLES partial retires (carves 1..CARVE_SAMPLES, after warming up on another block),
# carves it CARVES times in all (16 concurrent connections), and times the same again, each request interleaved
# with the same one on a fresh control block; once per run, on a new block.
for ((run = 1; run <= RUNS; run++)); do
  runs carve10k || break
  wait_projected 300
  checkpoint ledger
  log "carve10k: $CARVES carves of one block, $CARVE_SAMPLES timed requests before and after, run $run/$RUNS"
  bounded 1800 python3 "$ROOT/bench/carve_probe.py" --port "$PORT" --tag "c$run-$(date +%s%N)" \
    --samples "$CARVE_SAMPLES" --carves "$CARVES" --quantity "$BLOCK_UNITS" --buyer "Bench Buyer" \
    --checkpoint-cmd "psql -X -q -v ON_ERROR_STOP=1 $(printf '%q' "$(url ledger)") -c CHECKPOINT" \
    >"$WORK/carve10k-$run.out" 2>&1 || { cat "$WORK/carve10k-$run.out" >&2; die "bench/carve_probe.py failed"; }
  add_result --figure carve10k --side ours --run "$run" --json "$(grep '^BENCH_RESULT ' "$WORK/carve10k-$run.out")"
done

# ------------------------------------------------------------------------------------------ memory
if runs register || runs retire || runs get || runs lag || runs partial || runs hot || runs carve10k; then
  serve_kib=$(vm_hwm_kib "$SERVE_PID")
  project_kib=$(vm_hwm_kib "$PROJECT_PID")
  add_result --figure memory --side ours --run 1 --json "{\"serve_kib\": $serve_kib, \"project_kib\": $project_kib}"
fi
stop_process "$SERVE_PID" serve; SERVE_PID=""
stop_process "$PROJECT_PID" project; PROJECT_PID=""

# ------------------------------------------------------------------------------------------ rebuild
EVENTS=0
if runs rebuild; then
log "rebuild: seeding $REBUILD_CREDITS credits x 3 events with SQL"
t0=$SECONDS
SQL_TIMEOUT=3600 sql rebuild -1 -v credits="$REBUILD_CREDITS" -f "$ROOT/bench/gen_rebuild.sql"
SQL_TIMEOUT=1800 sql rebuild -c "VACUUM ANALYZE events"
EVENTS=$(sql_value rebuild "SELECT count(*) FROM events")
log "rebuild: seeded $EVENTS events in $((SECONDS - t0)) s"
# COPY TO runs in the server (as postgres), which can write into $WORK.
SQL_TIMEOUT=1200 sql rebuild -c "COPY events TO '$WORK/events.copy'"
for ((run = 1; run <= RUNS; run++)); do
  checkpoint rebuild
  log "rebuild: ours, run $run/$RUNS"
  bounded 1800 env DATABASE_URL="$(url rebuild ledger_owner)" /usr/bin/time -f 'BENCH_TIME %e %M' -o "$WORK/rebuild-time-$run.out" \
    "$BIN" rebuild 2>"$WORK/rebuild-ours-$run.out" || { tail -n 20 "$WORK/rebuild-ours-$run.out" >&2; die "rebuild failed"; }
  add_result --figure rebuild --side ours --run "$run" --rebuild "$WORK/rebuild-ours-$run.out" \
    --time "$WORK/rebuild-time-$run.out"

  log "rebuild: baseline (COPY into a scratch table), run $run/$RUNS"
  SQL_TIMEOUT=1800 sql rebuild -v copy_file="$WORK/events.copy" -f "$ROOT/bench/copy_baseline.sql" \
    >"$WORK/rebuild-base-$run.out" 2>&1 || { cat "$WORK/rebuild-base-$run.out" >&2; die "COPY baseline failed"; }
  add_result --figure rebuild --side baseline --run "$run" --copy "$WORK/rebuild-base-$run.out" --rows "$EVENTS"
done
fi

# ------------------------------------------------------------------------------------------ verify
# `carbon-ledger verify` over a sealed log: seeded with SQL into the rebuild database (when the rebuild row did
# not already), sealed by `carbon-ledger project` with a signing key, then timed.
if runs verify; then
VERIFY_CREDITS=$(int_env BENCH_VERIFY_CREDITS 333334 1)
if ! runs rebuild; then
  log "verify: seeding $VERIFY_CREDITS credits x 3 events with SQL"
  SQL_TIMEOUT=3600 sql rebuild -1 -v credits="$VERIFY_CREDITS" -f "$ROOT/bench/gen_rebuild.sql"
  SQL_TIMEOUT=1800 sql rebuild -c "VACUUM ANALYZE events"
fi
VERIFY_EVENTS=$(sql_value rebuild "SELECT count(*) FROM events")
VERIFY_PAGES=$(sql_value rebuild "SELECT pg_relation_size('events') / current_setting('block_size')::bigint")
# As many readers as verify uses here (one a core, 2 to 8; eventstore/log_verifier.h).
VERIFY_READERS=$(( $(nproc) < 2 ? 2 : $(nproc) > 8 ? 8 : $(nproc) ))
KEY_FILE=$WORK/verify-signing.key
"$BIN" signing-key create --name bench.local/log --file "$KEY_FILE" >/dev/null 2>"$WORK/signing-key.log" \
  || { cat "$WORK/signing-key.log" >&2; die "signing-key create failed"; }
chown postgres: "$KEY_FILE" 2>/dev/null || true
t0=$SECONDS
log "verify: sealing $VERIFY_EVENTS events (carbon-ledger project with LEDGER_SIGNING_KEY_FILE)"
LEDGER_SIGNING_KEY_FILE=$KEY_FILE LEDGER_PROJECTOR_METRICS_PORT=off DATABASE_URL=$(url rebuild ledger_project) \
  "$BIN" project >"$WORK/verify-project.log" 2>&1 &
SEAL_PID=$!
while :; do
  sealed=$(sql_value rebuild "SELECT coalesce(max(tree_size), 0) FROM log_checkpoints")
  ((sealed >= VERIFY_EVENTS)) && break
  kill -0 "$SEAL_PID" 2>/dev/null || { tail -n 20 "$WORK/verify-project.log" >&2; die "the sealing projector exited"; }
  ((SECONDS - t0 < 3600)) || die "sealing did not finish within an hour ($sealed of $VERIFY_EVENTS)"
  sleep 1
done
stop_process "$SEAL_PID" project
log "verify: sealed $VERIFY_EVENTS events in $((SECONDS - t0)) s"
rates=()
for ((run = 1; run <= RUNS; run++)); do
  checkpoint rebuild
  bounded 1800 env LEDGER_SIGNING_KEY_FILE="$KEY_FILE" DATABASE_URL="$(url rebuild ledger_owner)" "$BIN" verify \
    >"$WORK/verify-$run.out" 2>"$WORK/verify-$run.err" || { tail -n 20 "$WORK/verify-$run.out" "$WORK/verify-$run.err" >&2; die "verify failed"; }
  rate=$(sed -n 's/.* \([0-9][0-9]*\) events\/s$/\1/p' "$WORK/verify-$run.out" | tail -n 1)
  log "verify: run $run/$RUNS: $(tail -n 1 "$WORK/verify-$run.out")"
  rates+=("$rate")
  add_result --figure verify --side ours --run "$run" --json "{\"rate\": $rate, \"extra\": {\"events\": $VERIFY_EVENTS}}"
  # Baseline: PostgreSQL alone sending what verify reads, as it reads it: the same columns of every event in
  # binary COPY, one session per reader over equal ranges of the table's pages, side by side, to nowhere:
  # verify cannot be quicker than its own input.
  t_copy=$(date +%s%N)
  copy_pids=()
  for ((r = 0; r < VERIFY_READERS; r++)); do
    range="ctid >= '($((VERIFY_PAGES * r / VERIFY_READERS)),0)'::tid"
    ((r + 1 < VERIFY_READERS)) && range+=" AND ctid < '($((VERIFY_PAGES * (r + 1) / VERIFY_READERS)),0)'::tid"
    SQL_TIMEOUT=1800 sql rebuild -c "COPY (SELECT transaction_id, position, stream_id, stream_version, event_id,
      event_type, data, metadata, recorded_at FROM events WHERE $range) TO STDOUT (FORMAT binary)" >/dev/null &
    copy_pids+=($!)
  done
  for pid in "${copy_pids[@]}"; do wait "$pid" || die "the verify baseline's COPY failed"; done
  copy_ms=$(( ($(date +%s%N) - t_copy) / 1000000 ))
  add_result --figure verify --side baseline --run "$run" \
    --json "{\"rate\": $((VERIFY_EVENTS * 1000 / (copy_ms > 0 ? copy_ms : 1))), \"extra\": {\"events\": $VERIFY_EVENTS}}"
done
VERIFY_MEDIAN=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
log "verify: median $VERIFY_MEDIAN events/s over $VERIFY_EVENTS events ($RUNS runs)"
fi

# ------------------------------------------------------------------------------------------ report
meta=(
  --meta "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  --meta "commit=$COMMIT"
  --meta "nproc=$(nproc)"
  --meta "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
  --meta "load=load average (1, 5, 15 min) $LOAD_AT_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (the suite itself included)"
  --meta "memory=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  --meta "postgres=$(sql_value postgres "SELECT version()" | cut -d, -f1), fsync $(sql_value postgres "SHOW fsync"), synchronous_commit $(sql_value postgres "SHOW synchronous_commit"), shared_buffers $(sql_value postgres "SHOW shared_buffers"), max_connections $(sql_value postgres "SHOW max_connections") (scripts/pg-cluster.sh defaults, no --fast)"
  --meta "settings=$RUNS run(s) x ${RUN_SECONDS} s per figure and side, interleaved; $CLIENTS connections, $THREADS wrk threads / pgbench -j $THREADS; serve and project with default settings; lag run ${LAG_SECONDS} s; rebuild of $EVENTS events; figures: $FIGURES"
  --meta "data=retire: $SOLD SOLD credits seeded ($PER_RUN per run, each retired at most once); GET: ids drawn uniformly from $GET_IDS of them (SOLD or RETIRED; both sides the same ids); partial: $PARTIAL_BLOCKS SOLD blocks of $BLOCK_UNITS units per run, hot: 1 such block per run, carve10k: $CARVES carves of one block, $CARVE_SAMPLES timed requests before and after; rebuild: $EVENTS seeded events ($REBUILD_CREDITS credits x CREATED/SOLD/RETIRED)"
  --meta "command=$ORIGINAL_COMMAND"
)
echo
python3 "$ROOT/bench/report.py" table --results "$WORK/results.jsonl" ${REPORT:+--report "$REPORT"} "${meta[@]}"
