#!/usr/bin/env bash
# Trains the fixture model on a lent GPU machine in one device call, then finishes it there, and
# leaves in $OUT: fixture-model.tar.gz (the finished model directory, as tests/fixtures/fixture-model
# holds it), checkpoint.pt (to go on from, here or on the next lent machine) and train.log.
# From this machine, with the device tool:
#
#   run  command: "bash tools/fixture-model/train-on-gpu.sh"   timeout_s: 600
#
# To go on from a checkpoint made here (a CPU run of the same recipe), copy it into an ignored
# folder of the repo, carry that folder and name the file:
#
#   run  command: "CHUNKKV_FIXTURE_RESUME=.build/gpu/checkpoint.pt bash tools/fixture-model/train-on-gpu.sh"
#        carry: [".build/gpu"]   timeout_s: 600
#
# then unpack the tarball over tests/fixtures/fixture-model and run the tests. The GPU machine's
# python3 has a current PyTorch with CUDA; the trainer runs there as on this machine's 1.13 (CPU).
# Sized for that machine's time: CHUNKKV_GPU_MINUTES of training (default 7), then finishing.
# The batch is 16 times this machine's (CHUNKKV_GPU_TOKENS padded tokens), so a step learns more.
# The recipe is make.sh's (RECIPE there), so a checkpoint moves between the two.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:?OUT must name the folder whose files come back}
work=${CHUNKKV_FIXTURE_WORK:-/tmp/fixture-train}
python=${CHUNKKV_PYTHON:-python3}
export PYTHONUNBUFFERED=1
source "$here/recipe.sh"
mkdir -p "$work"
if [[ -n "${CHUNKKV_FIXTURE_RESUME:-}" ]]; then
  cp "$CHUNKKV_FIXTURE_RESUME" "$work/checkpoint.pt"
fi
"$python" "$here/train.py" --work "$work" --out "$work/final-model" "${RECIPE[@]}" --device "${CHUNKKV_GPU_DEVICE:-cuda}" \
  --token-budget "${CHUNKKV_GPU_TOKENS:-32768}" --threads "$(nproc)" \
  --minutes "${CHUNKKV_GPU_MINUTES:-7}" --checkpoint-minutes 2 2>&1 | tee "$out/train.log"
cp "$work/checkpoint.pt" "$out/checkpoint.pt"
rm -rf "$work/fixture-model"
cp -r "$work/latest-model" "$work/fixture-model"
"$python" "$here/finish.py" --work "$work" --model "$work/fixture-model" --score-limit "${CHUNKKV_GPU_SCORED:-200}" 2>&1 | tee -a "$out/train.log"
tar czf "$out/fixture-model.tar.gz" -C "$work" fixture-model
