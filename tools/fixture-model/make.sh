#!/usr/bin/env bash
# Trains the fixture model from scratch (fixed seed; resumes an interrupted run from its checkpoint)
# and writes tests/fixtures/fixture-model: the model, its held-apart sets, the engine's reference
# and the training figures. Needs Debian's python3-torch (bash scripts/setup.sh --tools installs it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${CHUNKKV_FIXTURE_WORK:-$repo/.build/fixture-train}
target=$repo/tests/fixtures/fixture-model
# The run that made the committed model, in the phases it took (each resumes from the one before's
# checkpoint; the last was stopped where the session ended, and goes on the same way):
# 569 steps in batches of 6144 padded tokens (the schedule of a 2400-step run); batches of 2048
# (more updates per minute) to step 1066; a next-token loss beside the answer loss to 1319; then
# the answer loss alone on a 3600-step schedule, stopped at step 2737 (CHUNKKV_FIXTURE_STOP=3600 goes on).
/usr/bin/python3 "$here/train.py" --work "$work" --out "$work/final-model" --init gpt2 --steps 2400 --stop-after 569 "$@"
/usr/bin/python3 "$here/train.py" --work "$work" --out "$work/final-model" --init gpt2 --steps 5500 --token-budget 2048 --stop-after 1066 "$@"
/usr/bin/python3 "$here/train.py" --work "$work" --out "$work/final-model" --init gpt2 --steps 5500 --token-budget 2048 --lm-weight 0.3 --stop-after 1319 "$@"
/usr/bin/python3 "$here/train.py" --work "$work" --out "$work/final-model" --init gpt2 --steps 3600 --token-budget 2048 --stop-after "${CHUNKKV_FIXTURE_STOP:-2737}" "$@"
rm -rf "$target"
mkdir -p "$(dirname "$target")"
# latest-model is what the last checkpoint holds (final-model exists only once a run reaches its last step).
cp -r "$work/latest-model" "$target"
/usr/bin/python3 "$here/finish.py" --work "$work" --model "$target"
