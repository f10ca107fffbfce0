"""Screen training recipes in minutes instead of hours, on features cached once: with the body frozen (and its
BatchNorm too, `freeze_bn`), training changes only the head, and the head sees nothing but the body's pooled features of
each augmented training photo. So this script runs the body once per (seed, epoch) over the augmented training set,
exactly as `train_foodvision`'s data pipeline feeds it (same seed, same transforms, same shuffling), and once over the
test photos and the hold-out of `bench/accuracy.py` (plain and 4 augmented views, as fastai's `Learner.tta`), then
trains fastai's head on those features with a one-cycle Adam schedule like fastai's (`fit_one_cycle`: 25% warm-up,
div 25, final div 1e5, momentum 0.95-0.85, decoupled weight decay 0.01, none on BatchNorm and biases), for each recipe
and seeds 1 to 5.

    python bench/head_screen.py [--archs mobilenet_v2 efficientnet_lite0] [--views 8] [--cache DIR] [--out bench/head_screen.md] [--size PX]

It is a screen, not the measure: a recipe that looks good here is then trained for real with `bench/accuracy.py` (which
also times it). Head-only recipes are all it can screen (epochs, learning rate, head shape, dropout, label smoothing,
weight decay, TTA, ensembles of cached archs); anything that trains the body (fine-tuning) or changes the photos
(size, augmentation) needs a new cache or the real training. Prints and writes a Markdown table: test photos correct
per seed, mean ± sd, hold-out accuracy mean ± sd. The test and hold-out views are cached once, for all seeds (the
real measure draws new TTA views per seed), so the spread comes from the training views and the head's start."""
from __future__ import annotations
import sys, time
from types import SimpleNamespace
from pathlib import Path

import torch, torch.nn as nn, torch.nn.functional as F
from fastai.layers import AdaptiveConcatPool2d
from fastai.torch_core import set_seed
from fastai.vision.learner import create_head, apply_init

sys.path.insert(0, str(Path(__file__).parent))
from accuracy import holdout  # noqa: E402  (the same hold-out as the real measure)
from core import HERE, SEEDS, md_table, mean_sd  # noqa: E402
from fastcore.script import Param, call_parse  # noqa: E402
from foodvision_fastai.data import get_data  # noqa: E402
from foodvision_fastai.dataloaders import foodvision_dls  # noqa: E402
from foodvision_fastai.layout import read_layout  # noqa: E402
from foodvision_fastai.models import foodvision_learner, get_arch  # noqa: E402
from foodvision_fastai.test_utils import shared_data  # noqa: E402

RECIPES = {  # name -> (archs averaged, with TTA, head training options); the first is MobileNetV2 alone, the default until the ensemble
    'mobilenet_v2': (['mobilenet_v2'], False, {}),
    'mobilenet_v2 + TTA': (['mobilenet_v2'], True, {}),
    'mobilenet_v2 3ep + TTA': (['mobilenet_v2'], True, dict(epochs=3)),
    'mobilenet_v2 8ep + TTA': (['mobilenet_v2'], True, dict(epochs=8)),
    'mobilenet_v2 lr1e-3 + TTA': (['mobilenet_v2'], True, dict(lr=1e-3)),
    'mobilenet_v2 lr4e-3 + TTA': (['mobilenet_v2'], True, dict(lr=4e-3)),
    'mobilenet_v2 label smoothing 0.1 + TTA': (['mobilenet_v2'], True, dict(ls=0.1)),
    'mobilenet_v2 linear head + TTA': (['mobilenet_v2'], True, dict(lin_ftrs=[])),
    'mobilenet_v2 dropout 0.25 + TTA': (['mobilenet_v2'], True, dict(ps=0.25)),
    'mobilenet_v2 wd 0.1 + TTA': (['mobilenet_v2'], True, dict(wd=0.1)),
    'efficientnet_lite0 + TTA': (['efficientnet_lite0'], True, {}),
    'efficientnet_lite0 linear head + TTA': (['efficientnet_lite0'], True, dict(lin_ftrs=[])),
    'ensemble + TTA': (['mobilenet_v2', 'efficientnet_lite0'], True, {}),
    'ensemble 3ep + TTA': (['mobilenet_v2', 'efficientnet_lite0'], True, dict(epochs=3)),
    'ensemble linear head + TTA': (['mobilenet_v2', 'efficientnet_lite0'], True, dict(lin_ftrs=[])),
    'ensemble linear head 3ep + TTA': (['mobilenet_v2', 'efficientnet_lite0'], True, dict(lin_ftrs=[], epochs=3)),
    'ensemble 3ep lr1e-3 + TTA': (['mobilenet_v2', 'efficientnet_lite0'], True, dict(epochs=3, lr=1e-3)),
    'ensemble 3ep dropout 0.25 + TTA': (['mobilenet_v2', 'efficientnet_lite0'], True, dict(epochs=3, ps=0.25)),
    'ensemble 3ep hidden 256 + TTA': (['mobilenet_v2', 'efficientnet_lite0'], True, dict(epochs=3, lin_ftrs=[256])),
    'ensemble 3ep hidden 1024 + TTA': (['mobilenet_v2', 'efficientnet_lite0'], True, dict(epochs=3, lin_ftrs=[1024])),
}

_pool = AdaptiveConcatPool2d()

def features(body, dl)->tuple:
    "Pooled body features and targets of all of `dl`'s batches."
    fs, ys = [], []
    with torch.no_grad():
        for xb, yb in dl:
            fs.append(_pool(body(xb.contiguous(memory_format=torch.channels_last))).flatten(1)); ys.append(yb)
    return torch.cat(fs).as_subclass(torch.Tensor), torch.cat(ys).as_subclass(torch.Tensor)

def cache_features(arch:str, views:int, seeds:list, data10:Path, hold:list, size:int|None=None)->dict:
    "Per seed, `views` augmented passes over the training set at `size` px (default the arch's own); the test set and `hold` plain and with 4 TTA views."
    size, out, t0 = size or get_arch(arch).size, {}, time.perf_counter()
    evals = {'test': read_layout(data10).items['test'], 'hold': hold}  # cached once, with the first seed's learner
    for seed in seeds:
        set_seed(seed, reproducible=True)  # as `train_foodvision` does, before its DataLoaders
        learn = foodvision_learner(foodvision_dls(data10, size=size, bs=32, seed=seed), arch, quiet=True)
        body, dls = learn.model[0].eval().to(memory_format=torch.channels_last), learn.dls
        passes = [features(body, dls.train) for _ in range(views)]
        out[seed] = dict(X=torch.stack([x for x,_ in passes]), Y=torch.stack([y for _,y in passes]))
        for name, items in evals.items() if seed==seeds[0] else ():
            dl = dls.test_dl([p for p,_ in items], with_labels=True)
            X, Y = features(body, dl)
            with dl.dataset.set_split_idx(0): A = torch.stack([features(body, dl)[0] for _ in range(4)])  # fastai's TTA views
            out[name] = dict(X=X, Y=Y, A=A)
        print(f'{arch}: seed {seed} cached, {time.perf_counter()-t0:.0f} s', flush=True)
    return out

def train_head(c:dict, seed:int, epochs:int=5, lr:float=2e-3, ls:float=0., lin_ftrs:list|None=None, ps:float=0.5, wd:float=0.01):
    "fastai's head for cached features `c`, trained as a frozen-body `fit_one_cycle` trains it (one view per epoch)."
    torch.manual_seed(seed)
    X, Y = c[seed]['X'], c[seed]['Y']
    if epochs > len(X): raise SystemExit(f'{epochs} epochs need {epochs} cached views; run with --views {epochs}')
    head = create_head(X.shape[-1]//2, int(Y.max())+1, lin_ftrs=lin_ftrs, ps=ps)[2:]  # without its pooling: the features are pooled
    apply_init(head, nn.init.kaiming_normal_)
    groups = [dict(params=[p for p in head.parameters() if p.ndim>1], weight_decay=wd), dict(params=[p for p in head.parameters() if p.ndim<=1], weight_decay=0.)]
    opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99), eps=1e-5)
    nb = X.shape[1]//32
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs*nb, pct_start=0.25, div_factor=25, final_div_factor=4000,
                                                base_momentum=0.85, max_momentum=0.95)
    head.train()
    for e in range(epochs):
        for b in range(nb):
            loss = F.cross_entropy(head(X[e, b*32:(b+1)*32]), Y[e, b*32:(b+1)*32], label_smoothing=ls)
            opt.zero_grad(); loss.backward(); opt.step(); sched.step()
    return head.eval()

def probabilities(head, s:dict, tta:bool):
    "Class probabilities of split `s`, with fastai's TTA (mean of the 4 views, then 0.25 of the plain ones) or without."
    with torch.no_grad():
        p = F.softmax(head(s['X']), 1)
        return torch.lerp(torch.stack([F.softmax(head(a), 1) for a in s['A']]).mean(0), p, 0.25) if tta else p

def screen(caches:dict, archs:list, tta:bool, seeds:list, **kw)->tuple:
    "(test photos correct per seed, hold-out accuracy per seed) of the mean probabilities of `archs`' heads."
    correct, hold = [], []
    for seed in seeds:
        heads = [train_head(caches[a], seed, **kw) for a in archs]
        acc = {s: (torch.stack([probabilities(h, caches[a][s], tta) for h,a in zip(heads, archs)]).mean(0).argmax(1)==caches[archs[0]][s]['Y']).float()
               for s in ('test', 'hold')}
        correct.append(int(acc['test'].sum())); hold.append(float(acc['hold'].mean()))
    return correct, hold

@call_parse
def main(archs:Param('Archs to cache (recipes of other archs are skipped)', str, nargs='+')=('mobilenet_v2', 'efficientnet_lite0'),
         views:int=8, # Augmented training passes cached per seed: the most epochs a recipe can have
         seeds:Param('Seeds', int, nargs='+')=SEEDS,
         cache:str=None, # Folder to keep the features in (reused when there); default: not kept
         out:str=str(HERE/'head_screen.md'), # The Markdown table
         data10:str=str(shared_data()/'pizza_steak_sushi.zip'), # Training and test photos
         data20:str=str(shared_data()/'pizza_steak_sushi_20_percent.zip'), # Source of the hold-out
         size:int=None): # Image side of the cached features (default: each arch's own, as `train_foodvision`); smaller only for a quick check
    a = SimpleNamespace(archs=list(archs), views=views, seeds=list(seeds), cache=cache, out=out, data10=data10, data20=data20)
    d10 = get_data(a.data10, quiet=True)
    hold, caches = holdout(d10, get_data(a.data20, quiet=True)), {}
    for arch in a.archs:
        f = Path(a.cache)/f'{arch}_{size or get_arch(arch).size}_E{a.views}.pt' if a.cache else None
        if f and f.exists(): caches[arch] = {k: {n: t.as_subclass(torch.Tensor) for n,t in v.items()} for k,v in torch.load(f, weights_only=False).items() if k!='vocab'}
        if arch not in caches or not set(a.seeds) <= set(caches[arch]):
            caches[arch] = cache_features(arch, a.views, a.seeds, d10, hold, size)
            if f: f.parent.mkdir(parents=True, exist_ok=True); torch.save(caches[arch], f)
    n_test, n_hold = len(caches[a.archs[0]]['test']['Y']), len(hold)
    lines = [f'Head-only recipes on cached frozen-body features (`bench/head_screen.py`), seeds {" ".join(map(str, a.seeds))}; '
             f'{n_test} test photos, {n_hold} hold-out photos. Ensemble: the mean of the probabilities of MobileNetV2 and EfficientNet-Lite0. '
             'Epochs 5, lr 2e-3 and fastai\'s head (2 linear layers, 512 units between them) unless the name says otherwise; "linear head": one linear layer; "hidden N": N units between the two.' + (f' Features at {size} px, not the archs\' own.' if size else ''), '',
             md_table(['recipe', f'test correct of {n_test}, per seed', 'mean ± sd', 'hold-out acc (mean ± sd)'], []).rstrip()]
    print('\n'.join(lines), flush=True)
    for name, (archs, tta, kw) in RECIPES.items():
        if not set(archs) <= set(caches) or kw.get('epochs', 5) > a.views: continue  # not cached
        c, h = screen(caches, archs, tta, a.seeds, **kw)
        lines.append(md_table([], [[name, ' '.join(map(str, c)), mean_sd(c), mean_sd(h, pct=True)]]).splitlines()[-1])
        print(lines[-1], flush=True)
    Path(a.out).write_text('\n'.join(lines)+'\n')
