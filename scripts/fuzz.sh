#!/usr/bin/env bash
# scripts/fuzz.sh — what `make fuzz` runs: install clang and its fuzzer runtime if missing, build the
# libFuzzer targets (tests/fuzz/, -fsanitize=fuzzer,address,undefined) into build-fuzz/, then run each
# for a bounded time on a fresh COPY of its committed seed corpus (tests/fuzz/corpus/<target>/, which
# never grows). Exits non-zero on any crash, leak, timeout, out-of-memory or sanitizer report; the
# input that caused it is kept as build-fuzz/fuzz/<target>/artifacts/<kind>-<sha1>, and the log as
# build-fuzz/fuzz/<target>/fuzz.log.
#
# Usage: scripts/fuzz.sh [LIBFUZZER_ARG...]     e.g. scripts/fuzz.sh -jobs=2 -workers=2
# Environment:
#   FUZZ_SECONDS=60          run time per target (-max_total_time)
#   FUZZ_TARGETS="api http"  which targets to run (ledger_fuzz_<name>)
#   FUZZ_NICE=10             niceness of the fuzzers (so parallel builds/tests are not starved)
#   JOBS=2                   parallel compile jobs
#   LEDGER_SKIP_DEPS=1       do not check/install packages
# Reproduce a finding:  build-fuzz/ledger_fuzz_<target> build-fuzz/fuzz/<target>/artifacts/crash-...
set -euo pipefail

ME=fuzz.sh
log() { printf '%s: %s\n' "$ME" "$*" >&2; }
die() { printf '%s: error: %s\n' "$ME" "$*" >&2; exit 1; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-api http}
NICENESS=${FUZZ_NICE:-10}
JOBS=${JOBS:-2}
BUILD_DIR=build-fuzz
[[ $SECONDS_PER_TARGET =~ ^[1-9][0-9]*$ ]] || die "FUZZ_SECONDS must be a positive integer, got '$SECONDS_PER_TARGET'"
[[ $NICENESS =~ ^[0-9]+$ ]] || die "FUZZ_NICE must be 0..19, got '$NICENESS'"

# The project's packages plus clang and the compiler-rt archives libFuzzer/ASan/UBSan link from.
# install-deps.sh installs only what is missing (apt-get update first; as root, or via sudo).
scripts/install-deps.sh clang libclang-rt-14-dev

targets=()
for t in $TARGETS; do
  [[ -d tests/fuzz/corpus/$t && -f tests/fuzz/fuzz_$t.cc ]] || die "no fuzz target '$t' (tests/fuzz/fuzz_$t.cc, tests/fuzz/corpus/$t/)"
  targets+=("ledger_fuzz_$t")
done

log "configuring and building ${targets[*]} in $BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -DLEDGER_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS" --target "${targets[@]}"

# Leaks count (LeakSanitizer via libFuzzer's -detect_leaks=1, the default); UB aborts (the targets are
# built with -fno-sanitize-recover=all), and halt_on_error covers anything recoverable.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

failed=()
summary=()
for t in $TARGETS; do
  work=$BUILD_DIR/fuzz/$t
  rm -rf "$work"
  mkdir -p "$work/artifacts"
  cp -R "tests/fuzz/corpus/$t" "$work/corpus"   # a copy: the committed seed corpus never grows
  dict=()
  [[ -f tests/fuzz/$t.dict ]] && dict=(-dict="tests/fuzz/$t.dict")
  log "fuzzing ledger_fuzz_$t for ${SECONDS_PER_TARGET}s (log: $work/fuzz.log)"
  rc=0
  nice -n "$NICENESS" "$BUILD_DIR/ledger_fuzz_$t" \
    -max_total_time="$SECONDS_PER_TARGET" -max_len=70000 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "${dict[@]}" "$@" \
    "$work/corpus" >"$work/fuzz.log" 2>&1 || rc=$?
  # The last status line, e.g. "#123456 DONE cov: 1800 ft: 5000 corp: 400/60Kb lim: 4096 exec/s: 2000 rss: 90Mb"
  status_line=$(grep -E '^#[0-9]+' "$work/fuzz.log" | tail -n 1 || true)
  found=$(find "$work/artifacts" -type f | sort)
  if ((rc != 0)) || [[ -n $found ]] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$work/fuzz.log"; then
    failed+=("$t")
    log "ledger_fuzz_$t FAILED (exit $rc); end of its log:"
    tail -n 60 "$work/fuzz.log" >&2
    for f in $found; do log "  reproduce: $BUILD_DIR/ledger_fuzz_$t $f"; done
  fi
  summary+=("ledger_fuzz_$t: ${status_line:-no status line} (exit $rc)")
done

for line in "${summary[@]}"; do log "$line"; done
((${#failed[@]} == 0)) || die "findings in: ${failed[*]} (inputs under $BUILD_DIR/fuzz/<target>/artifacts/)"
log "no findings"
