#!/usr/bin/env bash
# Fill .whl/ and .gpudata/ (both ignored by git) for bench/gpu_check.sh; run here, where PyPI can be reached:
#   bash bench/prepare_gpu_check.sh
# The GPU machine has python3 (3.12) with torch, torchvision, timm, numpy, pandas, matplotlib, scipy, scikit-learn,
# onnxruntime... but no fastai and no network, so we carry the pure-Python wheels it lacks, the data and the weights it
# cannot download. Everything that travels must stay under 64 MiB (the repository included), so the photos travel at
# 320 px on their longer side, JPEG quality 85 (the models see 224 px crops of them, or 288 px ones), and only MobileNetV2's and
# EfficientNet-Lite0's weights come along.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
PY=${PY:-.venv/bin/python}; [ -x "$PY" ] || PY=python3

# The package's pins, then what importing foodvision_fastai pulls in on top of the GPU image (beartype for plum-dispatch;
# fastprogress 1.1 imports fasthtml.common, which needs starlette, itsdangerous, python-multipart and defusedxml).
WHEELS=(fastai==2.8.7 fastcore==1.14.5 fasttransform==0.0.2 plum-dispatch==2.9.0 fastprogress==1.1.6
        fastdownload==0.0.8 safetensors==0.8.0 timm==1.0.31 beartype==0.23.1 python-fasthtml==0.14.5 starlette==1.10.0
        itsdangerous==2.2.0 python-multipart==0.0.34 defusedxml==0.7.1)
rm -rf .whl .gpudata; mkdir -p .whl .gpudata
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "${WHEELS[@]}"

# The 10% data and the hold-out photos (those of the 20% data that are not in the 10% data), at 320 px; the weights.
"$PY" - <<'PYEOF'
from pathlib import Path
from PIL import Image
from foodvision_fastai.data import get_data
from foodvision_fastai.test_utils import shared_data
from foodvision_fastai.models import ensure_weights
import shutil, sys
sys.path.insert(0, 'bench'); from accuracy import holdout
d10, d20 = (get_data(shared_data()/z, quiet=True) for z in ('pizza_steak_sushi.zip', 'pizza_steak_sushi_20_percent.zip'))
def small(src, dest):
    dest.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im: im.thumbnail((320, 320)); im.convert("RGB").save(dest, quality=85)
for p in d10.rglob('*.jpg'): small(p, Path('.gpudata/data10')/p.relative_to(d10))
for p, c in holdout(d10, d20): small(p, Path('.gpudata/holdout')/c/p.name)
for a in ('mobilenet_v2', 'efficientnet_lite0'): shutil.copy(ensure_weights(a, quiet=True), '.gpudata/')
PYEOF

# The device tool carries only ignored paths; .gitignore may not name these, so exclude them locally too.
ex=$(git rev-parse --git-path info/exclude); mkdir -p "$(dirname "$ex")"; touch "$ex"
for p in /.whl/ /.gpudata/; do grep -qxF "$p" "$ex" || echo "$p" >> "$ex"; done
total=$(du -cb .whl .gpudata | tail -1 | cut -f1); tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
echo "$((total/1000000)) MB in .whl/ and .gpudata/, $((tree/1000000)) MB in the repository"
[ $((total+tree)) -lt 64000000 ] || { echo "error: over 64 MB" >&2; exit 1; }
