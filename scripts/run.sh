#!/usr/bin/env bash
# scripts/run.sh — what `make run` runs: install missing deps, build, make sure a database is
# available (a private, durable PostgreSQL cluster under .pgdata/ unless DATABASE_URL is set),
# run `carbon-ledger migrate`, then run `carbon-ledger project` and `carbon-ledger serve` in
# the background until Ctrl-C (INT/TERM), which stops everything this script started and exits 0
# without a word. If either child fails on its own, the other is stopped and the script exits
# non-zero. Each process logs in as its own database role (README, "Database roles"): migrate and
# keys as ledger_owner, project as ledger_project, serve as ledger_serve. The private cluster is
# bootstrapped (scripts/bootstrap.sql) by scripts/pg-cluster.sh start.
#
# Environment:
#   DATABASE_URL       use this database instead of the private cluster (libpq conninfo or URI; its
#                      bootstrap must have been run). Each process gets it with user=<its role>,
#                      unless one of these gives its URL in full (e.g. with its own password):
#   LEDGER_OWNER_DATABASE_URL, LEDGER_SERVE_DATABASE_URL, LEDGER_PROJECT_DATABASE_URL
#   LEDGER_HTTP_PORT   HTTP port of `serve` on 127.0.0.1 (default 8080)
#   SANITIZE, BUILD_DIR  as for make (binary: $BUILD_DIR/carbon-ledger)
#   LEDGER_PGDATA      private cluster directory (default: <repo>/.pgdata)
#   LEDGER_BIN         binary to run (default: $BUILD_DIR/carbon-ledger)
#   LEDGER_NO_BUILD=1  skip installing deps and building (use the existing binary)
#   LEDGER_SIGNING_KEY_FILE  the log's checkpoint signing key, made on first start when missing (default:
#                      <repo>/.ledger-signing-key, mode 600)
#   LEDGER_ADMIN_KEY_FILE  where the admin API key made on first start is kept (default:
#                      <repo>/.ledger-admin-key, mode 600); printed once, when it is created
set -euo pipefail

ME=run.sh
log() { printf '%s: %s\n' "$ME" "$*" >&2; }
die() { printf '%s: error: %s\n' "$ME" "$*" >&2; exit 1; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SANITIZE=${SANITIZE:-}
if [[ -z ${BUILD_DIR:-} ]]; then
  if [[ -n $SANITIZE ]]; then BUILD_DIR=build-sanitize; else BUILD_DIR=build; fi
fi
BIN=${LEDGER_BIN:-$BUILD_DIR/carbon-ledger}
PGDATA_DIR=${LEDGER_PGDATA:-$ROOT/.pgdata}
PORT=${LEDGER_HTTP_PORT:-8080}
if ! [[ $PORT =~ ^[1-9][0-9]{0,4}$ ]] || ((PORT > 65535)); then
  die "LEDGER_HTTP_PORT must be a port number, got '$PORT'"
fi
export LEDGER_HTTP_PORT=$PORT

HEALTH_TIMEOUT=30    # seconds for serve to answer /healthz
MIGRATE_TIMEOUT=600  # seconds for migrate
STOP_TIMEOUT=15      # seconds per child after SIGTERM, before SIGKILL

started_cluster=0
serve_pid=
project_pid=
running=0   # set once both services are up: from then on INT/TERM is the normal, silent way to stop
quiet=0     # a clean stop: cleanup says nothing

# True while PID is a live (non-zombie) process.
alive() {
  local st
  [[ -n $1 ]] || return 1
  kill -0 "$1" 2>/dev/null || return 1
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 0
  [[ $st != Z ]]
}

# SIGTERM a child, wait up to STOP_TIMEOUT seconds, then SIGKILL; always reaps it.
# shellcheck disable=SC2317  # only reached via the EXIT trap (shellcheck 0.9 false positive)
stop_child() {
  local name=$1 pid=$2 i
  [[ -n $pid ]] || return 0
  if alive "$pid"; then
    ((quiet)) || log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      log "$name did not exit within ${STOP_TIMEOUT}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  trap '' INT TERM   # finish the (bounded) cleanup even on a second Ctrl-C
  stop_child serve "$serve_pid"
  stop_child project "$project_pid"
  if ((started_cluster)); then
    local out
    out=$("$ROOT/scripts/pg-cluster.sh" stop "$PGDATA_DIR" 2>&1) \
      || { printf '%s\n' "$out" >&2; log "warning: could not stop PostgreSQL in $PGDATA_DIR"; }
    ((quiet)) || [[ -z $out ]] || printf '%s\n' "$out" >&2
  fi
  exit "$rc"
}
# Ctrl-C (or a TERM) once everything runs is how one stops it: exit 0, no messages. Earlier it is an
# interruption of the start (130 / 143).
on_signal() {
  if ((running)); then
    quiet=1
    exit 0
  fi
  echo >&2
  log "interrupted, shutting down"
  exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

if [[ ${LEDGER_NO_BUILD:-0} != 1 ]]; then
  scripts/install-deps.sh
  make --no-print-directory build SANITIZE="$SANITIZE" BUILD_DIR="$BUILD_DIR"
fi
[[ -x $BIN ]] || die "binary '$BIN' not found or not executable (did the build succeed?)"

# Refuse early if something already listens on the port: its /healthz would fool the check below.
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  die "127.0.0.1:$PORT is already in use (another 'make run'?); set LEDGER_HTTP_PORT to a free port"
fi

if [[ -z ${DATABASE_URL:-} ]]; then
  rc=0; "$ROOT/scripts/pg-cluster.sh" status "$PGDATA_DIR" >/dev/null 2>&1 || rc=$?
  if ((rc != 0)); then
    started_cluster=1   # set first: an interrupted start is still cleaned up
  else
    log "using the already running cluster in $PGDATA_DIR (it will be left running)"
  fi
  "$ROOT/scripts/pg-cluster.sh" start "$PGDATA_DIR"
  OWNER_URL=$("$ROOT/scripts/pg-cluster.sh" url "$PGDATA_DIR" ledger ledger_owner)
  SERVE_URL=$("$ROOT/scripts/pg-cluster.sh" url "$PGDATA_DIR" ledger ledger_serve)
  PROJECT_URL=$("$ROOT/scripts/pg-cluster.sh" url "$PGDATA_DIR" ledger ledger_project)
else
  log "using DATABASE_URL from the environment"
  # DATABASE_URL with user=ROLE: appended to a key=value conninfo, or as a URI parameter (the last wins).
  as_role() {
    local url=$1 role=$2
    if [[ $url == postgres://* || $url == postgresql://* ]]; then
      if [[ $url == *\?* ]]; then printf '%s&user=%s\n' "$url" "$role"; else printf '%s?user=%s\n' "$url" "$role"; fi
    else
      printf '%s user=%s\n' "$url" "$role"
    fi
  }
  OWNER_URL=${LEDGER_OWNER_DATABASE_URL:-$(as_role "$DATABASE_URL" ledger_owner)}
  SERVE_URL=${LEDGER_SERVE_DATABASE_URL:-$(as_role "$DATABASE_URL" ledger_serve)}
  PROJECT_URL=${LEDGER_PROJECT_DATABASE_URL:-$(as_role "$DATABASE_URL" ledger_project)}
fi
unset DATABASE_URL   # each command below gets the URL of its own role
log "DATABASE_URL of migrate and keys: $OWNER_URL"

log "migrating"
DATABASE_URL=$OWNER_URL timeout --foreground -k 10 "$MIGRATE_TIMEOUT" "$BIN" migrate \
  || die "'carbon-ledger migrate' as ledger_owner failed (exit $?); a database of your own needs the bootstrap first: psql -v dbname=ledger -f scripts/bootstrap.sql (README, \"Database roles\")"

# An admin API key on first start (no active admin key yet), kept in a private file; the database
# stores only its hash. It is printed when it is made; later starts say where it is kept.
KEY_FILE=${LEDGER_ADMIN_KEY_FILE:-$ROOT/.ledger-admin-key}
admin_key=       # set only when made by this start
saved_key_valid=0
active_admins=$(DATABASE_URL=$OWNER_URL "$BIN" keys list | awk -F'\t' 'NR > 1 && $3 == "admin" && $5 == "-" { print $1 }') \
  || die "'carbon-ledger keys list' failed"
if [[ -s $KEY_FILE ]]; then
  saved=$(<"$KEY_FILE")
  if grep -qxF "${saved:4:16}" <<<"$active_admins"; then saved_key_valid=1; fi
fi
if ((!saved_key_valid)) && [[ -z $active_admins ]]; then
  admin_key=$(DATABASE_URL=$OWNER_URL "$BIN" keys create --account admin --role admin) \
    || die "'carbon-ledger keys create' failed"
  (umask 077 && printf '%s\n' "$admin_key" >"$KEY_FILE")
  log "created an admin API key (saved in $KEY_FILE)"
fi

# The log's signing key on first start (docs/audit.md): the projector seals every event under checkpoints
# signed with it. Kept beside the admin key, mode 600; its public half is what auditors pin.
SIGNING_KEY_FILE=${LEDGER_SIGNING_KEY_FILE:-$ROOT/.ledger-signing-key}
if [[ ! -f $SIGNING_KEY_FILE ]]; then
  "$BIN" signing-key create --file "$SIGNING_KEY_FILE" >/dev/null \
    || die "could not create the log's signing key in $SIGNING_KEY_FILE"
  log "created the log's signing key (saved in $SIGNING_KEY_FILE)"
fi
log "the log's public key: $("$BIN" signing-key public --file "$SIGNING_KEY_FILE")"
LEDGER_SIGNING_KEY_FILE=$SIGNING_KEY_FILE DATABASE_URL=$PROJECT_URL "$BIN" project </dev/null &
project_pid=$!
log "started projector (pid $project_pid, as ledger_project)"
DATABASE_URL=$SERVE_URL "$BIN" serve </dev/null &
serve_pid=$!
log "started server (pid $serve_pid, as ledger_serve)"

child_died() {
  local name=$1 pid=$2 rc=0
  wait "$pid" 2>/dev/null || rc=$?
  if [[ $name == serve ]]; then serve_pid=; else project_pid=; fi
  die "$name exited unexpectedly (exit $rc)"
}

deadline=$((SECONDS + HEALTH_TIMEOUT))
until curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null; do
  alive "$serve_pid" || child_died serve "$serve_pid"
  alive "$project_pid" || child_died project "$project_pid"
  ((SECONDS < deadline)) || die "serve did not answer http://127.0.0.1:$PORT/healthz within ${HEALTH_TIMEOUT}s"
  sleep 0.5
done

if [[ -n $admin_key ]]; then
  cat >&2 <<EOF

$ME: Carbon Ledger is running at http://127.0.0.1:$PORT  (Ctrl-C stops it)
$ME: explorer page: http://127.0.0.1:$PORT/   API docs (Swagger UI): http://127.0.0.1:$PORT/docs   metrics: /metrics
$ME: a new admin API key (shown only now; kept in $KEY_FILE):
  $admin_key
$ME: try:
  KEY=\$(cat $KEY_FILE)
  curl -sS -X POST http://127.0.0.1:$PORT/register -H "Authorization: Bearer \$KEY" -H 'Content-Type: application/json' -d '{"project_name":"Project","registry":"Registry1","vintage":"2023","quantity":100,"serial_number":"SN1234"}'
  curl -sS http://127.0.0.1:$PORT/records/800d4116-9d79-5774-bcc1-b5c8a8b69bcc -H "Authorization: Bearer \$KEY"
$ME: more keys: DATABASE_URL='$OWNER_URL' $BIN keys create --account NAME --role issuer|holder|auditor|admin

EOF
elif ((saved_key_valid)); then
  cat >&2 <<EOF

$ME: Carbon Ledger is running at http://127.0.0.1:$PORT  (Ctrl-C stops it)
$ME: explorer page: http://127.0.0.1:$PORT/   API docs (Swagger UI): http://127.0.0.1:$PORT/docs   metrics: /metrics
$ME: admin API key: in $KEY_FILE  (KEY=\$(cat $KEY_FILE))

EOF
else
  cat >&2 <<EOF

$ME: Carbon Ledger is running at http://127.0.0.1:$PORT  (Ctrl-C stops it)
$ME: explorer page: http://127.0.0.1:$PORT/   API docs (Swagger UI): http://127.0.0.1:$PORT/docs   metrics: /metrics
$ME: this database already has admin keys (not made by this script); make one for yourself with:
  DATABASE_URL='$OWNER_URL' $BIN keys create --account NAME --role admin

EOF
fi

running=1

# Wait for either child to exit (a signal interrupts this and runs the INT/TERM trap).
rc=0
wait -n -p died "$serve_pid" "$project_pid" || rc=$?
if [[ ${died:-} == "$serve_pid" ]]; then
  serve_pid=; name=serve
else
  project_pid=; name=project
fi
# serve and project exit 0 only when asked to stop (SIGINT/SIGTERM: a Ctrl-C reaches them as well as
# this script, and may end one before this script's trap runs): a clean stop of everything.
if ((rc == 0)); then
  quiet=1
  exit 0
fi
die "$name exited unexpectedly (exit $rc)"
