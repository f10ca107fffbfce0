"""How long `foodvision_audit` takes, and how its cost grows with the number of photos.

- the course's 10% data set (300 photos) through the command, as a user runs it (the imports included);
- generated data sets of N photos (`--sizes`, default 1000 2500 5000 10000): random crops, flips and lighting of the
  20% data set's and imagenette_mini's photos (13 classes, 80% train, 20% test, at most 512 pixels a side, JPEG
  quality 85), audited by `audit` in this process, each step timed.

    FOODVISION_SHARED=../shared/data .venv/bin/python bench/audit_speed.py [--sizes 1000 2500]

writes bench/audit_speed.md (the machine is shared: the load average before and after each run is in the table)."""
from __future__ import annotations
import os, resource, shutil, subprocess, sys, tempfile, time
from fastcore.script import Param, call_parse
from core import REPO
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from foodvision_fastai.audit import audit, audit_summary, feature_body, square, _MEAN, _STD
from foodvision_fastai.data import get_data
from foodvision_fastai.layout import read_layout
from foodvision_fastai.test_utils import shared_data


def sources()->list:
    "(photo, class) of the 20% data set and imagenette_mini: the photos the generated sets are made from."
    res = []
    for z in ('pizza_steak_sushi_20_percent.zip', 'imagenette_mini.zip'):
        lay = read_layout(get_data(shared_data()/z, quiet=True))
        res += [it for s in ('train', 'valid', 'test') for it in lay.items[s]]
    return res

def generate(dest:Path, n:int, seed:int=0)->Path:
    "A data set of `n` photos, each a random crop (35-100% of the area), maybe mirrored, lit brighter or darker, of a source photo."
    rng, src = np.random.default_rng(seed), sources()
    for i in range(n):
        f, c = src[rng.integers(len(src))]
        with Image.open(f) as im:
            im = im.convert('RGB'); w, h = im.size
            a, r = rng.uniform(.35, 1), rng.uniform(3/4, 4/3)
            cw, ch = min(w, int(w*np.sqrt(a*r))), min(h, int(h*np.sqrt(a/r)))
            left, top = rng.integers(0, w-cw+1), rng.integers(0, h-ch+1)
            im = im.crop((left, top, left+cw, top+ch))
            if rng.random() < .5: im = im.transpose(Image.FLIP_LEFT_RIGHT)
            im = ImageEnhance.Brightness(im).enhance(rng.uniform(.7, 1.3))
            im.thumbnail((512, 512))
            split = 'test' if rng.random() < .2 else 'train'
            (dest/split/c).mkdir(parents=True, exist_ok=True)
            im.save(dest/split/c/f'{i:05d}.jpg', quality=85)
    return dest

def load()->str: return '/'.join(f'{x:.1f}' for x in os.getloadavg()[:1])

def cpu()->float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

def main(sizes:list, out:Path):
    t_all, tmp, rows = time.time(), Path(tempfile.mkdtemp()), []
    try:
        # the 10% data set through the command, imports and all
        d10 = get_data(shared_data()/'pizza_steak_sushi.zip', quiet=True)
        l0, t = load(), time.perf_counter()
        r = subprocess.run([sys.executable, '-c', 'import sys; from foodvision_fastai.launch import foodvision_audit as f; sys.argv[0] = "foodvision_audit"; sys.exit(f())',
                            '--data', str(d10), '--out', str(tmp/'a10'), '--quiet'], capture_output=True, text=True)
        cmd_s, cmd_cpu = time.perf_counter()-t, resource.getrusage(resource.RUSAGE_CHILDREN)
        assert r.returncode == 0, r.stderr[-2000:]
        cmd_row = (f'| `foodvision_audit --data <10% data> --quiet` (300 photos) | {cmd_s:.1f} | {cmd_cpu.ru_utime+cmd_cpu.ru_stime:.1f} | {l0} → {load()} |')
        print(cmd_row, flush=True)

        # the body alone: ONNX Runtime against PyTorch, on a batch of 32 of the 10% data's photos, interleaved, the median of 5
        px = np.stack([square(f) for f in sorted(d10.rglob('*.jpg'))[:32]])
        x = np.ascontiguousarray(((px.astype(np.float32)-_MEAN)/_STD).transpose(0, 3, 1, 2))
        bodies, ms = {'onnxruntime': feature_body(), 'torch': feature_body('torch')}, {'onnxruntime': [], 'torch': []}
        for b in bodies.values(): b(x)  # warm up
        l0 = load()
        for _ in range(5):
            for k, b in bodies.items():
                t = time.perf_counter(); b(x); ms[k].append(1000*(time.perf_counter()-t)/32)
        body_rows = [f'| MobileNetV2 features in {k}, a batch of 32 | {np.median(v):.1f} ms per photo | | {l0} → {load()} |' for k, v in ms.items()]
        print(body_rows, flush=True)

        gen = tmp/'gen'
        t = time.perf_counter(); generate(gen, max(sizes)); gen_s = time.perf_counter()-t
        files = sorted(gen.rglob('*.jpg'), key=lambda p: p.name)  # in the order they were made: train and test mixed
        for n in sorted(sizes):
            ds = tmp/f'gen{n}'
            for f in files[:n]:  # the first n photos, as links
                (ds/f.relative_to(gen)).parent.mkdir(parents=True, exist_ok=True); os.link(f, ds/f.relative_to(gen))
            l0, c0, t = load(), cpu(), time.perf_counter()
            df = audit(ds, out=tmp/f'out{n}', quiet=True)
            wall, c = time.perf_counter()-t, cpu()-c0
            s = df.attrs['seconds']
            rows.append(f"| {df.attrs['n_photos']} | {wall:.1f} | {c:.1f} | {s['read']:.1f} | {s['describe']:.1f} | {1000*s['describe']/df.attrs['n_photos']:.1f} | "
                        f"{s['duplicates']:.1f} | {s['labels']:.1f} | {s['outliers']:.2f} | {l0} → {load()} |")
            print(rows[-1], flush=True); print(audit_summary(df), flush=True)
            shutil.rmtree(ds)
        ns = [int(r.split('|')[1]) for r in rows]
        walls = [float(r.split('|')[2]) for r in rows]
        outl, n_src = [float(r.split('|')[9]) for r in rows], len(sources())
        slope = np.polyfit(np.log(ns), np.log(walls), 1)[0] if len(ns) > 1 else float('nan')
        out.write_text(f"""# How long the audit takes (`bench/audit_speed.py`)

`FOODVISION_SHARED=../shared/data .venv/bin/python bench/audit_speed.py --sizes {' '.join(map(str, sizes))}` on {date.today()},
{os.cpu_count()} CPU cores shared with other work (the load average before → after each run says how shared), {time.time()-t_all:.0f} s in all.

| what | seconds | CPU seconds | load average |
|---|---|---|---|
{cmd_row}
{chr(10).join(body_rows)}

Generated data sets (random crops, flips and lighting of the 20% data set's and imagenette_mini's photos, 13 classes;
{max(sizes)} generated in {gen_s:.0f} s), audited by `audit` in one process (the imports, about 10 s, not counted):

| photos | seconds | CPU seconds | reading | describing | ms per photo | duplicates | labels | outliers | load average |
|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Over these sizes the time grows as N^{slope:.2f} (least squares through log seconds against log photos; the fixed costs
and the load's swings weigh on the small sizes). Describing each photo once, linear in N, is most of it; then the label
heads (five fits of a logistic regression on the 1280 features); the neighbour searches are blocked matrix products,
quadratic in arithmetic but with no Python loop over pairs: one search (the outliers column) took {outl[-1]:.1f} s at
{ns[-1]} photos. The generated photos are crops of {n_src} photos, so many are crops of the same photo: the near duplicates
found are real.
""")
        print(out.read_text())
    finally: shutil.rmtree(tmp, ignore_errors=True)

@call_parse
def cli(sizes:Param('Numbers of generated photos to audit', int, nargs='+')=(1000, 2500, 5000, 10000),
        out:str=str(REPO/'bench'/'audit_speed.md')): # The Markdown report
    main(list(sizes), Path(out))
