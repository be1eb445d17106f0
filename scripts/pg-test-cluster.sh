#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for trailguard's tests, in one directory.
#
#   pg-test-cluster.sh start DIR   create the cluster in DIR if needed, start it,
#                                  create database "trailguard"; prints the URI
#   pg-test-cluster.sh uri DIR     prints the URI of the cluster in DIR
#   pg-test-cluster.sh halt DIR    stops the server at once, as a crash would
#                                  (pg_ctl -m immediate); DIR and its data stay
#   pg-test-cluster.sh stop DIR    stops the server and removes DIR
#
# The server listens on a Unix socket in DIR and, with TG_PG_TCP=1 at start,
# also on 127.0.0.1 (port $TG_PG_PORT, else a free one), the URI then naming
# the TCP address (benchmarks measure loopback TCP, as a remote server is
# reached). Either way, with
# fsync on and password authentication (scram-sha-256) for every connection:
# the superuser "trailguard" has a random password, part of the printed URI.
#
# PostgreSQL refuses to run as root; as root, the script runs the server as the
# system user $TG_PG_USER (default tgpg), created if missing, and DIR must be
# reachable by that user (e.g. under /tmp). The binaries come from $PG_BINDIR,
# else the newest /usr/lib/postgresql/*/bin (Debian), else $PATH.
# Exits 77 (the ctest "skipped" code) when no PostgreSQL server is installed.
set -euo pipefail

readonly db_name=trailguard
readonly db_user=trailguard
readonly marker=.tg-pg-cluster    # a directory without it is never removed
readonly start_timeout_s=60
readonly socket_path_max=107      # bytes of a Unix socket path (sun_path) minus the NUL
readonly os_user=${TG_PG_USER:-tgpg}

die() {
  echo "pg-test-cluster: $*" >&2
  exit 1
}

usage() {
  echo "usage: $0 start|uri|halt|stop DIR" >&2
  exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
dir_arg=$2
[ -n "$dir_arg" ] || usage

find_bindir() {
  if [ -n "${PG_BINDIR:-}" ]; then
    [ -x "$PG_BINDIR/pg_ctl" ] || die "PG_BINDIR=$PG_BINDIR holds no pg_ctl"
    echo "$PG_BINDIR"
    return
  fi
  local d
  d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
    echo "$d"
    return
  fi
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return
  fi
  echo "pg-test-cluster: no PostgreSQL server found (install the 'postgresql' package:" \
       "scripts/deps.sh)" >&2
  exit 77
}

# Runs a command as the user that owns the cluster, from inside DIR (a
# current directory the server user cannot enter makes pg_ctl fail).
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd "$dir" && runuser -u "$os_user" -- "$@")
  else
    (cd "$dir" && "$@")
  fi
}

ensure_os_user() {
  [ "$(id -u)" -eq 0 ] || return 0
  id -u "$os_user" >/dev/null 2>&1 && return 0
  # Two clusters started at once may both try; the loser finds the user there.
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
          --shell /usr/sbin/nologin "$os_user" 2>/dev/null || id -u "$os_user" >/dev/null 2>&1 ||
    die "cannot create the system user '$os_user' to run PostgreSQL as (useradd failed)"
}

# Percent-encodes $1 for a URI query value.
uri_encode() {
  local s=$1 out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case "$c" in
      [a-zA-Z0-9._~/-]) out+=$c ;;
      *) out+=$(printf '%%%02X' "'$c") ;;
    esac
  done
  printf '%s' "$out"
}

# A TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$(( 20000 + RANDOM % 30000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  die "no free TCP port found on 127.0.0.1"
}

print_uri() {
  if [ ! -f "$dir/password" ] || [ ! -f "$dir/port" ]; then
    die "$dir holds no cluster made by this script"
  fi
  local host
  host=$(uri_encode "$dir")
  [ -f "$dir/tcp" ] && host=127.0.0.1
  printf 'postgresql:///%s?host=%s&port=%s&user=%s&password=%s\n' "$db_name" \
    "$host" "$(cat "$dir/port")" "$db_user" "$(cat "$dir/password")"
}

is_running() {
  [ -f "$dir/data/PG_VERSION" ] && as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

init_cluster() {
  local port=${TG_PG_PORT:-5432}
  local listen=''
  if [ "${TG_PG_TCP:-0}" = 1 ]; then
    [ -n "${TG_PG_PORT:-}" ] || port=$(free_port)
    listen=127.0.0.1
    touch "$dir/tcp"
  fi
  local sock="$dir/.s.PGSQL.$port"
  [ ${#sock} -le $socket_path_max ] ||
    die "socket path $sock is longer than $socket_path_max bytes; use a shorter DIR"
  touch "$dir/$marker"
  echo "$port" >"$dir/port"
  # Hex keeps the password URI-safe; 128 bits is plenty for a test cluster.
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$dir/password"
  chmod 600 "$dir/password"
  if [ "$(id -u)" -eq 0 ]; then
    chown -R "$os_user:" "$dir"
    as_owner test -w "$dir" ||
      die "user '$os_user' cannot reach $dir (a parent directory is closed to it); use a DIR under /tmp"
  fi
  as_owner "$bindir/initdb" -D "$dir/data" -U "$db_user" --pwfile="$dir/password" \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed in $dir/data"; }
  cat >>"$dir/data/postgresql.conf" <<EOF

# pg-test-cluster.sh
listen_addresses = '$listen'
unix_socket_directories = '$dir'
port = $port
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 40
shared_buffers = 16MB
dynamic_shared_memory_type = posix
log_min_messages = warning
EOF
  # TG_PG_CONF_EXTRA: more settings for a measurement, e.g.
  # "shared_preload_libraries = 'pg_stat_statements'" (docs/cluster.md)
  if [ -n "${TG_PG_CONF_EXTRA:-}" ]; then
    printf '%s\n' "$TG_PG_CONF_EXTRA" >>"$dir/data/postgresql.conf"
  fi
}

create_database() {
  local psql=("$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$(cat "$dir/port")"
              -U "$db_user" -d postgres)
  local have
  have=$(PGPASSWORD=$(cat "$dir/password") "${psql[@]}" -tAc \
         "SELECT 1 FROM pg_database WHERE datname = '$db_name'")
  if [ "$have" != 1 ]; then
    PGPASSWORD=$(cat "$dir/password") "${psql[@]}" -c "CREATE DATABASE $db_name" >/dev/null
  fi
}

resolve_dir() {
  mkdir -p "$dir_arg"
  dir=$(cd "$dir_arg" && pwd -P)
}

bindir=$(find_bindir)
case "$cmd" in
  start)
    resolve_dir
    ensure_os_user
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      [ -z "$(ls -A "$dir")" ] || die "$dir is not empty and holds no cluster"
      init_cluster
    fi
    if ! is_running; then
      as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t "$start_timeout_s" \
        start >/dev/null || { tail -n 20 "$dir/server.log" >&2; die "the server in $dir did not start"; }
    fi
    create_database
    print_uri
    ;;
  uri)
    [ -d "$dir_arg" ] || die "no directory $dir_arg"
    dir=$(cd "$dir_arg" && pwd -P)
    print_uri
    ;;
  halt)
    [ -d "$dir_arg" ] || die "no directory $dir_arg"
    dir=$(cd "$dir_arg" && pwd -P)
    if is_running; then
      as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
    fi
    ;;
  stop)
    [ -d "$dir_arg" ] || exit 0
    dir=$(cd "$dir_arg" && pwd -P)
    [ -f "$dir/$marker" ] || [ -z "$(ls -A "$dir")" ] ||
      die "$dir was not made by this script; not removing it"
    if is_running; then
      as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null ||
        as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true
    fi
    rm -rf "$dir"
    ;;
  *)
    usage
    ;;
esac
