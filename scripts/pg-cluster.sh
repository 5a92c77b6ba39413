#!/usr/bin/env bash
# scripts/pg-cluster.sh — manage a private PostgreSQL cluster for Carbon Ledger
# (local runs via scripts/run.sh, throwaway test clusters via scripts/test.sh).
#
# The cluster listens ONLY on a unix socket in DATA_DIR/socket (listen_addresses=''),
# never on TCP, so any number of clusters can run side by side. Because the socket
# directory is private, the "port" (which only names the socket file .s.PGSQL.<port>)
# defaults to 5432 and cannot clash; override it with PGCLUSTER_PORT.
#
# Usage:
#   pg-cluster.sh start  DATA_DIR [--fast]  initdb if needed, start (idempotent), then bootstrap db "ledger"
#   pg-cluster.sh bootstrap DATA_DIR [DBNAME]  run scripts/bootstrap.sql as the superuser: the ledger's roles
#                                           and database DBNAME (default ledger) owned by ledger_owner (idempotent)
#   pg-cluster.sh stop   DATA_DIR           fast shutdown (tolerates "not running" / no cluster)
#   pg-cluster.sh status DATA_DIR           exit 0 running, 3 stopped, 4 no cluster
#   pg-cluster.sh url    DATA_DIR [DBNAME [ROLE]]  print a libpq conninfo, e.g.
#                                           host=DATA_DIR/socket port=5432 user=postgres dbname=ledger
#                                           (ROLE: ledger_owner, ledger_serve, ledger_project, ...; default postgres)
#   pg-cluster.sh host   DATA_DIR           print the socket directory (for PGHOST)
#
# --fast (throwaway clusters only!) turns off fsync, synchronous_commit and full_page_writes.
# Environment: PGCLUSTER_PORT (default 5432), PG_BINDIR (default: PostgreSQL 15 server binaries).
# When run as root, initdb/pg_ctl/postgres run as the "postgres" user via runuser.
set -euo pipefail

ME=pg-cluster.sh
log() { printf '%s: %s\n' "$ME" "$*" >&2; }
die() { printf '%s: error: %s\n' "$ME" "$*" >&2; exit 1; }

usage() {
  sed -n '/^# Usage:/,/^# When run as root/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

PORT=${PGCLUSTER_PORT:-5432}
if ! [[ $PORT =~ ^[1-9][0-9]{0,4}$ ]] || ((PORT > 65535)); then
  die "PGCLUSTER_PORT must be a port number (1-65535), got '$PORT'"
fi
DBNAME_DEFAULT=ledger
BOOTSTRAP_SQL=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/bootstrap.sql
PG_SUPERUSER=postgres
START_TIMEOUT=60   # seconds pg_ctl waits for startup
STOP_TIMEOUT=60    # seconds pg_ctl waits for a fast shutdown
LOCK_TIMEOUT=150   # seconds to wait for another pg-cluster.sh working on the same DATA_DIR

# ---------------------------------------------------------------------------- binaries
find_bindir() {
  local d
  if [[ -n ${PG_BINDIR:-} ]]; then
    [[ -x $PG_BINDIR/pg_ctl ]] || die "PG_BINDIR=$PG_BINDIR has no pg_ctl"
    printf '%s\n' "$PG_BINDIR"; return
  fi
  if [[ -x /usr/lib/postgresql/15/bin/pg_ctl ]]; then
    printf '%s\n' /usr/lib/postgresql/15/bin; return
  fi
  # Any other installed major version (highest first), then pg_config, then PATH.
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5,5nr); do
    [[ -x $d/pg_ctl ]] && { printf '%s\n' "$d"; return; }
  done
  if command -v pg_config >/dev/null 2>&1 && d=$(pg_config --bindir 2>/dev/null) && [[ -x $d/pg_ctl ]]; then
    printf '%s\n' "$d"; return
  fi
  if d=$(command -v pg_ctl 2>/dev/null); then
    dirname "$d"; return
  fi
  die "PostgreSQL server binaries (pg_ctl, initdb) not found; run scripts/install-deps.sh (package postgresql-15) or set PG_BINDIR"
}

IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1

# Run a PostgreSQL program as the cluster owner: "postgres" when we are root (the server
# refuses to run as root), ourselves otherwise. Runs from / so an unreadable cwd (e.g. /root)
# does not matter, and closes fd 9 (our DATA_DIR lock) so the postmaster does not inherit it.
as_pg() {
  if ((IS_ROOT)); then
    (cd / && runuser -u "$PG_SUPERUSER" -- "$@" 9<&-)
  else
    (cd / && "$@" 9<&-)
  fi
}

# as_pg, but in a new session: terminal signals (Ctrl-C) do not reach the command.
as_pg_detached() {
  if ((IS_ROOT)); then
    env -C / setsid -w runuser -u "$PG_SUPERUSER" -- "$@" 9<&-
  else
    env -C / setsid -w "$@" 9<&-
  fi
}

check_runuser() {
  ((IS_ROOT)) || return 0
  command -v runuser >/dev/null 2>&1 || die "running as root but 'runuser' (util-linux) is missing; it is needed to run PostgreSQL as user $PG_SUPERUSER"
  id -u "$PG_SUPERUSER" >/dev/null 2>&1 || die "running as root but there is no '$PG_SUPERUSER' system user (install postgresql-15 via scripts/install-deps.sh)"
}

# ---------------------------------------------------------------------------- paths
# Absolute, symlink-free path of DATA_DIR (which need not exist yet).
resolve_dir() {
  local raw=$1 abs
  [[ -n $raw ]] || die "DATA_DIR must not be empty"
  abs=$(realpath -m -- "$raw") || die "cannot resolve path '$raw'"
  [[ $abs != / ]] || die "refusing to use / as DATA_DIR"
  # The path ends up in a shell command line (pg_ctl -o), in the server's
  # unix_socket_directories list and in a libpq conninfo: keep it to safe characters.
  if ! LC_ALL=C grep -Eq '^[A-Za-z0-9 ._/+@:%=~-]+$' <<<"$abs"; then
    die "DATA_DIR '$abs' contains characters that cannot be used safely (allowed: letters, digits, space and ._/+@:%=~-); choose another directory"
  fi
  printf '%s\n' "$abs"
}

socket_dir() { printf '%s/socket\n' "$1"; }

check_socket_path_length() {
  local sock
  sock="$(socket_dir "$1")/.s.PGSQL.$PORT"
  # sockaddr_un.sun_path is 108 bytes including the terminating NUL.
  if ((${#sock} > 107)); then
    die "unix socket path '$sock' is ${#sock} characters; the limit is 107. Use a shorter DATA_DIR path (e.g. under /tmp)"
  fi
}

# Every ancestor of DATA_DIR must be traversable (x bit) by the postgres user, or the
# server cannot reach its own data directory.
check_traversable() {
  local dir=$1 d bad
  ((IS_ROOT)) || return 0
  local -a ancestors=()
  d=$(dirname -- "$dir")
  while :; do
    [[ -e $d ]] && ancestors=("$d" "${ancestors[@]}")
    [[ $d == / ]] && break
    d=$(dirname -- "$d")
  done
  # One runuser call walks the chain top-down and reports the first blocked directory.
  # shellcheck disable=SC2016  # $d is expanded by the inner sh
  if ! bad=$(as_pg sh -c 'for d do [ -x "$d" ] || { printf "%s\n" "$d"; exit 1; }; done' sh "${ancestors[@]}"); then
    [[ -n $bad ]] || bad="(unknown)"
    die "directory '$bad' is not traversable by user '$PG_SUPERUSER' ($(stat -c '%U:%G %A' -- "$bad" 2>/dev/null || echo '?')), so PostgreSQL cannot reach '$dir'. Use a DATA_DIR outside it (e.g. under /tmp or /var/tmp), or grant search permission: chmod o+x '$bad'"
  fi
}

has_cluster() { [[ -f $1/PG_VERSION ]]; }

postmaster_pid() { sed -n 1p "$1/postmaster.pid" 2>/dev/null || true; }

is_zombie() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ $st == Z ]]
}

# 0 running, 3 not running, 4 no (accessible) data directory (pg_ctl status codes),
# 5 the postmaster died but is an unreaped zombie (some container inits reap lazily):
# its postmaster.pid still looks live to pg_ctl and to a new postmaster.
pg_status() {
  local rc=0 pid
  as_pg "$BINDIR/pg_ctl" status -D "$1" >/dev/null 2>&1 || rc=$?
  ((rc == 0)) || return "$rc"
  pid=$(postmaster_pid "$1")
  if [[ $pid =~ ^[0-9]+$ ]] && is_zombie "$pid"; then
    return 5
  fi
  return 0
}

# pg_status, but wait (bounded) for a dead postmaster's zombie to be reaped first.
pg_status_settled() {
  local dir=$1 rc=0 i
  for ((i = 0; i < 300; i++)); do
    rc=0; pg_status "$dir" || rc=$?
    ((rc == 5)) || return "$rc"
    ((i == 0)) && log "the postmaster of '$dir' (pid $(postmaster_pid "$dir")) has died and awaits reaping by its parent; waiting up to 30s"
    sleep 0.1
  done
  die "the dead postmaster (pid $(postmaster_pid "$dir")) of '$dir' was not reaped within 30s; PostgreSQL cannot start until it is gone"
}

# Serialise start/stop on the same DATA_DIR (flock on the directory itself, fd 9).
lock_dir() {
  exec 9<"$1" || die "cannot open '$1' for locking"
  flock -w "$LOCK_TIMEOUT" 9 || die "timed out after ${LOCK_TIMEOUT}s waiting for another pg-cluster.sh working on '$1'"
}

# ---------------------------------------------------------------------------- sql helpers
psql_q() {
  local dir=$1; shift
  PGCONNECT_TIMEOUT=10 as_pg "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 \
    -h "$(socket_dir "$dir")" -p "$PORT" -U "$PG_SUPERUSER" -d postgres "$@"
}

# The ledger's roles and a database owned by ledger_owner (scripts/bootstrap.sql, idempotent). The script
# goes in on stdin, so the postgres user need not be able to read the checkout.
bootstrap_database() {
  local dir=$1 db=$2 out
  out=$(psql_q "$dir" -v dbname="$db" -f - <"$BOOTSTRAP_SQL" 2>&1) \
    || { printf '%s\n' "$out" >&2; die "scripts/bootstrap.sql failed for database '$db' (see $dir/postgres.log)"; }
  # Its NOTICEs say what it created or changed; nothing when all was in place already.
  while IFS= read -r line; do
    [[ $line == *NOTICE:* && $line != *"already a member"* ]] && log "bootstrap: ${line#*NOTICE:  }"
  done <<<"$out"
  return 0
}

# ---------------------------------------------------------------------------- commands
cmd_start() {
  local dir=$1 fast=$2 sock locale owner rc initlog
  check_runuser
  check_socket_path_length "$dir"
  sock=$(socket_dir "$dir")

  if [[ ! -d $dir ]]; then
    check_traversable "$dir"   # the existing part of the path, before creating anything
    mkdir -p -- "$dir" || die "cannot create '$dir'"
    chmod 700 -- "$dir"
    ((IS_ROOT)) && chown "$PG_SUPERUSER:" -- "$dir"
  fi
  if ((IS_ROOT)); then
    owner=$(stat -c %U -- "$dir")
    if [[ $owner != "$PG_SUPERUSER" ]]; then
      if [[ -n $(ls -A -- "$dir") ]]; then
        die "'$dir' is owned by '$owner' (not $PG_SUPERUSER) and not empty; remove it or chown -R $PG_SUPERUSER: '$dir'"
      fi
      chown "$PG_SUPERUSER:" -- "$dir"
    fi
  fi
  check_traversable "$dir"
  lock_dir "$dir"

  if ! has_cluster "$dir"; then
    if [[ -n $(ls -A -- "$dir") ]]; then
      die "'$dir' is not empty but holds no PostgreSQL cluster (no PG_VERSION); refusing to initdb over it"
    fi
    locale=C
    if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then locale=C.UTF-8; fi
    log "initialising a new cluster in $dir (locale $locale)"
    initlog=$(mktemp)
    local -a initargs=(-D "$dir" -U "$PG_SUPERUSER" --auth=trust -E UTF8 --locale="$locale" --no-instructions)
    [[ $fast == 1 ]] && initargs+=(--no-sync)
    if ! as_pg "$BINDIR/initdb" "${initargs[@]}" >"$initlog" 2>&1; then
      cat "$initlog" >&2; rm -f "$initlog"
      die "initdb failed for '$dir'"
    fi
    rm -f "$initlog"
  fi

  if [[ ! -d $sock ]]; then
    as_pg mkdir -m 700 -- "$sock" || die "cannot create socket directory '$sock'"
  fi

  rc=0; pg_status_settled "$dir" || rc=$?
  if ((rc == 0)); then
    # Already running: check it is reachable where we expect it (postmaster.pid lines 4/5 = port, socket dir).
    local runport runsock
    runport=$(sed -n 4p "$dir/postmaster.pid" 2>/dev/null || true)
    runsock=$(sed -n 5p "$dir/postmaster.pid" 2>/dev/null || true)
    if [[ $runport != "$PORT" || $runsock != "$sock" ]]; then
      die "a server is already running on '$dir' but with socket '$runsock' port '$runport' (wanted '$sock' port $PORT); stop it first: $ME stop '$dir'"
    fi
    log "already running ($dir)"
    [[ $fast == 1 ]] && log "note: settings of the running server are kept (--fast is only applied at start)"
  else
    local -a opts=(
      -c "listen_addresses=''"
      -c "$(printf 'unix_socket_directories=%q' "$sock")"
      -c "port=$PORT"
      -c max_connections=200
    )
    if [[ $fast == 1 ]]; then
      opts+=(-c fsync=off -c synchronous_commit=off -c full_page_writes=off)
    fi
    local mode=durable
    [[ $fast == 1 ]] && mode="fast, NOT durable"
    log "starting PostgreSQL in $dir (socket $sock, port $PORT, $mode)"
    # pg_ctl runs in its own session (as_pg_detached) so a Ctrl-C cannot kill it halfway
    # through, leaving a postmaster starting up that nobody stops; we note the signal and
    # act on it once pg_ctl has finished (it waits at most START_TIMEOUT seconds).
    # pg_ctl passes -o through /bin/sh, hence the single string.
    local interrupted=0
    rc=0
    trap 'interrupted=1' INT TERM
    as_pg_detached "$BINDIR/pg_ctl" start -D "$dir" -l "$dir/postgres.log" -w -t "$START_TIMEOUT" \
      -o "${opts[*]}" >/dev/null || rc=$?
    trap - INT TERM
    if ((interrupted)); then
      log "interrupted; stopping the server again"
      as_pg "$BINDIR/pg_ctl" stop -D "$dir" -m fast -w -t "$STOP_TIMEOUT" >/dev/null 2>&1 || true
      exit 130
    fi
    if ((rc != 0)); then
      log "last lines of $dir/postgres.log:"
      tail -n 30 "$dir/postgres.log" >&2 2>/dev/null || true
      die "PostgreSQL failed to start in '$dir' (pg_ctl exit $rc; it waits at most ${START_TIMEOUT}s)"
    fi
  fi
  bootstrap_database "$dir" "$DBNAME_DEFAULT"
  log "ready: $(cmd_url "$dir" "$DBNAME_DEFAULT")"
}

cmd_stop() {
  local dir=$1 rc=0
  if ! has_cluster "$dir"; then
    log "no cluster in '$dir'; nothing to stop"
    return 0
  fi
  check_runuser
  lock_dir "$dir"
  pg_status_settled "$dir" || rc=$?
  if ((rc != 0)); then
    log "not running ($dir)"
    return 0
  fi
  log "stopping PostgreSQL in $dir"
  if ! as_pg "$BINDIR/pg_ctl" stop -D "$dir" -m fast -w -t "$STOP_TIMEOUT" >/dev/null; then
    log "fast shutdown did not finish within ${STOP_TIMEOUT}s; trying immediate shutdown"
    as_pg "$BINDIR/pg_ctl" stop -D "$dir" -m immediate -w -t 30 >/dev/null \
      || die "could not stop PostgreSQL in '$dir'"
  fi
}

cmd_status() {
  local dir=$1 rc=0 pid
  if ! has_cluster "$dir"; then
    echo "no cluster in $dir"
    return 4
  fi
  check_runuser
  pg_status "$dir" || rc=$?
  case $rc in
    0) pid=$(sed -n 1p "$dir/postmaster.pid" 2>/dev/null || echo '?')
       echo "running (pid $pid) socket $(sed -n 5p "$dir/postmaster.pid" 2>/dev/null) port $(sed -n 4p "$dir/postmaster.pid" 2>/dev/null)"
       return 0 ;;
    3) echo "stopped ($dir)"; return 3 ;;
    5) echo "stopped ($dir): the postmaster (pid $(postmaster_pid "$dir")) died and awaits reaping"; return 3 ;;
    *) echo "no accessible cluster in $dir (pg_ctl status exit $rc)"; return 4 ;;
  esac
}

cmd_url() {
  local dir=$1 db=${2:-$DBNAME_DEFAULT} user=${3:-$PG_SUPERUSER} host
  host=$(socket_dir "$dir")
  [[ $host == *' '* ]] && host="'$host'"   # conninfo quoting for paths with spaces
  printf 'host=%s port=%s user=%s dbname=%s\n' "$host" "$PORT" "$user" "$db"
}

# ---------------------------------------------------------------------------- main
(($# >= 1)) || usage
cmd=$1; shift
case $cmd in
  -h|--help|help) usage ;;
esac
(($# >= 1)) || { log "missing DATA_DIR"; usage; }
DIR=$(resolve_dir "$1"); shift

case $cmd in
  start)
    fast=0
    for a in "$@"; do
      case $a in
        --fast) fast=1 ;;
        *) die "start: unknown option '$a'" ;;
      esac
    done
    BINDIR=$(find_bindir)
    cmd_start "$DIR" "$fast" ;;
  stop)
    (($# == 0)) || die "stop: unexpected arguments: $*"
    BINDIR=$(find_bindir)
    cmd_stop "$DIR" ;;
  status)
    (($# == 0)) || die "status: unexpected arguments: $*"
    BINDIR=$(find_bindir)
    cmd_status "$DIR" ;;
  url)
    (($# <= 2)) || die "url: unexpected arguments: $*"
    if (($# >= 1)); then
      [[ $1 =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "url: invalid database name '$1'"
    fi
    if (($# == 2)); then
      [[ $2 =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "url: invalid role name '$2'"
    fi
    cmd_url "$DIR" "${1:-}" "${2:-}" ;;
  bootstrap)
    (($# <= 1)) || die "bootstrap: unexpected arguments: $*"
    db=${1:-$DBNAME_DEFAULT}
    [[ $db =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "bootstrap: invalid database name '$db'"
    BINDIR=$(find_bindir)
    check_runuser
    bootstrap_database "$DIR" "$db" ;;
  host)
    (($# == 0)) || die "host: unexpected arguments: $*"
    socket_dir "$DIR" ;;
  *) log "unknown command '$cmd'"; usage ;;
esac
