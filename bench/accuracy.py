"""The best accuracy that 225 training photos allow, measured honestly: every candidate recipe is trained with seeds 1 to 5
on the course's 10% data and judged by its mean and spread over the seeds, on the 75 test photos and on a hold-out of
real Food-101 photos of the same classes that no model saw (the photos of the 20% data set that are not in the 10% one:
391 of them), each without and with test-time augmentation (fastai's `Learner.tta`). An ensemble is a candidate like any
other: its arch is its members joined by '+'.

    python bench/accuracy.py [--candidates NAME ...] [--seeds 1 2 3 4 5] [--out nbs/accuracy_results.csv] [--data10 ZIP] [--data20 ZIP] [--size PX]

The seeds grid is `run_experiments` (`foodvision_experiments`), one grid per candidate, on a data set it builds once: the
10% data's `train/`, its `test/` as `valid/` (what the 10% data validates on anyway) and the hold-out as `test/`, with
`tta=True`; so `valid_accuracy` is the test photos' figure and `test_accuracy` the hold-out's, each also with TTA.
Updates the CSV, one row per candidate, seed and evaluation (the rows of other candidates and seeds stay), with the
precision the training ran in (bf16 where the CPU has it, else fp32), and prints the summary table (mean ± sd over the
seeds) in Markdown at the end."""
from __future__ import annotations
import shutil, tempfile
from pathlib import Path

import pandas as pd
from fastcore.script import Param, call_parse
from core import REPO, SEEDS, mean_sd, md_table
from foodvision_fastai.data import get_data
from foodvision_fastai.experiments import run_experiments
from foodvision_fastai.layout import read_layout
from foodvision_fastai.test_utils import shared_data
from foodvision_fastai.core import read_metrics, sha256sum

# name -> train_foodvision options (besides data and seed); arch and epochs named, as the defaults changed. The rows of
# candidates no longer here (MixUp, judged at 256 px: options that `run_experiments` does not take) stay in the CSV as history.
CANDIDATES = {
    'mobilenet_v2': dict(arch='mobilenet_v2', epochs=5),
    'mobilenet_v2 10ep lr1e-3': dict(arch='mobilenet_v2', epochs=10, lr=1e-3),
    'mobilenet_v2 fine_tune': dict(arch='mobilenet_v2', fine_tune=True, epochs=4, freeze_epochs=1),
    'mobilenet_v2 288px': dict(arch='mobilenet_v2', epochs=5, size=288),
    'mobilenet_v2 3ep': dict(arch='mobilenet_v2', epochs=3),
    'efficientnet_lite0': dict(arch='efficientnet_lite0', epochs=5),
    'efficientnet_lite0 fine_tune': dict(arch='efficientnet_lite0', fine_tune=True, epochs=4, freeze_epochs=1),
    'efficientnet_lite0 288px': dict(arch='efficientnet_lite0', epochs=5, size=288),
    'efficientnet_lite1': dict(arch='efficientnet_lite1', epochs=5),
    'efficientnet_lite2': dict(arch='efficientnet_lite2', epochs=5),
    'mobilenet_v2+efficientnet_lite0': dict(arch='mobilenet_v2+efficientnet_lite0', epochs=5),
    'mobilenet_v2+efficientnet_lite0 3ep': dict(arch='mobilenet_v2+efficientnet_lite0', epochs=3),
    'efficientnet_lite0+efficientnet_lite2': dict(arch='efficientnet_lite0+efficientnet_lite2', epochs=5),
    'mobilenet_v2+efficientnet_lite0 3ep hidden 256': dict(arch='mobilenet_v2+efficientnet_lite0', epochs=3, hidden=256),  # head_screen's best
    'mobilenet_v2+efficientnet_lite0+efficientnet_lite1 3ep': dict(arch='mobilenet_v2+efficientnet_lite0+efficientnet_lite1', epochs=3),
    'mobilenet_v2+efficientnet_lite0+efficientnet_lite1 3ep hidden 256': dict(arch='mobilenet_v2+efficientnet_lite0+efficientnet_lite1', epochs=3, hidden=256),
    'mobilenet_v2+efficientnet_lite0+efficientnet_lite1 2ep hidden 256': dict(arch='mobilenet_v2+efficientnet_lite0+efficientnet_lite1', epochs=2, hidden=256),
}
COLS = ['candidate', 'seed', 'tta', 'test_correct', 'test_n', 'holdout_acc', 'train_seconds', 'precision']

def holdout(data10:Path, data20:Path)->list:
    "(file, class) of the 20% data set's photos whose content is not in the 10% one."
    seen = {sha256sum(p) for p in data10.rglob('*.jpg')}
    return [(p, p.parent.name) for p in sorted(data20.rglob('*.jpg')) if sha256sum(p) not in seen]

def eval_set(d10:Path, hold:list, dest:Path)->Path:
    "The 10% data's train/ as train/, its test/ as valid/, the hold-out as test/ (links where the file system allows)."
    lay = read_layout(d10)
    for split, items in (('train', lay.items['train']), ('valid', lay.items['test']), ('test', hold)):
        for p, c in items:
            (dest/split/c).mkdir(parents=True, exist_ok=True)
            try: (dest/split/c/p.name).hardlink_to(p)
            except OSError: shutil.copy(p, dest/split/c/p.name)
    return dest

def candidate_rows(name:str, data:Path, seeds:list, out:Path, size:int|None=None)->list:
    """Train `name` once per seed with `run_experiments`; its CSV rows (without and with TTA) from each run's metrics.json. At `size` px
    if given: then the rows are `name at {size}px`, never taken for the candidate's own figures."""
    kw, label = dict(CANDIDATES[name], **({'size': size} if size else {})), f'{name} at {size}px' if size else name
    grid = dict(archs=[kw.pop('arch')], epochs=[kw.pop('epochs')], sizes=[kw.pop('size')] if 'size' in kw else None,
                lrs=[kw.pop('lr')] if 'lr' in kw else None)
    df = run_experiments(**grid, datas=[data], seeds=seeds, out=out, quiet=True, tta=True, **kw)
    rows = []
    for r in df.to_dict('records'):
        if r['status'] not in ('done', 'reused'): raise SystemExit(f"{name}, seed {r['seed']}: {r['reason']}")
        m = read_metrics(out/r['run'])
        for tta, sfx in ((False, ''), (True, '_tta')):
            rows.append(dict(candidate=label, seed=r['seed'], tta=tta, valid_acc=m['valid_accuracy'+sfx], holdout_acc=round(m['test_accuracy'+sfx], 4),
                             train_seconds=round(m['train_seconds'], 1), precision=m['settings']['precision']))
    return rows

@call_parse
def main(candidates:Param('Candidates (keys of CANDIDATES)', str, nargs='+')=tuple(CANDIDATES),
         seeds:Param('Seeds', int, nargs='+')=SEEDS,
         out:str=str(REPO/'nbs'/'accuracy_results.csv'), # The CSV of every run, updated as it goes
         data10:str=str(shared_data()/'pizza_steak_sushi.zip'), # Training photos and the test photos
         data20:str=str(shared_data()/'pizza_steak_sushi_20_percent.zip'), # Source of the hold-out
         holdout_dir:str=None, # A folder with a folder per class of hold-out photos (default: from `data20`, as above)
         size:int=None): # Image side for every candidate (default: each candidate's own); for a quick check: its rows are 'NAME at SIZEpx'
    bad = [c for c in candidates if c not in CANDIDATES]
    if bad: raise SystemExit(f"unknown candidate(s) {', '.join(map(repr, bad))}; choose among {', '.join(CANDIDATES)}")
    d10 = get_data(data10, quiet=True)
    hold = read_layout(holdout_dir).items['train'] if holdout_dir else holdout(d10, get_data(data20, quiet=True))
    tmp = Path(tempfile.mkdtemp(prefix='accuracy-'))
    try:
        data = eval_set(d10, hold, tmp/'data')
        n_test = len(read_layout(d10).items['test'])
        print(f'test: {n_test} photos, hold-out: {len(hold)} photos', flush=True)
        new = []
        for name in candidates:
            rs = candidate_rows(name, data, list(seeds), tmp/'runs'/name.replace(' ', '_'), size)
            for r in rs: r.update(test_n=n_test, test_correct=round(r.pop('valid_acc')*n_test))
            new += rs; print(md_table(COLS, [[r[c] for c in COLS] for r in rs]), flush=True)
            old = pd.read_csv(out) if Path(out).exists() else pd.DataFrame(columns=COLS)  # rows of other candidates, seeds or precisions stay
            done = {(r['candidate'], r['seed'], r['precision']) for r in new}
            old = old[[(c, s, p) not in done for c, s, p in zip(old.candidate, old.seed, old.precision)]]
            pd.concat([old, pd.DataFrame(new, columns=COLS)]).to_csv(out, index=False)
    finally: shutil.rmtree(tmp, ignore_errors=True)
    rows = [[n, 'yes' if t else 'no', ' '.join(str(r['test_correct']) for r in rs), mean_sd([r['test_correct'] for r in rs]),
             mean_sd([r['holdout_acc'] for r in rs], pct=True), mean_sd([r['train_seconds'] for r in rs], digits=0)]
            for n in dict.fromkeys(r['candidate'] for r in new) for t in (False, True) if (rs := [r for r in new if r['candidate']==n and r['tta']==t])]
    print(md_table(['candidate', 'TTA', 'test correct, seeds ' + ' '.join(map(str, seeds)), 'mean ± sd', 'hold-out acc (mean ± sd)', 'training s'], rows))
