#!/usr/bin/env bash
# Takes a fresh Debian 12 (bookworm) machine, as root, to the state ChunkKv's run and test
# commands need: PostgreSQL 15 with pgvector 0.8, Redis, OpenBLAS, ICU (Unicode normalization of
# tokenizers), Node.js (test fixtures), chromium (the playground page's browser test).
# Idempotent: every step checks first, so a second run installs and builds nothing.
# `setup.sh --run` installs only what the main job needs (no database server);
# `setup.sh --tools` adds what the tools under tools/ need (Debian's PyTorch for the fixture
# trainer and the reference checks); the run and test commands do not need it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

require_root
require_command dotnet "the .NET 10 SDK (https://learn.microsoft.com/dotnet/core/install/linux-debian)"

packages=(postgresql-15 postgresql-server-dev-15 redis-server libopenblas0 libicu72 build-essential dpkg-dev nodejs npm chromium)
case "${1:-}" in
  --tools) packages+=(python3-torch python3-numpy) ;;
  # The main job alone: the engine's BLAS and ICU, curl for its own checks; no database server.
  --run) packages=(libopenblas0 libicu72 curl) ;;
esac
missing=()
for p in "${packages[@]}"; do
  # Node.js may come from elsewhere (e.g. NodeSource); only npm and node on PATH matter.
  case "$p" in nodejs|npm) command -v "${p/nodejs/node}" >/dev/null && continue ;; esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  step "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ "${1:-}" == "--run" ]]; then
  step "setup complete"
  exit 0
fi
pg_config=/usr/lib/postgresql/15/bin/pg_config
if [[ ! -f "$($pg_config --sharedir)/extension/vector.control" ]]; then
  bash "$(dirname "$0")/build-pgvector.sh" "$pg_config"
fi
step "setup complete"
