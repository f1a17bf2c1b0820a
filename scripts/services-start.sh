#!/usr/bin/env bash
# Starts PostgreSQL 15 (+pgvector) and Redis on loopback, on non-default ports, with their data
# under CHUNKKV_DATA_DIR, waits until both answer, and writes $CHUNKKV_DATA_DIR/env.sh with the
# connection settings (CHUNKKV_POSTGRES, CHUNKKV_REDIS). Already running: nothing to do.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_root

data=$(chunkkv_data_dir)
pg_bin=/usr/lib/postgresql/15/bin
pg_data="$data/postgres"
mkdir -p "$data" "$pg_data" "$data/redis"
chmod 755 "$data"
chown postgres:postgres "$pg_data"
as_postgres() { runuser -u postgres -- "$@"; }

if [[ ! -f "$pg_data/PG_VERSION" ]]; then
  step "initialising PostgreSQL cluster in $pg_data"
  as_postgres "$pg_bin/initdb" -D "$pg_data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  cat >>"$pg_data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $CHUNKKV_PG_PORT
unix_socket_directories = '$pg_data'
max_connections = 200
shared_buffers = 256MB
maintenance_work_mem = 512MB
fsync = ${CHUNKKV_PG_FSYNC:-on}
CONF
fi

if ! as_postgres "$pg_bin/pg_ctl" -D "$pg_data" status >/dev/null 2>&1; then
  step "starting PostgreSQL on 127.0.0.1:$CHUNKKV_PG_PORT"
  as_postgres "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_data/server.log" -w -t 60 start >/dev/null ||
    die "PostgreSQL did not start; see $pg_data/server.log"
fi
psql_admin() { PGOPTIONS="-c client_min_messages=warning" as_postgres psql -h 127.0.0.1 -p "$CHUNKKV_PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qtAc "$1" "${2:-postgres}"; }
# The application role may create databases (tests make throwaway ones) but is no superuser.
# pgvector is not a trusted extension, so the superuser creates it in template1 and in the
# application database; every database created later inherits it.
if [[ -z "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname='chunkkv'")" ]]; then
  psql_admin "CREATE ROLE chunkkv LOGIN CREATEDB"
fi
psql_admin "CREATE EXTENSION IF NOT EXISTS vector" template1
if [[ -z "$(psql_admin "SELECT 1 FROM pg_database WHERE datname='chunkkv'")" ]]; then
  psql_admin "CREATE DATABASE chunkkv OWNER chunkkv"
fi

redis_pid="$data/redis/redis.pid"
if ! redis-cli -p "$CHUNKKV_REDIS_PORT" ping >/dev/null 2>&1; then
  step "starting Redis on 127.0.0.1:$CHUNKKV_REDIS_PORT"
  # Persistence off: the chunk caches in Redis are a cache, and tests want a clean slate.
  redis-server --bind 127.0.0.1 --port "$CHUNKKV_REDIS_PORT" --daemonize yes \
    --dir "$data/redis" --pidfile "$redis_pid" --logfile "$data/redis/redis.log" \
    --save "" --appendonly no --proto-max-bulk-len 1gb >/dev/null
  for _ in $(seq 100); do redis-cli -p "$CHUNKKV_REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -p "$CHUNKKV_REDIS_PORT" ping >/dev/null || die "Redis did not start; see $data/redis/redis.log"
fi

cat >"$data/env.sh" <<ENV
export CHUNKKV_DATA_DIR='$data'
export CHUNKKV_POSTGRES='Host=127.0.0.1;Port=$CHUNKKV_PG_PORT;Username=chunkkv;Database=chunkkv'
export CHUNKKV_REDIS='127.0.0.1:$CHUNKKV_REDIS_PORT'
ENV
step "services up; settings in $data/env.sh"
