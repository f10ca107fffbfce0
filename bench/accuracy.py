"""The best accuracy that 225 training photos allow, measured honestly: every candidate recipe is trained with seeds 1 to 5
on the course's 10% data and judged by its mean and spread over the seeds, on the 75 test photos and on a hold-out of
real Food-101 photos of the same classes that no model saw (the photos of the 20% data set that are not in the 10% one:
391 of them), each without and with test-time augmentation (fastai's `Learner.tta`). An ensemble is a candidate like any
other: its arch is its members joined by '+', trained and evaluated as one model (`train_ensemble`).

    python bench/accuracy.py [--candidates NAME ...] [--seeds 1 2 3 4 5] [--out nbs/accuracy_results.csv] [--data10 ZIP] [--data20 ZIP]

Updates the CSV as it goes, one row per candidate, seed and evaluation (the rows of other candidates and seeds stay; a
cut-short run keeps what it finished), with the precision the training ran in (bf16 where the CPU has it, else fp32),
and prints the summary table (mean and standard deviation over the seeds) in Markdown at the end."""
from __future__ import annotations
import argparse, csv, hashlib, shutil, statistics, tempfile
from contextlib import contextmanager
from pathlib import Path

import torch
from fastai.callback.mixup import MixUp
from fastai.data.transforms import Normalize

from foodvision_fastai.callbacks import auto_precision
from foodvision_fastai.data import get_data
from foodvision_fastai.dataloaders import foodvision_dls
from foodvision_fastai.layout import read_layout
from foodvision_fastai.test_utils import shared_data
from foodvision_fastai.core import read_metrics
from foodvision_fastai.train import train_foodvision

CANDIDATES = {  # name -> train_foodvision options (besides data, seed, out); arch and ensembles' epochs named, as the defaults changed
    'mobilenet_v2': dict(arch='mobilenet_v2'),
    'mobilenet_v2 10ep lr1e-3': dict(arch='mobilenet_v2', epochs=10, lr=1e-3),
    'mobilenet_v2 fine_tune': dict(arch='mobilenet_v2', fine_tune=True, epochs=4, freeze_epochs=1),
    'mobilenet_v2 mixup 10ep': dict(arch='mobilenet_v2', epochs=10, cbs='mixup'),
    'mobilenet_v2 288px': dict(arch='mobilenet_v2', size=288),
    'mobilenet_v2 3ep': dict(arch='mobilenet_v2', epochs=3),
    'efficientnet_lite0': dict(arch='efficientnet_lite0'),
    'efficientnet_lite0 fine_tune': dict(arch='efficientnet_lite0', fine_tune=True, epochs=4, freeze_epochs=1),
    'efficientnet_lite0 288px': dict(arch='efficientnet_lite0', size=288),
    'efficientnet_lite1': dict(arch='efficientnet_lite1'),
    'efficientnet_lite2': dict(arch='efficientnet_lite2'),
    'mobilenet_v2+efficientnet_lite0': dict(arch='mobilenet_v2+efficientnet_lite0', epochs=5),
    'mobilenet_v2+efficientnet_lite0 3ep': dict(arch='mobilenet_v2+efficientnet_lite0', epochs=3),
    'efficientnet_lite0+efficientnet_lite2': dict(arch='efficientnet_lite0+efficientnet_lite2', epochs=5),
    'mobilenet_v2+efficientnet_lite0 3ep hidden 256': dict(arch='mobilenet_v2+efficientnet_lite0', epochs=3, hidden=256),  # head_screen's best
    'mobilenet_v2+efficientnet_lite0+efficientnet_lite1 3ep': dict(arch='mobilenet_v2+efficientnet_lite0+efficientnet_lite1', epochs=3),
    'mobilenet_v2+efficientnet_lite0+efficientnet_lite1 3ep hidden 256': dict(arch='mobilenet_v2+efficientnet_lite0+efficientnet_lite1', epochs=3, hidden=256),
    'mobilenet_v2+efficientnet_lite0+efficientnet_lite1 2ep hidden 256': dict(arch='mobilenet_v2+efficientnet_lite0+efficientnet_lite1', epochs=2, hidden=256),
    'mobilenet_v2+efficientnet_lite0 3ep judged at 256px': dict(arch='mobilenet_v2+efficientnet_lite0', epochs=3, eval_size=256),  # trained at 224
}

@contextmanager
def eval_side(learn, data:Path, size:int|None):
    """Judge `learn` on photos at side `size` instead of the side it was trained at ("FixRes": the training's random zoom makes
    objects look larger than a centre crop at the same side does); an ensemble's members then see that side too."""
    if size is None: yield; return
    dls, m = learn.dls, learn.model
    sizes = m.sizes.clone() if hasattr(m, 'sizes') else None
    learn.dls = foodvision_dls(data, size=size, num_workers=0)
    norm = [t for t in dls.after_batch.fs if isinstance(t, Normalize)]  # a single model's normalization (an ensemble's members normalize)
    if norm: learn.dls.add_tfms(norm, 'after_batch')
    if sizes is not None: m.sizes[:] = size
    try: yield
    finally:
        learn.dls = dls
        if sizes is not None: m.sizes.copy_(sizes)

def holdout(data10:Path, data20:Path)->list:
    "(file, class) of the 20% data set's photos whose content is not in the 10% one."
    seen = {hashlib.sha256(p.read_bytes()).hexdigest() for p in data10.rglob('*.jpg')}
    return [(p, p.parent.name) for p in sorted(data20.rglob('*.jpg')) if hashlib.sha256(p.read_bytes()).hexdigest() not in seen]

def probabilities(learn, items:list, tta:bool)->tuple:
    "(probabilities, targets) of `learn` for labelled `items`, with fastai's TTA or without."
    dl = learn.dls.test_dl([p for p,_ in items], with_labels=True)
    with learn.no_bar(): return learn.tta(dl=dl) if tta else learn.get_preds(dl=dl)[:2]

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--candidates', nargs='+', default=list(CANDIDATES))
    p.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3, 4, 5])
    p.add_argument('--out', default=str(Path(__file__).parents[1]/'nbs'/'accuracy_results.csv'))
    p.add_argument('--data10', default=str(shared_data()/'pizza_steak_sushi.zip'))
    p.add_argument('--data20', default=str(shared_data()/'pizza_steak_sushi_20_percent.zip'))
    p.add_argument('--holdout', help='a folder with a folder per class of hold-out photos (default: from --data20, as above)')
    a = p.parse_args()
    d10 = get_data(a.data10, quiet=True)
    hold = read_layout(a.holdout).items['train'] if a.holdout else holdout(d10, get_data(a.data20, quiet=True))
    sets = {'test': read_layout(d10).items['test'], 'holdout': hold}
    print(f"test: {len(sets['test'])} photos, hold-out: {len(sets['holdout'])} photos; device: {'cuda' if torch.cuda.is_available() else 'cpu'}", flush=True)
    cols = ['candidate', 'seed', 'tta', 'test_correct', 'test_n', 'holdout_acc', 'train_seconds', 'precision']
    precision = auto_precision(torch.cuda.is_available())  # what the training's 'auto' will choose
    redo = {(c, str(k), precision) for c in a.candidates for k in a.seeds}  # rows of another precision (another machine) stay
    kept = [r for r in (csv.DictReader(open(a.out)) if Path(a.out).exists() else []) if (r['candidate'], r['seed'], r['precision']) not in redo]
    rows, tmp = [], Path(tempfile.mkdtemp(prefix='accuracy-'))
    f = open(a.out, 'w', newline=''); w = csv.DictWriter(f, cols, restval='')
    w.writeheader(); w.writerows(kept); f.flush()
    for seed in a.seeds:
        for name in a.candidates:
            kw = dict(CANDIDATES[name])
            if kw.get('cbs')=='mixup': kw['cbs'] = [MixUp()]
            size = kw.pop('eval_size', None)
            r = train_foodvision(d10, seed=seed, out=tmp/f'{name}-{seed}'.replace(' ', '_'), quiet=True, **kw)
            for tta in (False, True):
                with eval_side(r.learn, d10, size): (pt, tt), (ph, th) = (probabilities(r.learn, items, tta) for items in sets.values())
                row = [name, seed, tta, int((pt.argmax(1)==tt).sum()), len(tt), round(float((ph.argmax(1)==th).float().mean()), 4), round(r.train_seconds, 1),
                       read_metrics(r.out)['settings']['precision']]
                w.writerow(dict(zip(cols, row))); f.flush(); rows.append(row); print(row, flush=True)
            shutil.rmtree(r.out)  # the rows are what is kept: ten runs of an ensemble would leave hundreds of MB behind
    f.close(); shutil.rmtree(tmp)
    print('\n| candidate | TTA | test correct of 75, seeds ' + ' '.join(map(str, a.seeds)) + ' | mean ± sd | hold-out acc (mean ± sd) | training s |')
    print('|---|---|---|---|---|---|')
    for name in a.candidates:
        for tta in (False, True):
            rs = [r for r in rows if r[0]==name and r[2]==tta]  # this run's rows
            if not rs: continue
            c, h = [r[3] for r in rs], [r[5] for r in rs]
            sd = lambda xs: statistics.stdev(xs) if len(xs)>1 else 0.
            print(f"| {name} | {'yes' if tta else 'no'} | {' '.join(map(str, c))} | {statistics.mean(c):.1f} ± {sd(c):.1f} | "
                  f"{100*statistics.mean(h):.1f}% ± {100*sd(h):.1f} | {statistics.mean(r[6] for r in rs):.0f} |")

if __name__ == '__main__': main()
