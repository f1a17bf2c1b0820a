#!/usr/bin/env bash
# Stops the PostgreSQL and Redis that services-start.sh started. Not running: nothing to do.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_root

data=$(chunkkv_data_dir)
if [[ -f "$data/postgres/PG_VERSION" ]] &&
   runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$data/postgres" status >/dev/null 2>&1; then
  step "stopping PostgreSQL"
  runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$data/postgres" -m fast -w stop >/dev/null
fi
# Only the Redis services-start.sh started: its pid file names a live redis-server. Another Redis
# that happens to listen on the port is someone else's and is left alone.
redis_pid_file="$data/redis/redis.pid"
redis_pid=$(cat "$redis_pid_file" 2>/dev/null || true)
if [[ -n $redis_pid ]] && [[ $(cat "/proc/$redis_pid/comm" 2>/dev/null) == redis-server* ]]; then
  step "stopping Redis"
  kill "$redis_pid"
  for _ in $(seq 100); do kill -0 "$redis_pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$redis_pid_file"
elif redis-cli -p "$CHUNKKV_REDIS_PORT" ping >/dev/null 2>&1; then
  step "leaving the Redis on port $CHUNKKV_REDIS_PORT alone: services-start.sh did not start it"
fi
