#!/usr/bin/env bash
# scripts/web-test.sh — runs the Node.js tests under tests/web/ (OpenAPI contract, explorer page in Chromium,
# metrics) against a real ledger: a fresh database, `carbon-ledger project` and `carbon-ledger serve` on free
# loopback ports, and one API key per role. CTest runs it (see CMakeLists.txt); it can be run by hand too.
#
# Usage: scripts/web-test.sh TEST_FILE...      e.g. scripts/web-test.sh tests/web/contract.test.mjs
# Environment:
#   LEDGER_TEST_PGHOST/PGPORT/PGUSER  a PostgreSQL superuser to make the database with (make test sets them);
#                                     unset: a throwaway cluster is started in a temp dir and removed after
#   LEDGER_BIN                        the carbon-ledger binary (default $BUILD_DIR/carbon-ledger, BUILD_DIR build)
#   LEDGER_WEB_OUTPUT_DIR             screenshots and logs (default $BUILD_DIR/test-output/web)
# Exported to the tests:
#   LEDGER_WEB_BASE_URL               http://127.0.0.1:<port> of serve
#   LEDGER_WEB_METRICS_URL            http://127.0.0.1:<port>/metrics of the projector
#   LEDGER_WEB_KEY_ADMIN|ISSUER|HOLDER|AUDITOR   API keys of accounts web-admin, web-issuer, web-holder,
#                                     web-auditor (web-issuer is bound to Verra, Gold Standard, Test Registry)
#   LEDGER_WEB_DATABASE_URL           the database, as the superuser (for checks by SQL)
#   LEDGER_WEB_OUTPUT_DIR, LEDGER_WEB_SERVE_LOG, LEDGER_WEB_PROJECT_LOG, LEDGER_BIN
set -euo pipefail

ME=web-test.sh
log() { printf '%s: %s\n' "$ME" "$*" >&2; }
die() { printf '%s: error: %s\n' "$ME" "$*" >&2; exit 1; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
(($# > 0)) || die "usage: $ME TEST_FILE..."
BUILD_DIR=${BUILD_DIR:-build}
BIN=${LEDGER_BIN:-$ROOT/$BUILD_DIR/carbon-ledger}
[[ -x $BIN ]] || die "$BIN not found: build first (make build)"
[[ -d $ROOT/server/web/node_modules ]] || die "server/web/node_modules missing: make build runs npm ci there"
STARTUP_TIMEOUT_S=30

TMP=$(mktemp -d /tmp/ledger-web.XXXXXX)
chmod 755 "$TMP"
own_cluster=
serve_pid=
project_pid=
cleanup() {
  local rc=$?
  for pid in $serve_pid $project_pid; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in $serve_pid $project_pid; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if ((rc != 0)); then
    for f in "$OUT/serve.log" "$OUT/project.log"; do
      [[ -f $f ]] && { echo "===== $ME: last lines of $f ====="; tail -n 60 "$f"; } >&2
    done
  fi
  if [[ -n $own_cluster ]]; then "$ROOT/scripts/pg-cluster.sh" stop "$own_cluster" >/dev/null 2>&1 || true; fi
  rm -rf -- "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

OUT=${LEDGER_WEB_OUTPUT_DIR:-$ROOT/$BUILD_DIR/test-output/web}
mkdir -p "$OUT"

if [[ -z ${LEDGER_TEST_PGHOST:-} ]]; then
  if [[ $(id -u) -eq 0 ]]; then chown postgres: "$TMP"; fi
  own_cluster=$TMP/pg
  "$ROOT/scripts/pg-cluster.sh" start "$own_cluster" --fast >/dev/null
  LEDGER_TEST_PGHOST=$("$ROOT/scripts/pg-cluster.sh" host "$own_cluster")
  LEDGER_TEST_PGPORT=${PGCLUSTER_PORT:-5432}
  LEDGER_TEST_PGUSER=postgres
fi
PGHOST=$LEDGER_TEST_PGHOST
PGPORT=${LEDGER_TEST_PGPORT:-5432}
PGUSER=${LEDGER_TEST_PGUSER:-postgres}
DB=web_$(date +%s)_$$_$RANDOM
url() { printf 'host=%s port=%s user=%s dbname=%s' "$PGHOST" "$PGPORT" "$1" "$DB"; }

psql -X -q -v ON_ERROR_STOP=1 -v dbname="$DB" -f scripts/bootstrap.sql \
  "host=$PGHOST port=$PGPORT user=$PGUSER dbname=postgres" >/dev/null
DATABASE_URL=$(url ledger_owner) "$BIN" migrate >/dev/null 2>"$OUT/migrate.log" || die "migrate failed: $(cat "$OUT/migrate.log")"

key() { DATABASE_URL=$(url ledger_owner) "$BIN" keys create --account "$1" --role "$2" --actor web-test 2>/dev/null; }
LEDGER_WEB_KEY_ADMIN=$(key web-admin admin)
LEDGER_WEB_KEY_ISSUER=$(key web-issuer issuer)
LEDGER_WEB_KEY_HOLDER=$(key web-holder holder)
LEDGER_WEB_KEY_AUDITOR=$(key web-auditor auditor)
for registry in Verra "Gold Standard" "Test Registry"; do
  DATABASE_URL=$(url ledger_owner) "$BIN" registries bind --account web-issuer --registry "$registry" \
    --actor web-test >/dev/null 2>&1 || die "registries bind $registry failed"
done

# The log's signing key, so the projector seals the log (GET /log/*, /events): a checkpoint every 100 ms.
DATABASE_URL=$(url ledger_owner) "$BIN" signing-key create --file "$TMP/signing.key" >/dev/null 2>"$OUT/signing-key.log" \
  || die "signing-key create failed: $(cat "$OUT/signing-key.log")"
export LEDGER_SIGNING_KEY_FILE=$TMP/signing.key LEDGER_CHECKPOINT_INTERVAL_MS=100

# Free ports: serve binds port 0 and says which; the projector's metrics port likewise.
DATABASE_URL=$(url ledger_project) LEDGER_PROJECTOR_METRICS_PORT=0 "$BIN" project </dev/null \
  >"$OUT/project.log" 2>&1 &
project_pid=$!
DATABASE_URL=$(url ledger_serve) LEDGER_HTTP_PORT=0 "$BIN" serve </dev/null >"$OUT/serve.log" 2>&1 &
serve_pid=$!

wait_for_line() {  # file regex: prints the first capture group of the first matching line
  local file=$1 regex=$2 line
  for _ in $(seq 1 $((STARTUP_TIMEOUT_S * 10))); do
    line=$(grep -oE "$regex" "$file" 2>/dev/null | head -n 1 || true)
    if [[ -n $line ]]; then printf '%s\n' "$line"; return 0; fi
    sleep 0.1
  done
  return 1
}
base=$(wait_for_line "$OUT/serve.log" 'http://127\.0\.0\.1:[0-9]+') || die "serve did not start"
metrics=$(wait_for_line "$OUT/project.log" 'http://127\.0\.0\.1:[0-9]+/metrics') \
  || die "the projector did not print its metrics address"
for _ in $(seq 1 $((STARTUP_TIMEOUT_S * 10))); do
  curl -fsS -o /dev/null "$base/healthz" 2>/dev/null && break
  sleep 0.1
done

export LEDGER_WEB_BASE_URL=$base LEDGER_WEB_METRICS_URL=$metrics LEDGER_WEB_OUTPUT_DIR=$OUT LEDGER_BIN=$BIN
export LEDGER_WEB_KEY_ADMIN LEDGER_WEB_KEY_ISSUER LEDGER_WEB_KEY_HOLDER LEDGER_WEB_KEY_AUDITOR
export LEDGER_WEB_DATABASE_URL="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$DB"
export LEDGER_WEB_SERVE_LOG=$OUT/serve.log LEDGER_WEB_PROJECT_LOG=$OUT/project.log
log "serve at $base, projector metrics at $metrics, output in $OUT"
node --test --test-reporter=spec --test-concurrency=1 "$@"
