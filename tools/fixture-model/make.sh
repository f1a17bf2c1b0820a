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
# checkpoint): 569 steps in batches of 6144 padded tokens (the schedule of a 2400-step run); then
# batches of 2048 (more updates per minute) to step 1066; then with a next-token loss on every token
# beside the answer loss (weight 0.3), to 5500. The answer accuracy had sat on a plateau, choosing
# the right kind of answer but not the right person's, through the first two.
/usr/bin/python3 "$here/train.py" --work "$work" --out "$work/final-model" --steps 2400 --stop-after 569 "$@"
/usr/bin/python3 "$here/train.py" --work "$work" --out "$work/final-model" --steps 5500 --token-budget 2048 --stop-after 1066 "$@"
/usr/bin/python3 "$here/train.py" --work "$work" --out "$work/final-model" --steps 5500 --token-budget 2048 --lm-weight 0.3 "$@"
rm -rf "$target"
mkdir -p "$(dirname "$target")"
cp -r "$work/final-model" "$target"
/usr/bin/python3 "$here/finish.py" --work "$work" --model "$target"
