"""The benchmark scripts of `bench/`, each on tiny generated data and, where the script has one, at a small `--size`: only
that they run and report what they should; speed is what the benchmarks themselves measure, not a test.

Each script's `main` runs in this process through fastcore's `_run_cli` (`call_command`: the same argument parsing, exit
code and output as `python bench/X.py`, without paying torch's and fastai's imports again per script), with `bench/` on the
path as `python bench/X.py` puts it there. The processes are the ones the benchmarks make themselves: `bench/run.py
--quick` trains both set-ups and times the three prediction set-ups each in its own fresh process, as it always does."""
import importlib.util, json, sys
from pathlib import Path
import pytest
from foodvision_fastai.test_utils import call_command, make_dataset

REPO = Path(__file__).resolve().parents[1]

@pytest.fixture
def bench(monkeypatch):
    "`bench('X')`: the script `bench/X.py` as a module (`bench/` on the path, as when run as a script), its `main` not yet run."
    monkeypatch.syspath_prepend(str(REPO/'bench'))
    def load(name):
        spec = importlib.util.spec_from_file_location(f'bench_{name}', REPO/'bench'/f'{name}.py')
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    return load

def test_core_figures_and_tables():
    "`bench/core.py`: mean ± sd as every report writes it, a Markdown table, a whole command timed."
    sys.path.insert(0, str(REPO/'bench'))
    try: from core import mean_sd, md_table, time_command
    finally: sys.path.remove(str(REPO/'bench'))
    assert mean_sd([1, 2, None]) == '1.5 ± 0.7' and mean_sd([0.9, 0.8], pct=True) == '85.0% ± 7.1' and mean_sd([3]) == '3.0' and mean_sd([]) == ''
    assert md_table(['a', 'b'], [[1, 'x|y'], [None, 2]]) == '| a | b |\n|---|---|\n| 1 | x\\|y |\n|  | 2 |\n'
    r = time_command([sys.executable, '-c', 'import sys, time; time.sleep(0.3); print("hi"); sys.exit(3)'])
    assert r['rc'] == 3 and r['stdout'] == 'hi\n' and r['seconds'] >= 0.3

def test_bench_quick_writes_the_report(tmp_path, bench, monkeypatch):
    "`bench/run.py --quick` end to end: both set-ups trained and three prediction set-ups timed, each in its own process; the Markdown report and its JSON."
    ds = make_dataset(tmp_path/'ds', n_train=4, n_test=1, size=64)  # each prediction set-up times 3 test images
    out = tmp_path/'results.md'
    monkeypatch.setenv('FOODVISION_BENCH_CONFIGS', 'ref,ours')  # `main` sets it for its children: put back afterwards
    r = call_command(bench('run').main, '--quick', '--size', 32, '--data10', ds, '--out', out)
    assert r.rc == 0, r.stderr[-3000:]
    md, res = out.read_text(), json.loads(out.with_suffix('.json').read_text())
    assert '## Training' in md and '## Prediction' in md
    assert {run['config'] for run in res['runs']} == {'ref', 'ours'}
    for run in res['runs']: assert run['n_test'] == 3 and len(run['history']) == 1 and run['size'] == 32
    assert 'frozen `features`), 32 px, batch 32' in md
    (pred,) = res['predictions']
    assert set(k for k, v in pred.items() if isinstance(v, dict) and 'latency_ms' in v) == {'ref', 'ours', 'ours-torch'}
    for name in ('ref', 'ours', 'ours-torch'):
        assert pred[name]['n_pred'] == 3 and pred[name]['latency_ms'] > 0
        assert f'| {name} |' in md
    assert '| ours | ' in md and '×)' in md  # ours is reported as a ratio to the reference

def test_head_screen_writes_its_table(tmp_path, bench):
    "`bench/head_screen.py` caches one arch's features (at 32 px) on tiny data and screens the recipes it can (5 epochs need 5 views)."
    d10, d20 = make_dataset(tmp_path/'d10', n_train=11, n_test=2, size=64), make_dataset(tmp_path/'d20', n_train=3, n_test=1, size=64, seed=1)
    out = tmp_path/'screen.md'
    r = call_command(bench('head_screen').main, '--archs', 'mobilenet_v2', '--views', '5', '--seeds', '1', '2', '--size', 32,
                     '--data10', d10, '--data20', d20, '--cache', tmp_path/'cache', '--out', out)
    assert r.rc == 0, r.stderr[-3000:]
    md = out.read_text()
    rows = [line for line in md.splitlines() if line.startswith('| mobilenet_v2')]
    assert '| mobilenet_v2 | ' in md and '8ep' not in md and '| ensemble' not in md, 'only the recipes that the cache allows'
    assert len(rows) == 9 and all(len(row.split('|')[2].split()) == 2 for row in rows)  # one figure per seed
    assert 'Features at 32 px' in md and (tmp_path/'cache'/'mobilenet_v2_32_E5.pt').exists()

def test_accuracy_runs_its_seeds_through_run_experiments(tmp_path, bench):
    "`bench/accuracy.py` trains each seed with `run_experiments` and writes a row per seed and TTA, test and hold-out judged apart; at 32 px, as a candidate of its own."
    d10 = make_dataset(tmp_path/'d10', n_train=4, n_test=2, size=64)
    hold = make_dataset(tmp_path/'hold', n_train=3, n_test=0, size=64, seed=1)/'train'
    out = tmp_path/'acc.csv'
    out.write_text('candidate,seed,tta,test_correct,test_n,holdout_acc,train_seconds,precision\nold,1,False,70,75,0.9,20.0,bf16\n'
                   'mobilenet_v2 3ep,1,False,70,75,0.9,20.0,bf16\nmobilenet_v2 3ep,1,False,70,75,0.9,20.0,fp32\n')
    r = call_command(bench('accuracy').main, '--candidates', 'mobilenet_v2 3ep', '--seeds', '1', '2', '--size', 32,
                     '--data10', d10, '--holdout_dir', hold, '--out', out)
    assert r.rc == 0, r.stderr[-3000:]
    import pandas as pd
    df = pd.read_csv(out)
    assert df.candidate.tolist()[0] == 'old', 'the rows of other candidates stay'
    real = df[df.candidate == 'mobilenet_v2 3ep']
    assert sorted(real.precision) == ['bf16', 'fp32'] and (real.test_n == 75).all(), 'a run at another size never replaces the real figures'
    new = df[df.candidate == 'mobilenet_v2 3ep at 32px']
    assert sorted(zip(new.seed, new.tta)) == [(1, False), (1, True), (2, False), (2, True)]
    assert (new.test_n == 6).all() and new.test_correct.between(0, 6).all() and new.holdout_acc.between(0, 1).all()
    assert '| mobilenet_v2 3ep at 32px | no |' in r.stdout

def test_own_data_report_from_its_runs(tmp_path, bench):
    "`bench/own_data.py --report_only` writes the tables from the runs in its .json (mean ± sd per layout and tool) and keeps the notes by hand."
    runs = [dict(layout='folder', tool=t, seed=s, accuracy=a, seconds=x, load=1.0)
            for t, s, a, x in (('ours', 1, 0.9, 100), ('ours', 2, 0.8, 120), ('fastai', 1, 0.95, 300))]
    out = tmp_path/'own.md'
    out.with_suffix('.json').write_text(json.dumps(dict(sessions=['`python bench/own_data.py`: today'], runs=runs, skipped={'csv': 'refused: no CSV'})))
    out.write_text('# old\n\nold figures\n\n## Notes\n\nby hand\n')
    r = call_command(bench('own_data').main, '--report_only', '--out', out)
    assert r.rc == 0, r.stderr[-3000:]
    md = out.read_text()
    assert '| folder | ours | 2 | 85.0% ± 7.1 | 110 ± 14 |' in md and '| folder | fastai | 1 | 95.0% | 300 |' in md
    assert '**csv: not measured.** refused: no CSV' in md and md.endswith('## Notes\n\nby hand\n') and 'old figures' not in md
