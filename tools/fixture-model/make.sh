#!/usr/bin/env bash
# Trains the fixture model from scratch (fixed seed; resumes an interrupted run from its checkpoint)
# and writes tests/fixtures/fixture-model: the model, its held-apart sets, the engine's reference
# and the training figures. Needs Debian's python3-torch (bash scripts/setup.sh --tools installs it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${CHUNKKV_FIXTURE_WORK:-$repo/.build/fixture-train}
target=$repo/tests/fixtures/fixture-model
/usr/bin/python3 "$here/train.py" --work "$work" --out "$work/final-model" "$@"
rm -rf "$target"
mkdir -p "$(dirname "$target")"
cp -r "$work/final-model" "$target"
/usr/bin/python3 "$here/finish.py" --work "$work" --model "$target"
