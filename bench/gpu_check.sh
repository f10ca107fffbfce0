#!/usr/bin/env bash
# The benchmark on a GPU machine that has python3 with torch/torchvision but no fastai, no nbdev, no network.
#
# 1. Here (with PyPI):  bash bench/prepare_gpu_check.sh   -> .whl/ (wheels) and .gpudata/ (10% zip + weights), < 60 MB
# 2. The device tool, from the repo root:
#      run(command="bash bench/gpu_check.sh", carry=[".whl", ".gpudata"], timeout_s=540)
#    Budget: about 1-2 min start-up, then 2 training runs of 5 epochs on the 10% set (ref, ours), 1 prediction round (each set-up in its own process),
#    the one-change-at-a-time ablation, and 4 scaling runs (the 10% set x4 and x8: the 20% zip would break the 60 MB
#    carry), each a fresh process (~20-40 s each on an H100). The report is written into $OUT after every run, so
#    even a cut-short run returns what it finished: $OUT/results.md and $OUT/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."

# Wheels prepare_gpu_check.sh downloads (keep in sync): the package's pins, safetensors, and the pure-Python
# packages the GPU image lacks (beartype for plum-dispatch; python-fasthtml, starlette, itsdangerous,
# python-multipart and defusedxml because fastprogress imports fasthtml.common).
for w in fastai fastcore fasttransform plum_dispatch fastprogress fastdownload safetensors \
         beartype python_fasthtml starlette itsdangerous python_multipart defusedxml; do
    ls .whl/${w}-*.whl >/dev/null 2>&1 || { echo "error: no .whl/${w}-*.whl; run bench/prepare_gpu_check.sh here first" >&2; exit 1; }
done
for f in pizza_steak_sushi.zip mobilenet_v2-b0353104.pth; do
    [ -f .gpudata/$f ] || { echo "error: no .gpudata/$f; run bench/prepare_gpu_check.sh here first" >&2; exit 1; }
done

# --no-deps: the image's own torch, numpy, pandas... stay; --target keeps them untouched.
rm -rf /tmp/site  # a warm machine may hold an earlier install, which pip --target would not replace
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
export TORCH_HOME=${TORCH_HOME:-$HOME/.cache/torch}
mkdir -p "$TORCH_HOME/hub/checkpoints" && cp -f .gpudata/mobilenet_v2-b0353104.pth "$TORCH_HOME/hub/checkpoints/"
export FOODVISION_DATA=$PWD/.gpudata/pizza_steak_sushi.zip

nvidia-smi -L || true
python3 -c "import torch, foodvision_fastai.train, foodvision_fastai.predict; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
res=${OUT:-bench}/results.md
python3 bench/run.py --reps 1 --reps20 0 --scale --device cuda --out "$res"
