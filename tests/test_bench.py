"""`bench/run.py --quick` end to end on a small generated data set: it trains both set-ups, times the three prediction set-ups
(each in its own process) and writes the Markdown report and its JSON. Only that it runs and reports: speed is what the
benchmark itself measures, not a test."""
import json, subprocess, sys
from pathlib import Path
from foodvision_fastai.test_utils import make_dataset

REPO = Path(__file__).resolve().parents[1]

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
