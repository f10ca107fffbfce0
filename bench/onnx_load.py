"""What the saved `model.onnx` buys: `load_model` time with the run's `model.onnx` against exporting the graph at load time
(a folder with only `model.safetensors` and `model.json`, as before issue 16), and the prediction latency of each.

    python bench/onnx_load.py RUN_FOLDER [--reps 5]

Each load runs in a fresh process (imports not counted); the median of `--reps` processes is printed, in Markdown."""
from __future__ import annotations
import json, shutil, statistics, subprocess, sys, tempfile
from pathlib import Path
from fastcore.script import call_parse
from core import md_table
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

@call_parse
def main(run:str, # A run folder of `foodvision_train`
         reps:int=5): # Fresh processes per set-up (the median is shown)
    photo = str(sorted((shared_data()/'custom').glob('*.jpeg'))[0])
    old = Path(tempfile.mkdtemp())/'no_onnx'; old.mkdir()
    for f in ('model.safetensors', 'model.json'): shutil.copy(Path(run)/f, old/f)
    cfg = json.loads((old/'model.json').read_text()); cfg.pop('onnx', None); (old/'model.json').write_text(json.dumps(cfg))
    res = {}
    for name, folder in (('saved model.onnx', Path(run)), ('exported at load time', old)):
        res[name] = [json.loads(subprocess.run([sys.executable, '-c', CODE, str(folder), photo], capture_output=True, text=True, check=True).stdout.splitlines()[-1])
                     for _ in range(reps)]
    shutil.rmtree(old.parent)
    med = statistics.median
    print(md_table(['model files', f'load_model (s, median of {reps})', 'one photo to probabilities (ms, median)', 'runtime'],
                   [[name, f"{med(r['load_s'] for r in rs):.3f}", f"{med(r['latency_ms'] for r in rs):.1f}", rs[0]['runtime']] for name, rs in res.items()]))
    print(f"model.onnx: {(Path(run)/'model.onnx').stat().st_size/1e6:.1f} MB")
