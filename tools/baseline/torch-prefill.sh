#!/usr/bin/env bash
# PyTorch's prefill time on this machine, untuned and tuned, beside `chunkkv bench prefill`.
#   tools/baseline/torch-prefill.sh MODEL_DIR [TOKENS]    (TOKENS default 512,2048,4096)
# Needs Debian's python3-torch (apt-get install python3-torch). "Tuned" is the environment that
# made PyTorch fastest here: the OpenBLAS kernel chosen from the CPU as the engine chooses it
# (SkylakeX with AVX-512, Haswell with AVX2; CHUNKKV_OPENBLAS_CORETYPE overrides both), OpenMP
# threads that sleep instead of spinning against OpenBLAS's own, and jemalloc with huge pages
# where it is installed (libjemalloc2).
set -euo pipefail
model=${1:?usage: torch-prefill.sh MODEL_DIR [TOKENS]}
tokens=${2:-512,2048,4096}
here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
threads=$(nproc)

# The same rule as the engine's OpenBlas.ChooseCore: AVX-512 F/BW/DQ/VL for SkylakeX, AVX2+FMA for Haswell.
core_for_this_cpu() {
  local flags
  flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  if [[ $flags == *" avx512f "* && $flags == *" avx512bw "* && $flags == *" avx512dq "* && $flags == *" avx512vl "* ]]; then
    echo SkylakeX
  elif [[ $flags == *" avx2 "* && $flags == *" fma "* ]]; then
    echo Haswell
  fi
}
core=${CHUNKKV_OPENBLAS_CORETYPE:-$(core_for_this_cpu)}

echo "untuned (environment as found)"
/usr/bin/python3 "$here/torch_prefill.py" "$model" --tokens "$tokens" --threads "$threads"

echo "tuned (OpenBLAS kernel: ${core:-left to OpenBLAS})"
jemalloc=$(ls /usr/lib/*-linux-gnu/libjemalloc.so.2 2>/dev/null | head -1 || true)
if [[ -n $core ]]; then export OPENBLAS_CORETYPE=$core; else unset OPENBLAS_CORETYPE; fi
env OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" \
  ${jemalloc:+LD_PRELOAD=$jemalloc MALLOC_CONF=thp:always,metadata_thp:always} \
  /usr/bin/python3 "$here/torch_prefill.py" "$model" --tokens "$tokens" --threads "$threads"
