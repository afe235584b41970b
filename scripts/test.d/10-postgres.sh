# Sourced by scripts/test.sh (bash, set -euo pipefail). Starts a throwaway
# PostgreSQL for the store suite and exports its DSN as GF_TEST_POSTGRES;
# appends the command that stops and removes it to GF_CLEANUP.
#
# Does nothing when GF_TEST_POSTGRES is already set (a developer's or CI's own
# server). Otherwise installs Debian's postgresql if it is missing, creates a
# cluster in a temp dir with initdb (as the postgres user when run as root),
# and starts it on a free loopback port from 55432 up, with its unix socket in
# the temp dir so it never collides with a system cluster.

gf_pg_setup() {
  if [ -n "${GF_TEST_POSTGRES:-}" ]; then
    echo "postgres: using GF_TEST_POSTGRES from the environment"
    return 0
  fi

  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$bin" ]; then
    echo "postgres: installing Debian's postgresql"
    # A colleague's apt may hold the dpkg lock: wait and retry.
    local try
    for try in 1 2 3 4 5 6; do
      if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; then
        break
      fi
      echo "postgres: apt-get failed (try $try; dpkg lock held?), retrying in 10 s" >&2
      sleep 10
    done
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$bin" ]; then
      echo "postgres: could not install postgresql" >&2
      return 1
    fi
  fi

  # As root, run the server as postgres (it refuses to run as root).
  local as=()
  if [ "$(id -u)" = 0 ]; then
    as=(runuser -u postgres --)
  fi

  local dir
  dir=$(mktemp -d /tmp/gf-pg.XXXXXX)
  chmod 755 "$dir"
  if [ "${#as[@]}" -gt 0 ]; then chown postgres: "$dir"; fi

  "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    return 1
  }

  # The first free port from 55432: colleagues' suites may run beside ours,
  # and two may race for the same port, so a failed start moves on too.
  # fsync off: this cluster is thrown away; the store's own durability test
  # kills the client, not the server.
  local port=55432 started=
  while [ "$port" -le 55451 ]; do
    if ! (: </dev/tcp/127.0.0.1/$port) 2>/dev/null &&
      "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c full_page_writes=off -c synchronous_commit=off" >/dev/null; then
      started=1
      break
    fi
    port=$((port + 1))
  done
  if [ -z "$started" ]; then
    echo "postgres: could not start on any port in 55432-55451" >&2
    cat "$dir/server.log" >&2 || true
    rm -rf "$dir"
    return 1
  fi
  GF_CLEANUP+=("${as[*]} $bin/pg_ctl -D $dir/data -m immediate stop >/dev/null 2>&1; rm -rf $dir")

  "${as[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres gftest
  export GF_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/gftest?sslmode=disable"
  echo "postgres: $GF_TEST_POSTGRES (data in $dir)"
}

gf_pg_setup
unset -f gf_pg_setup
