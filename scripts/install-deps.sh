#!/usr/bin/env bash
# scripts/install-deps.sh — install the Debian packages Carbon Ledger needs to build, test,
# run and benchmark (compiler, CMake, Boost, libpqxx, RapidJSON, GoogleTest, PostgreSQL 15
# server, wrk, ICU). Idempotent and silent when everything is already installed; otherwise runs
# `apt-get update` and `apt-get install -y` for the missing packages only (as root, via sudo
# when not root).
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
  libboost1.81-dev libpqxx-dev rapidjson-dev libssl-dev libicu-dev
  libgtest-dev libgmock-dev
  postgresql-15
  wrk
)

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

((${#missing[@]} == 0)) && exit 0

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
