#!/usr/bin/env bash
# The test command: sets the machine up (first run only), starts PostgreSQL and Redis, runs the
# whole test suite, and stops the services again if it was the one that started them.
# Exits non-zero when anything fails.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

bash "$repo_root/scripts/setup.sh"
bash "$repo_root/scripts/fixtures.sh"
data=$(chunkkv_data_dir)
if redis-cli -p "$CHUNKKV_REDIS_PORT" ping >/dev/null 2>&1; then already_running=1; else already_running=0; fi
bash "$repo_root/scripts/services-start.sh"
# The tests' temporary folders (models, data directories, caches: about 1 GB a run) go into one
# folder of this run's, removed at the end, so that repeated runs do not fill /tmp.
test_tmp=$(mktemp -d /tmp/chunkkv-tests.XXXXXX)
stop_services=0
if [[ $already_running == 0 && -z "${CHUNKKV_KEEP_SERVICES:-}" ]]; then stop_services=1; fi
cleanup() {
  rm -rf "$test_tmp"
  if [[ $stop_services == 1 ]]; then bash "$repo_root/scripts/services-stop.sh"; fi
}
trap cleanup EXIT
source "$data/env.sh"

step "running the test suite"
log=$(mktemp /tmp/chunkkv-test.XXXXXX)
set +e
# Built first with the usual TMPDIR (the build servers keep their pipes there), then run in the run's folder.
dotnet build "$repo_root/ChunkKv.sln" -c Release --nologo 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [[ $status == 0 ]]; then
  TMPDIR=$test_tmp dotnet test "$repo_root/ChunkKv.sln" -c Release --no-build --nologo 2>&1 | tee -a "$log"
  status=${PIPESTATUS[0]}
fi
set -e
# One closing line for the whole suite, summed over the test projects.
awk '/(Passed|Failed)! +- +Failed: / { gsub(/,/, ""); f += $4; p += $6 } END { printf "%d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
