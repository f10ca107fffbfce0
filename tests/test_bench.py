"""`bench/run.py --quick` end to end on a small generated data set: it trains both set-ups, times the three prediction set-ups
(each in its own process) and writes the Markdown report and its JSON. Only that it runs and reports: speed is what the
benchmark itself measures, not a test."""
import json, subprocess, sys
from pathlib import Path
from foodvision_fastai.test_utils import make_dataset

REPO = Path(__file__).resolve().parents[1]

def test_core_figures_and_tables():
    "`bench/core.py`: mean ± sd as every report writes it, a Markdown table, a whole command timed."
    sys.path.insert(0, str(REPO/'bench'))
    try: from core import mean_sd, md_table, time_command
    finally: sys.path.remove(str(REPO/'bench'))
    assert mean_sd([1, 2, None]) == '1.5 ± 0.7' and mean_sd([0.9, 0.8], pct=True) == '85.0% ± 7.1' and mean_sd([3]) == '3.0' and mean_sd([]) == ''
    assert md_table(['a', 'b'], [[1, 'x|y'], [None, 2]]) == '| a | b |\n|---|---|\n| 1 | x\\|y |\n|  | 2 |\n'
    r = time_command([sys.executable, '-c', 'import sys, time; time.sleep(0.3); print("hi"); sys.exit(3)'])
    assert r['rc'] == 3 and r['stdout'] == 'hi\n' and r['seconds'] >= 0.3

def test_bench_quick_writes_the_report(tmp_path):
    ds = make_dataset(tmp_path/'ds', n_train=4, n_test=2, size=64)
    out = tmp_path/'results.md'
    r = subprocess.run([sys.executable, str(REPO/'bench'/'run.py'), '--quick', '--data10', str(ds), '--out', str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    md, res = out.read_text(), json.loads(out.with_suffix('.json').read_text())
    assert '## Training' in md and '## Prediction' in md
    assert {run['config'] for run in res['runs']} == {'ref', 'ours'}
    for run in res['runs']: assert run['n_test'] == 6 and len(run['history']) == 1
    (pred,) = res['predictions']
    assert set(k for k, v in pred.items() if isinstance(v, dict) and 'latency_ms' in v) == {'ref', 'ours', 'ours-torch'}
    for name in ('ref', 'ours', 'ours-torch'):
        assert pred[name]['n_pred'] == 6 and pred[name]['latency_ms'] > 0
        assert f'| {name} |' in md
    assert '| ours | ' in md and '×)' in md  # ours is reported as a ratio to the reference

def test_head_screen_writes_its_table(tmp_path):
    "`bench/head_screen.py` caches one arch's features on tiny data and screens the recipes it can (5 epochs need 5 views)."
    d10, d20 = make_dataset(tmp_path/'d10', n_train=11, n_test=2, size=64), make_dataset(tmp_path/'d20', n_train=3, n_test=1, size=64, seed=1)
    out = tmp_path/'screen.md'
    r = subprocess.run([sys.executable, str(REPO/'bench'/'head_screen.py'), '--archs', 'mobilenet_v2', '--views', '5', '--seeds', '1', '2',
                        '--data10', str(d10), '--data20', str(d20), '--cache', str(tmp_path/'cache'), '--out', str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    md = out.read_text()
    rows = [line for line in md.splitlines() if line.startswith('| mobilenet_v2')]
    assert '| mobilenet_v2 | ' in md and '8ep' not in md and '| ensemble' not in md, 'only the recipes that the cache allows'
    assert len(rows) == 9 and all(len(row.split('|')[2].split()) == 2 for row in rows)  # one figure per seed
    assert (tmp_path/'cache'/'mobilenet_v2_224_E5.pt').exists()

def test_accuracy_runs_its_seeds_through_run_experiments(tmp_path):
    "`bench/accuracy.py` trains each seed with `run_experiments` and writes a row per seed and TTA, test and hold-out judged apart."
    d10 = make_dataset(tmp_path/'d10', n_train=4, n_test=2, size=64)
    hold = make_dataset(tmp_path/'hold', n_train=3, n_test=0, size=64, seed=1)/'train'
    out = tmp_path/'acc.csv'
    out.write_text('candidate,seed,tta,test_correct,test_n,holdout_acc,train_seconds,precision\nold,1,False,70,75,0.9,20.0,bf16\n')
    r = subprocess.run([sys.executable, str(REPO/'bench'/'accuracy.py'), '--candidates', 'mobilenet_v2 3ep', '--seeds', '1', '2',
                        '--data10', str(d10), '--holdout_dir', str(hold), '--out', str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    import pandas as pd
    df = pd.read_csv(out)
    assert df.candidate.tolist()[0] == 'old', 'the rows of other candidates stay'
    new = df[df.candidate == 'mobilenet_v2 3ep']
    assert sorted(zip(new.seed, new.tta)) == [(1, False), (1, True), (2, False), (2, True)]
    assert (new.test_n == 6).all() and new.test_correct.between(0, 6).all() and new.holdout_acc.between(0, 1).all()
    assert '| mobilenet_v2 3ep | no |' in r.stdout

def test_own_data_report_from_its_runs(tmp_path):
    "`bench/own_data.py --report_only` writes the tables from the runs in its .json (mean ± sd per layout and tool) and keeps the notes by hand."
    runs = [dict(layout='folder', tool=t, seed=s, accuracy=a, seconds=x, load=1.0)
            for t, s, a, x in (('ours', 1, 0.9, 100), ('ours', 2, 0.8, 120), ('fastai', 1, 0.95, 300))]
    out = tmp_path/'own.md'
    out.with_suffix('.json').write_text(json.dumps(dict(sessions=['`python bench/own_data.py`: today'], runs=runs, skipped={'csv': 'refused: no CSV'})))
    out.write_text('# old\n\nold figures\n\n## Notes\n\nby hand\n')
    r = subprocess.run([sys.executable, str(REPO/'bench'/'own_data.py'), '--report_only', '--out', str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    md = out.read_text()
    assert '| folder | ours | 2 | 85.0% ± 7.1 | 110 ± 14 |' in md and '| folder | fastai | 1 | 95.0% | 300 |' in md
    assert '**csv: not measured.** refused: no CSV' in md and md.endswith('## Notes\n\nby hand\n') and 'old figures' not in md
