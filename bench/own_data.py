"""Your own data, measured on the course's real 10% data (seeds 1 to 5 unless said; `train_foodvision` defaults otherwise):

- `split`: as it comes (train/ + test/) with `valid_pct=0.2`: 20% of train validates, the test set is looked at once;
- `folders`: the 300 photos merged into one folder per class (layout 3), which validates on 20% of them by default;
- `folders_best`: the same with `save_best=True` (the weights of the epoch with the lowest validation loss);
- `balance`: steak's training images cut to 15 of 75 (the largest class 5 times the smallest), trained as it is, with
  `balance='loss'` and with `balance='sampler'` (seeds 1 to 3): accuracy and each class's recall on the full test set.

    python bench/own_data.py [--parts split folders folders_best balance] [--out bench/own_data.md]

Prints a Markdown report (each run's figures, then the mean and spread per set-up) and writes it to `--out`."""
from __future__ import annotations
import argparse, shutil, statistics, sys, tempfile, time
from pathlib import Path

from foodvision_fastai.data import get_data
from foodvision_fastai.test_utils import shared_data
from foodvision_fastai.train import train_foodvision

def folders(src:Path, dest:Path)->Path:
    "The photos of `src`'s train/ and test/ in one folder per class."
    for p in sorted(src.rglob('*.jpg')):
        (dest/p.parent.name).mkdir(parents=True, exist_ok=True); shutil.copy(p, dest/p.parent.name/f'{p.parts[-3]}_{p.name}')
    return dest

def imbalanced(src:Path, dest:Path, cls:str='steak', keep:int=15)->Path:
    "`src` with only the first `keep` training images of class `cls`."
    shutil.copytree(src, dest)
    for p in sorted((dest/'train'/cls).iterdir())[keep:]: p.unlink()
    return dest

def run(data, tmp:Path, **kw)->dict:
    t0 = time.perf_counter()
    r = train_foodvision(data, out=tmp/f'run{len(list(tmp.iterdir()))}', quiet=True, **kw)
    recall = {c: v['recall'] for c,v in r.per_class.items()}
    return dict(valid=r.valid_accuracy, test=r.test_accuracy, best=r.best_epoch, recall=recall, secs=time.perf_counter()-t0)

def stats(xs:list)->str:
    xs = [x for x in xs if x is not None]
    if not xs: return ''
    return f'{100*statistics.mean(xs):.1f}% ± {100*statistics.stdev(xs):.1f}' if len(xs)>1 else f'{100*xs[0]:.1f}%'

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--parts', nargs='+', default=['split', 'folders', 'folders_best', 'balance'])
    p.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3, 4, 5])
    p.add_argument('--out', default=str(Path(__file__).with_name('own_data.md')))
    a = p.parse_args()
    src = get_data(shared_data()/'pizza_steak_sushi.zip', quiet=True)
    tmp = Path(tempfile.mkdtemp(prefix='own_data-'))
    setups = {'split': (src, dict(valid_pct=0.2)), 'folders': (folders(src, tmp/'folders'), {}),
              'folders_best': (tmp/'folders', dict(save_best=True))}
    if 'balance' in a.parts:
        imb = imbalanced(src, tmp/'imbalanced')
        setups |= {'imbalanced': (imb, {}), 'imbalanced_loss': (imb, dict(balance='loss')), 'imbalanced_sampler': (imb, dict(balance='sampler'))}
    names = [n for n in setups if n in a.parts or (n.startswith('imbalanced') and 'balance' in a.parts)]
    lines = ['# Your own data: layouts, validation split, best epoch, class balance', '', f'{sys.argv[0]} {" ".join(sys.argv[1:])}', '',
             '| set-up | seed | valid acc | test acc | best epoch | recall pizza / steak / sushi | seconds |', '|---|---|---|---|---|---|---|']
    summary = {}
    (tmp/'runs').mkdir()
    for n in names:
        data, kw = setups[n]
        seeds = a.seeds[:3] if n.startswith('imbalanced') else a.seeds
        rs = [run(data, tmp/'runs', seed=s, **kw) for s in seeds]
        for s, r in zip(seeds, rs):
            test = '' if r['test'] is None else f"{100*r['test']:.1f}%"
            recall = ' / '.join(f"{r['recall'][c]:.2f}" for c in ('pizza', 'steak', 'sushi'))
            lines.append(f"| {n} | {s} | {100*r['valid']:.1f}% | {test} | {r['best'] or ''} | {recall} | {r['secs']:.0f} |")
            print(lines[-1], flush=True)
        summary[n] = (stats([r['valid'] for r in rs]), stats([r['test'] for r in rs]),
                      ' / '.join(f"{statistics.mean(r['recall'][c] for r in rs):.2f}" for c in ('pizza', 'steak', 'sushi')), len(rs))
    lines += ['', '| set-up | seeds | valid acc (mean ± sd) | test acc (mean ± sd) | mean recall pizza / steak / sushi |', '|---|---|---|---|---|']
    lines += [f'| {n} | {k} | {v} | {t} | {rc} |' for n,(v,t,rc,k) in summary.items()]
    Path(a.out).write_text('\n'.join(lines)+'\n')
    print('\n'.join(lines[-len(summary)-2:]))
    shutil.rmtree(tmp, ignore_errors=True)

if __name__ == '__main__': main()
