#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests: Debian's packages (installed if missing), a cluster in
# DIR, scram-sha-256 authentication, listening on a free loopback port, socket in DIR.
#   scripts/postgres.sh start DIR   -> writes DIR/postgres.env (ROTOR_TEST_PG_*)
#   scripts/postgres.sh stop DIR
#   scripts/postgres.sh restart DIR  -> stopped as a crash would (immediate), started again on its port
set -euo pipefail
action="$1"; dir="$2"

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

ensure_installed() {
    if [ -z "$(pg_bin)" ] || ! command -v openssl >/dev/null; then
        echo "installing postgresql from Debian's packages"
        as_root=(); [ "$(id -u)" -eq 0 ] || as_root=(sudo)
        "${as_root[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq postgresql openssl >/dev/null
    fi
}

# initdb refuses to run as root: run the server as the postgres user then.
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start() {
    ensure_installed
    local bin; bin="$(pg_bin)"
    mkdir -p "$dir/data" "$dir/socket"
    chmod 755 "$dir"
    [ "$(id -u)" -eq 0 ] && chown -R postgres "$dir/data" "$dir/socket"
    local password; password="$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
    printf '%s\n' "$password" >"$dir/pwfile"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir/pwfile"
    as_owner "$bin/initdb" -D "$dir/data" --username=postgres --auth=scram-sha-256 --pwfile="$dir/pwfile" >"$dir/initdb.log"
    rm -f "$dir/pwfile"
    # TLS with a throwaway CA-less self-signed certificate for 127.0.0.1 (tests of tls=require/verify-full).
    openssl req -new -x509 -days 2 -nodes -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
        -keyout "$dir/data/server.key" -out "$dir/data/server.crt" >/dev/null 2>&1
    cp "$dir/data/server.crt" "$dir/ca.crt"
    chmod 600 "$dir/data/server.key"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir/data/server.key" "$dir/data/server.crt"
    local port; port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
    # authentication_timeout at its maximum: a loaded test machine may take a while to answer the
    # SCRAM exchange, and the default 60 s made the server drop connections mid-login.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w \
        -o "-p $port -k $dir/socket -c listen_addresses=127.0.0.1 -c password_encryption=scram-sha-256 -c max_connections=200 -c authentication_timeout=600 -c log_statement=all -c ssl=on" start >/dev/null
    cat >"$dir/postgres.env" <<ENV
export ROTOR_TEST_PG_HOST=127.0.0.1
export ROTOR_TEST_PG_PORT=$port
export ROTOR_TEST_PG_USER=postgres
export ROTOR_TEST_PG_PASSWORD=$password
export ROTOR_TEST_PG_LOG=$dir/data/server.log
export ROTOR_TEST_PG_CA=$dir/ca.crt
ENV
    echo "postgres on 127.0.0.1:$port (scram-sha-256)"
}

stop() {
    local bin; bin="$(pg_bin)"
    [ -n "$bin" ] && [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
}

restart() {
    local bin; bin="$(pg_bin)"
    # restart reuses the last start's options (postmaster.opts): the same port, socket and settings.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -m immediate -w restart >/dev/null
}

"$action"
