#!/usr/bin/env bash
# The main job: sets the machine up (first run only), starts PostgreSQL and Redis, and runs the
# ChunkKv server in the foreground on CHUNKKV_URLS (default http://127.0.0.1:8080).
# The server applies the database migrations at start-up; GET /health reports the stores.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bash "$repo_root/scripts/setup.sh"
bash "$repo_root/scripts/services-start.sh"
source "$(chunkkv_data_dir)/env.sh"

urls=${CHUNKKV_URLS:-http://127.0.0.1:8080}
step "building the server"
build_log=$(dotnet build "$repo_root/src/ChunkKv.Server" -c Release -o "$repo_root/.build/server" -nologo 2>&1) ||
  { echo "$build_log"; die "the server did not build"; }
step "serving on $urls (health: $urls/health); Ctrl-C stops the server, scripts/services-stop.sh the stores"
cd "$repo_root/.build/server"
exec dotnet ChunkKv.Server.dll --urls "$urls"
