#!/usr/bin/env bash
# scripts/install-deps.sh — install the Debian packages Carbon Ledger needs to build, test,
# run and benchmark (compiler, CMake, Boost, libpqxx, RapidJSON, GoogleTest, PostgreSQL 15
# server, wrk, ICU, prometheus-cpp, promtool, Chromium for the browser tests, Node.js when absent),
# then the pinned npm packages of server/web (Swagger UI, and the OpenAPI linter, JSON Schema
# validator and browser driver the tests use) with `npm ci` from the committed lockfile.
# Idempotent and silent when everything is already installed; otherwise runs `apt-get update` and
# `apt-get install -y` for the missing packages only (as root, via sudo when not root), and `npm ci`
# only when server/web/node_modules does not match server/web/package-lock.json.
#
# Usage: install-deps.sh [--check] [EXTRA_PACKAGE...]
#   --check          only report missing packages (exit 1 if any), install nothing
#   EXTRA_PACKAGE    additional packages to require
# Environment: LEDGER_SKIP_DEPS=1 skips everything (e.g. non-Debian machines with the
# dependencies installed by other means).
set -euo pipefail

ME=install-deps.sh
log() { printf '%s: %s\n' "$ME" "$*" >&2; }
die() { printf '%s: error: %s\n' "$ME" "$*" >&2; exit 1; }

PACKAGES=(
  g++ cmake make pkg-config ccache
  libboost1.81-dev libpqxx-dev libpq-dev rapidjson-dev libssl-dev libicu-dev
  libgtest-dev libgmock-dev
  postgresql-15
  wrk
  prometheus-cpp-dev prometheus chromium fonts-dejavu-core
)
# Node.js and npm: a machine's own (newer) install is used when there is one.
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)

check_only=0
for arg in "$@"; do
  case $arg in
    --check) check_only=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$arg'" ;;
    *) PACKAGES+=("$arg") ;;
  esac
done

if [[ ${LEDGER_SKIP_DEPS:-0} == 1 ]]; then
  exit 0
fi

command -v dpkg-query >/dev/null 2>&1 \
  || die "dpkg-query not found: this script supports Debian/Ubuntu only. Install the equivalents of: ${PACKAGES[*]} and set LEDGER_SKIP_DEPS=1"

# One dpkg-query call for all packages; a package counts as present when its status is
# "installed" (not e.g. "config-files" after a remove).
declare -A installed=()
while read -r name status; do
  [[ $status == installed ]] && installed[$name]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)

missing=()
for p in "${PACKAGES[@]}"; do
  [[ -n ${installed[$p]:-} ]] || missing+=("$p")
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WEB=$ROOT/server/web
# npm ci when node_modules is not what the lockfile says (npm writes its own copy of the lockfile there).
npm_current() { [[ -f $WEB/node_modules/.package-lock.json ]] && [[ $WEB/node_modules/.package-lock.json -nt $WEB/package-lock.json ]]; }
install_npm_packages() {
  npm_current && return 0
  ((check_only)) && { log "server/web/node_modules is missing or stale (npm ci)"; exit 1; }
  log "installing the npm packages of server/web (npm ci)"
  (cd "$WEB" && timeout 900 npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci in server/web failed"
  touch "$WEB/node_modules/.package-lock.json"
}

if ((${#missing[@]} == 0)); then
  install_npm_packages
  exit 0
fi

if ((check_only)); then
  log "missing packages: ${missing[*]}"
  exit 1
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    die "missing packages: ${missing[*]}. Installing them needs root, and sudo is not available: run 'apt-get install -y ${missing[*]}' as root"
  fi
fi

command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install manually: ${missing[*]}"

# Wait (bounded) for another apt/dpkg run to release its locks instead of failing at once.
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)

log "missing packages: ${missing[*]}"
log "running apt-get update"
"${APT[@]}" update -qq || die "apt-get update failed"
log "installing: ${missing[*]}"
"${APT[@]}" install -y -qq --no-install-recommends "${missing[@]}" \
  || die "apt-get install failed for: ${missing[*]}"
log "done"
install_npm_packages
