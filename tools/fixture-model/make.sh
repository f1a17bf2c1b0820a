#!/usr/bin/env bash
# Trains the fixture model from scratch (fixed seed; resumes an interrupted run from its checkpoint)
# and writes tests/fixtures/fixture-model: the model, its held-apart sets, the engine's reference
# and the training figures. Needs Debian's python3-torch (bash scripts/setup.sh --tools installs it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${CHUNKKV_FIXTURE_WORK:-$repo/.build/fixture-train}
target=$repo/tests/fixtures/fixture-model
source "$here/recipe.sh"
extra=("$@")  # passed on to every phase, as before
train() { /usr/bin/python3 "$here/train.py" --work "$work" --out "$work/final-model" "${RECIPE[@]}" --token-budget 2048 --threads 1 "$@" "${extra[@]}"; }
# The run that made the committed model, in the phases it took (each resumes the one before's checkpoint):
# 1. the curriculum from the start: the lookup formed in the small world (two facts by step 3564,
#    its full warm-up by 11 052), carried over to all 360 people at about step 12 200, and met
#    pronouns from step 12 534. (Steps 7196-9293 ran at 2 threads, which is no faster here.)
# 2. straight to the last stage, the held-apart sets' shape (2-10 chunks of 128 tokens), to the
#    step it was stopped at; CHUNKKV_FIXTURE_STOP=N goes on.
train --stop-after 13235
train --from-stage 5 --stop-after "${CHUNKKV_FIXTURE_STOP:-16544}"
rm -rf "$target.new"
# latest-model is what the last checkpoint holds (final-model exists only once a run reaches its last step).
cp -r "$work/latest-model" "$target.new"
cp "$target/README.md" "$target.new/" 2>/dev/null || true
rm -rf "$target"
mv "$target.new" "$target"
/usr/bin/python3 "$here/finish.py" --work "$work" --model "$target"
