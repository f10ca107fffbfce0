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
