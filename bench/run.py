"""Benchmark `foodvision_fastai` against the plain-PyTorch course reference (`bench/reference.py`).

    .venv/bin/python bench/run.py [--quick | --full] [--reps N] [--reps20 N] [--scale] [--epochs E]
                                  [--configs ref,ours[,ours-ref]] [--device auto|cpu|cuda] [--out bench/results.md] [--size PX]

Three set-ups train the same network (MobileNetV2, frozen body) on the same data on the same machine:
  ref       the course's chapter-06 loop (Adam 1e-3, no augmentation, fp32)
  ours      `train_foodvision(arch='mobilenet_v2')`: its defaults for one MobileNetV2 (one-cycle at 2e-3, augmentation;
            mixed precision on CUDA); the package's default arch is an ensemble, which `bench/accuracy.py` measures
  ours-ref  `train_foodvision(arch='mobilenet_v2', lr=1e-3, augment=False)`: the reference's settings where they map
Training runs alternate (ref, ours, ours-ref, ref, ...) so that a change in machine load hits all alike, and
each is a fresh process: every run pays its own imports and start-up, and its peak memory is its own.
Prediction is timed afterwards, each set-up alone in a fresh process that loads its saved model (as a user runs
it), the order rotating from one repetition to the next: in one shared process the engines' thread pools slowed
each other (the reference's PyTorch call took 19.7 ms per image beside a 2-thread ONNX Runtime session, 15.9 ms
beside a 1-thread one).
Figures are medians over the repetitions. What runs, and how long it takes on the project's 2-core CPU, where the
reference alone needs about 12 s per epoch (300 images); measured on the final code:
  default   3 runs on the 10% set, 1 on the 20% set, predictions, ablation: 9.5 minutes
  --full    3 runs on each set, plus 1 epoch on x4 and x8 copies of the 20% set (`--scale`): 22 minutes
  --quick   a smoke test: 1 run of 1 epoch on the 10% set: about 1 minute
The report is rewritten after every run, so a benchmark cut short still leaves the rows it finished.
"""
from __future__ import annotations
import time
T_START = time.perf_counter()  # a child's import time counts from here: only the standard library comes first
import json, os, platform, resource, shutil, statistics, subprocess, sys, tempfile, warnings
from types import SimpleNamespace
from datetime import datetime
from pathlib import Path

warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')  # printed by every fastai import
HERE = Path(__file__).resolve().parent
from fastcore.script import Param, call_parse
from foodvision_fastai.test_utils import shared_data
SHARED = shared_data()  # $FOODVISION_SHARED, else ../shared/data beside the checkout
CONFIGS = os.environ.get('FOODVISION_BENCH_CONFIGS', 'ref,ours').split(',')  # set by --configs; children inherit it
OURS_KW = {'ours': dict(arch='mobilenet_v2'), 'ours-ref': dict(arch='mobilenet_v2', lr=1e-3, augment=False)}  # epochs, bs=32 and seed=42 are passed to all
DESCRIBE = {
    'ref': 'plain PyTorch, course chapter 06 (`bench/reference.py`): Dropout + Linear head, Adam lr 1e-3 (constant), '
           'no augmentation, fp32, DataLoader num_workers=os.cpu_count() as in the course',
    'ours': '`train_foodvision(arch=\'mobilenet_v2\')` defaults: fastai one-cycle, lr 2e-3, augmentation, channels-last, bfloat16 autocast of the '
            'training batches on CPUs with AVX512-BF16 (fp16 mixed precision on CUDA), num_workers 0 on <=2 cores else up to 8, '
            'JPEGs decoded at the smallest scale that keeps 224 px. Same body as ref, but fastai\'s head (concat pooling, '
            'BatchNorm, Linear 2560-512-n) and fastai\'s Adam (weight decay 0.01); the frozen body keeps its ImageNet BatchNorm '
            '(no gradients through it). Prediction: `load_model` runs the model with ONNX Runtime on the CPU',
    'ours-ref': '`train_foodvision(arch=\'mobilenet_v2\', lr=1e-3, augment=False)`: the reference settings where they map (still one-cycle, fastai head)'}
med = statistics.median


# ---------------------------------------------------------------- children: each job in its own process
def train_child(spec:dict)->dict:
    "Train one set-up; save its model in `spec['run_dir']`; the figures."
    import torch
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'  # the parent hides CUDA for --device cpu
    run_dir = Path(spec['run_dir'])
    if spec['config']=='ref':
        import reference
        t_import = time.perf_counter()
        r = reference.train(spec['data'], epochs=spec['epochs'], bs=32, lr=1e-3, seed=42, device=dev, size=spec.get('size') or 224)
        out = dict(history=[dict(accuracy=h['accuracy'], seconds=h['seconds']) for h in r['history']],
                   train_s=r['total_seconds'], n_correct=r['history'][-1]['n_correct'], n_train=r['n_train'], n_test=r['n_test'])
        run_dir.mkdir(parents=True, exist_ok=True)
        reference.save_model(r['model'], r['classes'], run_dir/'ref.pth')
    else:
        from foodvision_fastai.train import train_foodvision
        t_import = time.perf_counter()
        res = train_foodvision(spec['data'], epochs=spec['epochs'], bs=32, seed=42, out=run_dir, overwrite=True,
                               quiet=True, **OURS_KW[spec['config']], **({'size': spec['size']} if spec.get('size') else {}))
        out = dict(history=[dict(accuracy=h['accuracy'], seconds=h['seconds']) for h in res.history], train_s=res.train_seconds,
                   n_correct=res.n_correct, n_train=len(res.learn.dls.train_ds), n_test=res.n_test)
    # ru_maxrss is a high-water mark (KiB on Linux); CHILDREN covers the DataLoader workers, reaped at the end of
    # each epoch. We report the largest single process. (The parent cannot use its own RUSAGE_CHILDREN: that is a
    # maximum over all runs so far, so a small run after a big one would inherit the big one's figure.)
    ru = [resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return dict(out, import_s=t_import-T_START, call_s=time.perf_counter()-t_import, device=dev, rss_mb=max(ru)/1024,
                gpu_mb=torch.cuda.max_memory_allocated()/2**20 if dev=='cuda' else None)


def pipelines()->dict:
    "Prediction set-ups: name -> (trained config, runtime)."
    ps = {'ref': ('ref', None), **{c: (c, 'auto') for c in CONFIGS[1:]}}
    if 'ours' in CONFIGS: ps['ours-torch'] = ('ours', 'torch')  # the same model without ONNX Runtime: what the engine adds
    return ps

def predict_child(spec:dict)->dict:
    """Time image file -> probabilities with one set-up's saved model, alone in its process (as a user runs it).
    Latency: median over the test images at batch 1 (after one warm-up call); img/s: all of them in one call, best of 2."""
    import torch, reference
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    paths = sorted(p for p in Path(spec['data'], 'test').glob('*/*') if p.is_file())
    name = spec['pipeline']; config, runtime = pipelines()[name]
    if name=='ref':
        rm, _ = reference.load_model(Path(spec['models']['ref'])/'ref.pth', dev)
        tf = reference.make_transform(spec.get('size') or 224)  # as it trained; ours reads its size from the saved model
        one, many = (lambda p: reference.predict_image(rm, p, tf)), (lambda ps: reference.predict_batch(rm, ps, tf))
    else:  # the reference's process never imports fastai or this package, as the course's code would not
        from foodvision_fastai.export import load_model
        from foodvision_fastai.inference import predict
        m = load_model(spec['models'][config], device=dev, runtime=runtime)  # as a user loads it: `predict(load_model(folder), path)`
        one, many = (lambda p: predict(m, p)), (lambda ps: predict(m, ps, bs=len(ps)))
    one(paths[0])  # warm-up: the first call pays for lazy set-up (allocator, cuDNN)
    lat, batch = [], []
    for p in paths:
        t = time.perf_counter(); one(p); lat.append(time.perf_counter()-t)
    for _ in range(2):
        t = time.perf_counter(); many(paths); batch.append(time.perf_counter()-t)
    return {name: dict(latency_ms=1000*med(lat), batch_ips=len(paths)/min(batch), n_pred=len(paths))}

def predict_all(spec:dict, rep:int, device:str)->dict:
    "Each prediction set-up in its own fresh process, the order rotating with `rep`; their figures in one dict."
    names = list(pipelines()); names = names[rep%len(names):] + names[:rep%len(names)]
    res = {}
    for name in names:
        r = run_child(dict(spec, pipeline=name), device)
        res[name] = dict(r[name], load=r['load'])
    return res


def run_child(spec:dict, device:str)->dict:
    "Run `spec` in a fresh interpreter (so imports, start-up and memory are its own); its figures."
    fd, res_path = tempfile.mkstemp(suffix='.json'); os.close(fd)
    env = dict(os.environ, **({'CUDA_VISIBLE_DEVICES': ''} if device=='cpu' else {}))
    t = time.perf_counter()
    rc = subprocess.run([sys.executable, str(Path(__file__).resolve()), '--child', json.dumps(dict(spec, result=res_path))], env=env).returncode
    try:
        if rc: raise RuntimeError(f"run {spec} failed with exit code {rc} (its error is printed above)")
        # The 1-minute load average tells whether other work on the machine competed with this run.
        return dict(json.loads(Path(res_path).read_text()), process_s=time.perf_counter()-t, load=os.getloadavg()[0], **spec)
    finally: os.unlink(res_path)


# ---------------------------------------------------------------- figures
def epoch_s(r): return med(h['seconds'] for h in r['history'])

def time_to(r, target:float)->float:
    "Seconds of training until the test accuracy first reaches `target` (inf if never)."
    total = 0.
    for h in r['history']:
        total += h['seconds']
        if h['accuracy'] >= target-1e-6: return total  # fastai's accuracy is float32: 0.9 arrives as 0.89999998
    return float('inf')

def summarize(runs:list, target:float)->dict:
    "Medians over the repetitions of one (data, set-up)."
    s = dict(s_epoch=med(map(epoch_s, runs)), train_s=med(r['train_s'] for r in runs),
             e2e_s=med(r['import_s']+r['call_s'] for r in runs), ips=med((r['n_train']+r['n_test'])/epoch_s(r) for r in runs),
             acc=med(r['n_correct']/r['n_test'] for r in runs), n_correct=med(r['n_correct'] for r in runs), n_test=runs[0]['n_test'],
             t_target=med(time_to(r, target) for r in runs), rss_mb=med(r['rss_mb'] for r in runs),
             n_images=runs[0]['n_train']+runs[0]['n_test'])
    if runs[0].get('gpu_mb') is not None: s['gpu_mb'] = med(r['gpu_mb'] for r in runs)
    return s

def cell(v, ref=None, fmt='{:.1f}'):
    "`v`, with the ratio ours/reference after it when a reference value is given."
    if v is None: return ''
    if v==float('inf'): return 'never'
    txt = fmt.format(v)
    return txt if ref in (None, 0, float('inf')) else f'{txt} ({v/ref:.2f}×)'


# ---------------------------------------------------------------- report
def machine_info(device:str)->list:
    import torch, torchvision, fastai
    cpu = platform.processor()
    if Path('/proc/cpuinfo').exists(): cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), cpu)
    dev = torch.cuda.get_device_name(0) if device!='cpu' and torch.cuda.is_available() else 'cpu'
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    return [f'machine: {platform.platform()}; {cpu}; {os.cpu_count()} CPUs ({cores} usable); load average at start {os.getloadavg()[0]:.2f}',
            f'python {platform.python_version()}, torch {torch.__version__}, torchvision {torchvision.__version__}, fastai {fastai.__version__}',
            f'device: {dev}']

def report(args, info, runs, preds, datasets, scale_rows, ablation=())->str:
    L = ['# FoodVision benchmark: `foodvision_fastai` vs the plain-PyTorch course reference', '',
         f'{datetime.now():%Y-%m-%d %H:%M}, `bench/run.py {" ".join(sys.argv[1:])}`', '']
    L += [f'- {l}' for l in info] + [f'- `{c}`: {DESCRIBE[c]}' for c in CONFIGS]
    L += [f'- MobileNetV2 (ImageNet weights, frozen `features`), {args.size or 224} px, batch 32, seed 42, {args.epochs} epoch(s); '
          f'median of {args.reps} run(s) on the 10% set' + (f' and {args.reps20} on the 20% set' if args.reps20 else '') +
          '; every run in a fresh process; training runs alternate ref, ours(, ours-ref).',
          '- In brackets: ours / ref on the same data (times and memory: below 1 = ours is faster or smaller; img/s: above 1 = ours is faster).',
          '- s/epoch: median epoch (training + test pass); train s: all epochs; end-to-end s: imports + the whole training call '
          '(data checks, model set-up, final evaluation, saving); img/s: (train + test images) / s per epoch; test acc: per image, '
          f'last epoch; to {args.target:.0%}: training seconds until the test accuracy first reaches {args.target:.0%}; '
          'peak RSS: the largest process (main or DataLoader worker) during training.']
    if runs: L += [f"- 1-minute load average after each run: {min(r['load'] for r in runs):.1f} to {max(r['load'] for r in runs):.1f} "
                   '(where it exceeds the CPU count, other work competed with the runs and their timings are noisy).']
    sums = {k: summarize([r for r in runs if (r['label'], r['config'])==k], args.target)
            for k in dict.fromkeys((r['label'], r['config']) for r in runs)}
    gpu = any('gpu_mb' in s for s in sums.values())
    L += ['', '## Training', '', f'| data | run | s/epoch | train s | end-to-end s | img/s | test acc | to {args.target:.0%} s | peak RSS MB |'
          + (' peak GPU MB |' if gpu else ''), '|' + ' --- |'*(9+gpu)]
    for d in datasets:
        ref = sums.get((d, 'ref')) or {}
        for c in CONFIGS:
            if not (s := sums.get((d, c))): continue
            r = ref if c!='ref' else {}
            acc = f"{s['acc']:.1%} ({s['n_correct']:g}/{s['n_test']})" + (f" ({(s['acc']-r['acc'])*100:+.1f} pp)" if r else '')
            L.append(f"| {d} ({s['n_images']} img) | {c} | {cell(s['s_epoch'], r.get('s_epoch'), '{:.2f}')} | {cell(s['train_s'], r.get('train_s'))} | "
                     f"{cell(s['e2e_s'], r.get('e2e_s'))} | {cell(s['ips'], r.get('ips'))} | {acc} | {cell(s['t_target'], r.get('t_target'))} | "
                     f"{cell(s['rss_mb'], r.get('rss_mb'), '{:.0f}')} |" + (f" {cell(s.get('gpu_mb'), r.get('gpu_mb'), '{:.0f}')} |" if gpu else ''))
    if preds:
        names = [c for c in pipelines() if c in preds[0]]
        p = {c: {k: med(x[c][k] for x in preds) for k in ('latency_ms', 'batch_ips')} for c in names}
        L += ['', f"## Prediction ({preds[0]['ref']['n_pred']} test images of the 10% set; the model each run saved)", '',
              'One image file -> class probabilities. ref: PIL open, the course transform, model, softmax. '
              'ours: `predict(load_model(run_folder), path)`, which also checks each file and applies the fastai pipeline '
              '(ONNX Runtime on the CPU); ours-torch: the same model with `load_model(..., runtime=\'torch\')`. '
              'Each runs alone in a fresh process, in turns. Latency: median at batch 1 after one warm-up; '
              'img/s: all the images in one call, best of 2.', '',
              '| run | latency ms/image | img/s, one batch |', '| --- | --- | --- |']
        for c in p:
            r = p['ref'] if c!='ref' else {}
            L.append(f"| {c} | {cell(p[c]['latency_ms'], r.get('latency_ms'))} | {cell(p[c]['batch_ips'], r.get('batch_ips'))} |")
    if scale_rows:
        L += ['', f'## Scaling (s/epoch; plain sets: the medians above; ×4 and ×8: every file copied under new names, '
                  f'{args.scale_epochs} epoch(s), 1 run)', '',
              '| data | images/epoch | ' + ' | '.join(f'{c} s/epoch' for c in CONFIGS) + ' |', '|' + ' --- |'*(2+len(CONFIGS))]
        for d in scale_rows:
            row = [sums.get((d, c)) for c in CONFIGS]
            if not row[0]: continue
            L.append(f"| {d} | {row[0]['n_images']} | " + ' | '.join(
                cell(s['s_epoch'], row[0]['s_epoch'] if c!='ref' else None, '{:.2f}') if s else '' for c, s in zip(CONFIGS, row)) + ' |')
    if ablation:
        L += ['', '## What each change is worth (`bench/ablation.py`, one process, after the first 10% runs)', '', ablation[0].rstrip()]
    return '\n'.join(L) + '\n'


# ---------------------------------------------------------------- main
def copies(src:Path, dest:Path, k:int)->Path:
    "A data set with `k` renamed copies of every train and test image of `src` (hard links where possible)."
    for f in sorted(src.glob('*/*/*')):
        if not f.is_file(): continue
        d = dest/f.relative_to(src).parent; d.mkdir(parents=True, exist_ok=True)
        for i in range(k):
            t = d/f'{f.stem}_copy{i}{f.suffix}'
            try: os.link(f, t)
            except OSError: shutil.copyfile(f, t)
    return dest

@call_parse
def main(quick:bool=False, # Smoke test: 1 rep, 1 epoch, 10% data only, no scaling
         full:bool=False, # The whole protocol: `reps` runs on both sets, and `scale`
         reps:int=3, # Repetitions on the 10% set (figures are medians)
         reps20:int=1, # Repetitions on the 20% set (`full`: as `reps`)
         scale:bool=False, # Also 1 epoch on x4 and x8 copies of the 20% set
         epochs:int=5, # Epochs of each run
         device:Param('cpu hides CUDA from the runs', str, choices=['auto', 'cpu', 'cuda'])='auto',
         out:str=str(HERE/'results.md'), # Markdown report; the raw figures go beside it as .json
         data10:str=os.environ.get('FOODVISION_DATA') or str(SHARED/'pizza_steak_sushi.zip'), # The 10% data
         data20:str=os.environ.get('FOODVISION_DATA20') or str(SHARED/'pizza_steak_sushi_20_percent.zip'), # The 20% data
         scale_epochs:int=1, # Epochs of the scaling runs
         target:float=0.9, # Test accuracy for the time-to-accuracy column
         configs:str=','.join(CONFIGS), # Set-ups to run, of ref, ours, ours-ref (default: ref,ours, which fits in 10 minutes)
         size:int=None, # Image side of every set-up (default 224, MobileNetV2's own and the course's); smaller only for a quick check
         child:str=None): # (internal) the JSON spec of one child run
    args = SimpleNamespace(**{k: v for k, v in locals().items()})
    if not args.child:
        bad = set(args.configs.split(',')) - set(DESCRIBE)
        if bad or not args.configs.startswith('ref'): sys.exit(f"error: --configs must start with ref and name only {', '.join(DESCRIBE)}")
        os.environ['FOODVISION_BENCH_CONFIGS'] = args.configs; CONFIGS[:] = args.configs.split(',')
    if args.child:
        spec = json.loads(args.child)
        res = predict_child(spec) if spec['config']=='predict' else train_child(spec)
        return Path(spec['result']).write_text(json.dumps(res))
    if args.quick: args.reps, args.reps20, args.epochs, args.scale = 1, 0, 1, False
    if args.full: args.reps20, args.scale = args.reps, True
    import torch
    if args.device=='cuda' and not torch.cuda.is_available(): sys.exit('error: --device cuda, but torch sees no CUDA device')
    from foodvision_fastai.data import get_data

    data = {'10%': get_data(args.data10, quiet=True)}
    if args.reps20 or args.scale:
        if Path(args.data20).exists(): data['20%'] = get_data(args.data20, quiet=True)
        else: print(f'note: no 20% data at {args.data20}; skipping it')
    info, out, work = machine_info(args.device), Path(args.out), Path(tempfile.mkdtemp(prefix='foodvision-bench-'))
    runs, preds, scale_rows, ablation = [], [], [], []
    reps = {label: args.reps if label=='10%' else args.reps20 for label in data}
    n = sum(reps.values())*len(CONFIGS) + args.reps + (2*len(CONFIGS) if args.scale else 0)
    step = iter(range(1, n+1))
    def save():
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report(args, info, runs, preds, list(data), scale_rows, ablation))
        out.with_suffix('.json').write_text(json.dumps(dict(info=info, args=vars(args), runs=runs, predictions=preds, ablation=ablation), indent=1))
    def train_all(label, path, epochs):
        for c in CONFIGS:
            print(f'[{next(step)}/{n}] {label} {c}: {epochs} epoch(s) ...', flush=True)
            r = run_child(dict(config=c, label=label, data=str(path), epochs=epochs, run_dir=str(work/c), size=args.size), args.device)
            runs.append(r); save()
            print(f'      {epoch_s(r):.2f} s/epoch, train {r["train_s"]:.1f} s, acc {r["n_correct"]}/{r["n_test"]}, '
                  f'peak RSS {r["rss_mb"]:.0f} MB, process {r["process_s"]:.0f} s, load {r["load"]:.1f}', flush=True)
    try:
        print('\n'.join(info), flush=True)
        for rep in range(max(reps.values())):
            for label, path in data.items():
                if rep >= reps[label]: continue
                train_all(label, path, args.epochs)
                if label=='10%':  # time predictions with the three models just trained on the 10% set
                    print(f'[{next(step)}/{n}] 10% predictions ...', flush=True)
                    pr = predict_all(dict(config='predict', data=str(path), models={c: str(work/c) for c in CONFIGS}, size=args.size), rep, args.device)
                    preds.append(pr); save()
                    print('      ' + ', '.join(f"{c} {v['latency_ms']:.1f} ms/image {v['batch_ips']:.1f} img/s" for c, v in pr.items() if isinstance(v, dict) and 'latency_ms' in v), flush=True)
                    if rep==0 and not args.quick and 'ours' in CONFIGS:  # what each change is worth, with the model just saved
                        print('[ablation] one change at a time ...', flush=True)
                        abl = work/'ablation.md'
                        subprocess.run([sys.executable, str(HERE/'ablation.py'), '--data', str(path), '--model', str(work/'ours'), '--out', str(abl)],
                                       env=dict(os.environ, **({'CUDA_VISIBLE_DEVICES': ''} if args.device=='cpu' else {})), check=True, stdout=subprocess.DEVNULL)
                        ablation.append(abl.read_text()); save()
        if args.scale:  # scaling: the largest set we have, x4 and x8
            base = '20%' if '20%' in data else '10%'
            scale_rows += [d for d in data if reps[d]]
            for k in (4, 8):
                label = f'{base} ×{k}'; scale_rows.append(label)
                train_all(label, copies(data[base], work/f'x{k}', k), args.scale_epochs)
                shutil.rmtree(work/f'x{k}', ignore_errors=True)
        save()
        print('\n' + out.read_text())
    finally: shutil.rmtree(work, ignore_errors=True)
