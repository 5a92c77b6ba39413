#!/usr/bin/env bash
# scripts/test.sh — what `make test` runs: install missing deps, build, start a throwaway
# PostgreSQL cluster (unix socket only, non-durable --fast settings) in a fresh temp dir,
# run the CTest suite (unit + integration tests) against it, then always stop the cluster
# and delete the temp dir. Exits non-zero on any failure; on failure the cluster's
# postgres.log is printed to stderr (and kept as $BUILD_DIR/Testing/postgres-last.log).
#
# Usage: scripts/test.sh [CTEST_ARG...]     e.g. scripts/test.sh -R Projector
# Environment:
#   SANITIZE=address,undefined  sanitizer build (in build-sanitize/ unless BUILD_DIR is set)
#   BUILD_DIR                   build directory (default: build, or build-sanitize with SANITIZE)
#   CTEST_PARALLEL_LEVEL        ctest -j (default 1)
# Exported to the tests: LEDGER_TEST_PGHOST (socket dir), LEDGER_TEST_PGPORT, LEDGER_TEST_PGUSER.
set -euo pipefail

ME=test.sh
log() { printf '%s: %s\n' "$ME" "$*" >&2; }
die() { printf '%s: error: %s\n' "$ME" "$*" >&2; exit 1; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SANITIZE=${SANITIZE:-}
if [[ -z ${BUILD_DIR:-} ]]; then
  if [[ -n $SANITIZE ]]; then BUILD_DIR=build-sanitize; else BUILD_DIR=build; fi
fi
PARALLEL=${CTEST_PARALLEL_LEVEL:-1}
[[ $PARALLEL =~ ^[1-9][0-9]*$ ]] || die "CTEST_PARALLEL_LEVEL must be a positive integer, got '$PARALLEL'"

TMP=
PGDIR=
ok=0

cleanup() {
  local rc=$?
  trap '' INT TERM   # finish the (bounded) cleanup even on a second Ctrl-C
  ((ok)) || ((rc != 0)) || rc=1
  if [[ -n $PGDIR && -d $PGDIR ]]; then
    scripts/pg-cluster.sh stop "$PGDIR" || log "warning: could not stop the test cluster in $PGDIR"
    if ((rc != 0)) && [[ -f $PGDIR/postgres.log ]]; then
      if mkdir -p "$BUILD_DIR/Testing" 2>/dev/null; then
        cp "$PGDIR/postgres.log" "$BUILD_DIR/Testing/postgres-last.log" 2>/dev/null || true
      fi
      {
        echo "===== $ME: postgres.log of the test cluster (last 400 lines) ====="
        tail -n 400 "$PGDIR/postgres.log"
        echo "===== end of postgres.log (full copy: $BUILD_DIR/Testing/postgres-last.log) ====="
      } >&2
    fi
  fi
  if [[ -n $TMP && -d $TMP ]]; then
    rm -rf -- "$TMP"
  fi
  if ((rc != 0)); then log "FAILED (exit $rc)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

scripts/install-deps.sh
make --no-print-directory build SANITIZE="$SANITIZE" BUILD_DIR="$BUILD_DIR"

# Throwaway cluster. /tmp keeps the socket path short; the dir must be reachable by postgres.
TMP=$(mktemp -d /tmp/ledger-test.XXXXXX)
chmod 755 "$TMP"
if [[ $(id -u) -eq 0 ]]; then chown postgres: "$TMP"; fi
PGDIR=$TMP/pg
scripts/pg-cluster.sh start "$PGDIR" --fast

LEDGER_TEST_PGHOST=$(scripts/pg-cluster.sh host "$PGDIR")
LEDGER_TEST_PGPORT=${PGCLUSTER_PORT:-5432}
LEDGER_TEST_PGUSER=postgres
export LEDGER_TEST_PGHOST LEDGER_TEST_PGPORT LEDGER_TEST_PGUSER
log "test cluster: $(scripts/pg-cluster.sh url "$PGDIR")"

if [[ -n $SANITIZE ]]; then
  export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
  # libpqxx 6.4 (Debian 12) leaks the PGresult of a query whose connection broke: encoding_id() throws
  # before the result is owned (fixed in libpqxx 7.7, github.com/jtv/libpqxx/pull/500). The project never
  # calls libpq itself, so a leak whose stack runs through libpq is that bug (or libpq's own), not ours.
  printf 'leak:libpq.so\n' > "$TMP/lsan.supp"
  export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$TMP/lsan.supp:print_suppressions=0}
fi

log "running ctest in $BUILD_DIR (-j $PARALLEL)"
ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 600 --no-tests=error \
  -j "$PARALLEL" "$@"
ok=1
log "all tests passed"
