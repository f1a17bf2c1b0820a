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
if redis-cli -p "$CHUNKKV_REDIS_PORT" ping >/dev/null 2>&1; then
  step "stopping Redis"
  redis-cli -p "$CHUNKKV_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
fi
