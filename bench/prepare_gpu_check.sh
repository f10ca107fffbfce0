#!/usr/bin/env bash
# Fill .whl/ and .gpudata/ (both ignored by git) for bench/gpu_check.sh; run here, where PyPI can be reached:
#   bash bench/prepare_gpu_check.sh
# The GPU machine has python3 (3.12) with torch, torchvision, numpy, pandas, matplotlib, scipy, scikit-learn,
# requests, rich, anyio, psutil... but no fastai and no network, so we carry the pure-Python wheels it lacks
# (plus safetensors, pinned) and the data and weights it cannot download. Everything must stay under 60 MB,
# which is why the 20% data set (31 MB) is not carried.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
PY=${PY:-.venv/bin/python}; [ -x "$PY" ] || PY=python3

# The package's pins, then what importing foodvision_fastai pulls in on top of the GPU image (found by listing
# sys.modules after a training run): plum-dispatch needs beartype; fastprogress 1.1 imports fasthtml.common at
# import time, which needs starlette, itsdangerous, python-multipart and defusedxml. Keep in sync with gpu_check.sh.
WHEELS=(fastai==2.8.7 fastcore==1.14.5 fasttransform==0.0.2 plum-dispatch==2.9.0 fastprogress==1.1.6
        fastdownload==0.0.8 safetensors==0.8.0 beartype==0.23.1 python-fasthtml==0.14.5 starlette==1.10.0
        itsdangerous==2.2.0 python-multipart==0.0.34 defusedxml==0.7.1)
mkdir -p .whl .gpudata
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "${WHEELS[@]}"
n=$(ls .whl/*.whl | wc -l)
[ "$n" -eq "${#WHEELS[@]}" ] || echo "warning: .whl/ holds $n wheels, expected ${#WHEELS[@]}; gpu_check.sh installs them all, so remove stale ones"

# Data (10% set only) and MobileNetV2's ImageNet weights; ensure_weights fetches the weights if the cache lacks them.
cp -f "${FOODVISION_DATA:-$("$PY" -c "from foodvision_fastai.test_utils import shared_data; print(shared_data())")/pizza_steak_sushi.zip}" .gpudata/pizza_steak_sushi.zip
w=$("$PY" -c "from foodvision_fastai.models import ensure_weights; print(ensure_weights('mobilenet_v2', quiet=True))" 2>/dev/null | tail -1)
cp -f "$w" .gpudata/

# The device tool carries only ignored paths; .gitignore may not name these, so exclude them locally too.
ex=$(git rev-parse --git-path info/exclude); mkdir -p "$(dirname "$ex")"; touch "$ex"
for p in /.whl/ /.gpudata/; do grep -qxF "$p" "$ex" || echo "$p" >> "$ex"; done

total=$(du -cb .whl .gpudata | tail -1 | cut -f1)
ls -l .whl .gpudata
echo "total $((total/1000000)) MB in .whl/ and .gpudata/"
[ "$total" -lt 60000000 ] || { echo "error: over 60 MB" >&2; exit 1; }
