#!/usr/bin/env bash
# scripts/run.sh — what `make run` runs: install missing deps, build, make sure a database is
# available (a private, durable PostgreSQL cluster under .pgdata/ unless DATABASE_URL is set),
# run `carbon-ledger migrate`, then run `carbon-ledger project` and `carbon-ledger serve` in
# the background until Ctrl-C (INT/TERM), which stops everything this script started. If either
# child exits on its own, the other is stopped and the script exits non-zero.
#
# Environment:
#   DATABASE_URL       use this database instead of the private cluster (libpq conninfo or URI)
#   LEDGER_HTTP_PORT   HTTP port of `serve` on 127.0.0.1 (default 8080)
#   SANITIZE, BUILD_DIR  as for make (binary: $BUILD_DIR/carbon-ledger)
#   LEDGER_PGDATA      private cluster directory (default: <repo>/.pgdata)
#   LEDGER_BIN         binary to run (default: $BUILD_DIR/carbon-ledger)
#   LEDGER_NO_BUILD=1  skip installing deps and building (use the existing binary)
#   LEDGER_ADMIN_KEY_FILE  where the admin API key made on first start is kept (default:
#                      <repo>/.ledger-admin-key, mode 600); printed at every start while it is valid
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
    log "stopping $name (pid $pid)"
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
    "$ROOT/scripts/pg-cluster.sh" stop "$PGDATA_DIR" || log "warning: could not stop PostgreSQL in $PGDATA_DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo >&2; log "interrupted, shutting down"; exit 130' INT
trap 'log "terminated, shutting down"; exit 143' TERM

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
  DATABASE_URL=$("$ROOT/scripts/pg-cluster.sh" url "$PGDATA_DIR")
  log "DATABASE_URL=$DATABASE_URL"
else
  log "using DATABASE_URL from the environment"
fi
export DATABASE_URL

log "migrating"
timeout --foreground -k 10 "$MIGRATE_TIMEOUT" "$BIN" migrate \
  || die "'carbon-ledger migrate' failed (exit $?)"

# An admin API key on first start (no active admin key yet), kept in a private file so later starts
# can print it again; the database stores only its hash.
KEY_FILE=${LEDGER_ADMIN_KEY_FILE:-$ROOT/.ledger-admin-key}
admin_key=
active_admins=$("$BIN" keys list | awk -F'\t' 'NR > 1 && $3 == "admin" && $5 == "-" { print $1 }') \
  || die "'carbon-ledger keys list' failed"
if [[ -s $KEY_FILE ]]; then
  saved=$(<"$KEY_FILE")
  if grep -qxF "${saved:4:16}" <<<"$active_admins"; then admin_key=$saved; fi
fi
if [[ -z $admin_key && -z $active_admins ]]; then
  admin_key=$("$BIN" keys create --account admin --role admin) || die "'carbon-ledger keys create' failed"
  (umask 077 && printf '%s\n' "$admin_key" >"$KEY_FILE")
  log "created an admin API key (saved in $KEY_FILE)"
fi

"$BIN" project </dev/null &
project_pid=$!
log "started projector (pid $project_pid)"
"$BIN" serve </dev/null &
serve_pid=$!
log "started server (pid $serve_pid)"

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
$ME: admin API key (kept in $KEY_FILE):
  $admin_key
$ME: try:
  KEY=$admin_key
  curl -sS -X POST http://127.0.0.1:$PORT/register -H "Authorization: Bearer \$KEY" -H 'Content-Type: application/json' -d '{"project_name":"Project","registry":"Registry1","vintage":"2023","quantity":100,"serial_number":"SN1234"}'
  curl -sS http://127.0.0.1:$PORT/records/800d4116-9d79-5774-bcc1-b5c8a8b69bcc -H "Authorization: Bearer \$KEY"
$ME: more keys: DATABASE_URL='$DATABASE_URL' $BIN keys create --account NAME --role issuer|holder|auditor|admin

EOF
else
  cat >&2 <<EOF

$ME: Carbon Ledger is running at http://127.0.0.1:$PORT  (Ctrl-C stops it)
$ME: this database already has admin keys (not made by this script); make one for yourself with:
  DATABASE_URL='$DATABASE_URL' $BIN keys create --account NAME --role admin

EOF
fi

# Wait for either child to exit (a signal interrupts this and runs the INT/TERM trap).
rc=0
wait -n -p died "$serve_pid" "$project_pid" || rc=$?
if [[ ${died:-} == "$serve_pid" ]]; then
  serve_pid=; name=serve
else
  project_pid=; name=project
fi
die "$name exited unexpectedly (exit $rc)"
