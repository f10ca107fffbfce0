"Experiments (a grid of runs, their table and plot) and distributed training, on generated data: the CLI as a user runs it and a 2-process run."
import json, socket, importlib.util
import pandas as pd
import pytest
from conftest import run_cli, BIN
from fastai.callback.core import Callback
from foodvision_fastai.data import make_dataset

def test_help_lists_every_option():
    r = run_cli('foodvision_experiments', '--help')
    assert r.returncode == 0
    for opt in ('--archs', '--datas', '--epochs', '--sizes', '--out', '--bs', '--lr', '--seed', '--quiet'): assert opt in r.stdout, opt

def test_grid_on_101_classes(food101, tmp_path):
    out = tmp_path/'exp'
    args = ('--archs', 'mobilenet_v2', '--datas', food101, tmp_path/'missing', '--epochs', 1, '--sizes', 32, '--bs', 64, '--out', out, '--quiet')
    r = run_cli('foodvision_experiments', *args)
    assert r.returncode == 0, r.stderr
    assert '1 of 2 run(s) failed' in r.stdout and str(out/'results.md') in r.stdout
    df = pd.read_csv(out/'results.csv')
    test_row, bad = df.iloc[0], df.iloc[1]
    assert (test_row.run, test_row.status, test_row.classes) == ('mobilenet_v2-food101-e1-s32', 'done', 101)
    assert test_row.model_mb > 1 and test_row.latency_ms > 0 and 0 <= test_row.test_accuracy <= 1
    assert bad.status == 'failed' and 'missing' in bad.reason, 'a failed run is recorded with its reason'
    run = out/test_row.run
    assert (run/'history.csv').read_text().startswith('epoch,train_loss,valid_loss,accuracy'), 'CSVLogger'
    assert json.loads((run/'metrics.json').read_text())['experiment']['model_mb'] == round(test_row.model_mb, 2)
    assert (run/'tensorboard').exists() == (importlib.util.find_spec('tensorboard') is not None)
    assert (out/'results.png').read_bytes()[:4] == b'\x89PNG'
    assert '| mobilenet_v2 | food101 | 1 | 32 | done |' in (out/'results.md').read_text()
    r = run_cli('foodvision_experiments', *args)
    assert r.returncode == 0, r.stderr
    assert list(pd.read_csv(out/'results.csv').status) == ['reused', 'failed'], 'a finished run is not trained again'

def test_bad_grid_is_one_line_error(tmp_path):
    for args, word in ((('--archs', 'vgg99'), 'unknown arch'), (('--epochs', 0), 'epochs must be')):
        r = run_cli('foodvision_experiments', *args, '--out', tmp_path/'o')
        last = r.stderr.strip().splitlines()[-1]  # (torch may print a FutureWarning first when fastai is imported)
        assert r.returncode == 2 and last.startswith('error: ') and word in last, r.stderr

class CountEpochs(Callback):
    def __init__(self): self.n = 0
    def after_epoch(self): self.n += 1

def test_train_foodvision_cbs(tmp_path):
    from foodvision_fastai.train import train_foodvision
    cb = CountEpochs()
    res = train_foodvision(make_dataset(tmp_path/'ds', n_train=4, n_test=2), epochs=2, size=32, bs=4, out=tmp_path/'run', quiet=True, cbs=[cb])
    assert cb.n == 2, 'extra callbacks see the training epochs'
    assert cb not in res.learn.cbs, 'and are gone afterwards (the learner is exported without them)'

def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.mark.skipif(importlib.util.find_spec('accelerate') is None, reason='accelerate is not installed')
def test_two_processes_with_accelerate(tmp_path):
    "The command for several GPUs, run here on the CPU: 2 processes, gloo, fastai's DistributedTrainer."
    import subprocess
    ds, out = make_dataset(tmp_path/'ds', n_train=4, n_test=2), tmp_path/'ddp'
    cmd = [BIN/'accelerate', 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1', '--mixed_precision', 'no',
           '--dynamo_backend', 'no', '--main_process_port', _free_port(), '-m', 'foodvision_fastai.distributed',
           '--data', ds, '--epochs', 1, '--size', 32, '--bs', 2, '--out', out, '--quiet']
    r = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'rank 0 of 2: done' in r.stdout and 'rank 1 of 2: done' in r.stdout
    m = json.loads((out/'metrics.json').read_text())
    assert m['distributed'] == dict(world_size=2, backend='gloo') and len(m['history']) == 1
    assert (out/'model.safetensors').exists()
    assert not list(tmp_path.glob('foodvision-rank*')), 'rank 1 writes into a temporary folder'
