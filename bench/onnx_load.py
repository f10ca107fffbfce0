"""What the saved `model.onnx` buys: `load_model` time with the run's `model.onnx` against exporting the graph at load time
(a folder with only `model.safetensors` and `model.json`, as before issue 16), and the prediction latency of each.

    python bench/onnx_load.py RUN_FOLDER [--reps 5]

Each load runs in a fresh process (imports not counted); the median of `--reps` processes is printed, in Markdown."""
from __future__ import annotations
import argparse, json, shutil, statistics, subprocess, sys, tempfile
from pathlib import Path
from foodvision_fastai.test_utils import shared_data

CODE = '''
import json, sys, time
from foodvision_fastai.export import load_model
from foodvision_fastai.inference import predict
t0 = time.perf_counter(); m = load_model(sys.argv[1]); load = time.perf_counter()-t0
photo = sys.argv[2]; predict(m, photo)  # warm-up
ts = []
for _ in range(20): t0 = time.perf_counter(); predict(m, photo); ts.append(time.perf_counter()-t0)
ts.sort(); print(json.dumps(dict(load_s=load, latency_ms=1000*ts[len(ts)//2], runtime=m.runtime)))
'''

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('run'); p.add_argument('--reps', type=int, default=5)
    a = p.parse_args()
    photo = str(sorted((shared_data()/'custom').glob('*.jpeg'))[0])
    old = Path(tempfile.mkdtemp())/'no_onnx'; old.mkdir()
    for f in ('model.safetensors', 'model.json'): shutil.copy(Path(a.run)/f, old/f)
    cfg = json.loads((old/'model.json').read_text()); cfg.pop('onnx', None); (old/'model.json').write_text(json.dumps(cfg))
    res = {}
    for name, folder in (('saved model.onnx', Path(a.run)), ('exported at load time', old)):
        runs = [json.loads(subprocess.run([sys.executable, '-c', CODE, str(folder), photo], capture_output=True, text=True, check=True).stdout.splitlines()[-1])
                for _ in range(a.reps)]
        res[name] = runs
    shutil.rmtree(old.parent)
    print(f"| model files | load_model (s, median of {a.reps}) | one photo to probabilities (ms, median) | runtime |\n|---|---|---|---|")
    for name, runs in res.items():
        print(f"| {name} | {statistics.median(r['load_s'] for r in runs):.3f} | {statistics.median(r['latency_ms'] for r in runs):.1f} | {runs[0]['runtime']} |")
    print(f"\nmodel.onnx: {(Path(a.run)/'model.onnx').stat().st_size/1e6:.1f} MB")

if __name__ == '__main__': main()
