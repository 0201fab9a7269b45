#!/usr/bin/env bash
# A throwaway Redis server for the tests: Debian's redis-server (installed if missing), ACLs on, the
# default user disabled, one admin user, no persistence, on a free loopback port.
#   scripts/redis.sh start DIR   -> writes DIR/redis.env (ROTOR_TEST_REDIS_*) and DIR/admin-password (0600)
#   scripts/redis.sh stop DIR
set -euo pipefail
action="$1"; dir="$2"

ensure_installed() {
    if ! command -v redis-server >/dev/null; then
        echo "installing redis-server from Debian's packages"
        as_root=(); [ "$(id -u)" -eq 0 ] || as_root=(sudo)
        "${as_root[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq redis-server >/dev/null
    fi
}

start() {
    ensure_installed
    mkdir -p "$dir"
    local password; password="$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
    (umask 077; printf '%s\n' "$password" >"$dir/admin-password")
    # The configuration holds the admin password's SHA-256 only (#HASH), never the password.
    local hash; hash="$(printf '%s' "$password" | sha256sum | cut -d' ' -f1)"
    local port; port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
    (umask 077; cat >"$dir/redis.conf" <<CONF
bind 127.0.0.1
port $port
protected-mode yes
daemonize yes
pidfile $dir/redis.pid
logfile $dir/redis.log
dir $dir
save ""
appendonly no
user default off
user rotor-admin on #$hash ~* &* +@all
CONF
    )
    redis-server "$dir/redis.conf"
    for _ in $(seq 1 100); do
        [ -s "$dir/redis.pid" ] && python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1).close()" 2>/dev/null && break
        sleep 0.1
    done
    cat >"$dir/redis.env" <<ENV
export ROTOR_TEST_REDIS_HOST=127.0.0.1
export ROTOR_TEST_REDIS_PORT=$port
export ROTOR_TEST_REDIS_ADMIN_USER=rotor-admin
export ROTOR_TEST_REDIS_ADMIN_PASSWORD_FILE=$dir/admin-password
ENV
    echo "redis on 127.0.0.1:$port (ACL users: rotor-admin; default off)"
}

stop() {
    [ -s "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
}

"$action"
