"""The experiments grid through its command (its table, plot and logs; a failed run recorded; the exit status): trained in
this process through the command's own parsing and error handling (`call_command`), then the same grid again from the
shell, the console script in its own process, which reuses the finished runs. And training in 2 processes with
Accelerate on the CPU (gloo), stopped part way and resumed in 2 processes."""
import importlib.util, json, os, sys
from pathlib import Path
import pandas as pd
import pytest
import torch
from foodvision_fastai.cli import foodvision_experiments
from foodvision_fastai.test_utils import make_dataset, run_cli, call_command, free_port

def test_grid_from_the_shell(tmp_path):
    "The table, the plot and the logs of a grid over two seeds with good and failed runs; exit status 1 since runs failed; the same grid from the shell reuses the finished runs."
    data, out = make_dataset(tmp_path/'tiny', n_train=2, n_test=1, size=16), tmp_path/'exp'
    args = ('--archs', 'mobilenet_v2', '--datas', data, tmp_path/'missing', '--epochs', 1, '--sizes', 32, '--seeds', 1, 2, '--bs', 4, '--out', out, '--quiet')
    r = call_command(foodvision_experiments, *args)
    assert r.rc == 1 and r.stderr.strip() == '2 of 4 run(s) failed; see the reason column', r.stderr
    assert str(out/'results.md') in r.stdout
    df = pd.read_csv(out/'results.csv')
    ok, bad = df.iloc[0], df.iloc[2]
    assert (ok.run, ok.status, ok.classes, ok.bs, ok.seed) == ('mobilenet_v2-tiny-e1-s32-seed1', 'done', 3, 4, 1)
    assert list(df.seed) == [1, 2, 1, 2] and df.status.tolist() == ['done', 'done', 'failed', 'failed']
    cell = [c.strip() for c in (out/'results.md').read_text().splitlines()[2].strip('|').split('|')]
    assert cell[:6] == ['mobilenet_v2', 'tiny', '1', '32', '0.002', '4'] and cell[6] in ('fp32', 'bf16') and cell[7] == '2', 'first, each cell over its seeds'
    assert bad.status == 'failed' and 'missing' in bad.reason, 'a failed run is recorded with its reason'
    assert (out/ok.run/'history.csv').read_text().startswith('epoch,train_loss,valid_loss,accuracy'), 'the epoch log'
    assert not (out/ok.run/'tensorboard').exists(), 'TensorBoard logs only with --tensorboard'
    assert (out/'results.png').read_bytes()[:4] == b'\x89PNG'
    r = run_cli('foodvision_experiments', *args, timeout=600)
    assert r.returncode == 1 and r.stderr.strip() == '2 of 4 run(s) failed; see the reason column', r.stderr
    assert str(out/'results.md') in r.stdout
    assert pd.read_csv(out/'results.csv').status.tolist() == ['reused', 'reused', 'failed', 'failed'], 'the same grid again: the finished runs are reused, the failed ones retried'

def launch(*args, epochs, out, data, resume=False):
    "`foodvision_train_distributed` in 2 CPU processes under `accelerate launch`, as the README says to start it on GPUs."
    cmd = ['accelerate', 'launch', '--multi_gpu', '--num_processes', 2, '--num_machines', 1, '--mixed_precision', 'no',
           '--dynamo_backend', 'no', '--main_process_port', free_port(), '--no_python', 'foodvision_train_distributed',
           '--data', data, '--epochs', epochs, '--size', 32, '--bs', 2, '--out', out, '--quiet', *(['--resume'] if resume else [])]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # as in an activated venv
    return run_cli(*cmd, timeout=600, env=env)

@pytest.mark.skipif(importlib.util.find_spec('accelerate') is None, reason='accelerate is not installed')
def test_two_processes_with_accelerate_and_resume(tmp_path):
    "2 processes, gloo, fastai's DistributedTrainer; then the run resumed for one more epoch, again in 2 processes."
    ds, out = make_dataset(tmp_path/'ds', n_train=4, n_test=2), tmp_path/'ddp'
    r = launch(epochs=1, out=out, data=ds)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'rank 0 of 2: done' in r.stdout and 'rank 1 of 2: done' in r.stdout
    m = json.loads((out/'metrics.json').read_text())
    assert m['distributed'] == dict(world_size=2, backend='gloo') and len(m['history']) == 1
    assert not list(tmp_path.glob('foodvision-rank*')), 'rank 1 writes into a temporary folder'
    ck = torch.load(out/'checkpoint.pth', weights_only=True)
    assert not any(k.startswith('module.') for k in ck['model']), 'the checkpoint holds the unwrapped model'
    r = launch(epochs=2, out=out, data=ds, resume=True)
    assert r.returncode == 0, r.stderr[-3000:]
    m2 = json.loads((out/'metrics.json').read_text())
    assert [h['epoch'] for h in m2['history']] == [1, 2] and m2['history'][0] == m['history'][0]
