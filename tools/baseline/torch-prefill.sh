#!/usr/bin/env bash
# PyTorch's prefill time on this machine, untuned and tuned, beside `chunkkv bench prefill`.
#   tools/baseline/torch-prefill.sh MODEL_DIR [TOKENS]    (TOKENS default 512,2048,4096)
# Needs Debian's python3-torch (apt-get install python3-torch). "Tuned" is the environment that
# made PyTorch fastest here: OpenBLAS's AVX-512 kernel instead of the preset Haswell one, OpenMP
# threads that sleep instead of spinning against OpenBLAS's own, and jemalloc with huge pages
# where it is installed (libjemalloc2).
set -euo pipefail
model=${1:?usage: torch-prefill.sh MODEL_DIR [TOKENS]}
tokens=${2:-512,2048,4096}
here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
threads=$(nproc)

echo "untuned (environment as found)"
/usr/bin/python3 "$here/torch_prefill.py" "$model" --tokens "$tokens" --threads "$threads"

echo "tuned"
jemalloc=$(ls /usr/lib/*-linux-gnu/libjemalloc.so.2 2>/dev/null | head -1 || true)
env OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" \
  ${jemalloc:+LD_PRELOAD=$jemalloc MALLOC_CONF=thp:always,metadata_thp:always} \
  /usr/bin/python3 "$here/torch_prefill.py" "$model" --tokens "$tokens" --threads "$threads"
