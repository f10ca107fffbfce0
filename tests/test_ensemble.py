"""An ensemble as a user meets it: `foodvision_train --arch a+b` trains the members and saves one model, which
`foodvision_predict` and the standalone ONNX program (no PyTorch) use as they use any model, with the same probabilities.
The commands run in this process through their own argument parsing and error handling (`call_command`, as the console
script does; the console scripts' own processes are tested in test_cli.py); the standalone program runs in a process
without PyTorch, which is its point. One ensemble is trained for the module; the tests that change a run work on a copy.
The in-process behaviour (the average, the members' folders, refused options) is checked in the ensemble notebook."""
from __future__ import annotations
import json, shutil, subprocess, sys, textwrap

import pytest
import torch

from foodvision_fastai.cli import foodvision_train, foodvision_predict
from foodvision_fastai.test_utils import make_dataset, call_command

ARCH = 'mobilenet_v2+efficientnet_lite0'

@pytest.fixture(scope='module')
def ensemble(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('ensemble')
    data = make_dataset(tmp/'data', n_train=4, n_test=2)
    r = call_command(foodvision_train, '--data', data, '--arch', ARCH, '--epochs', 1, '--size', 32, '--bs', 4, '--hidden', 16, '--n_preds', 4, '--quiet', '--out', tmp/'run')
    assert r.rc == 0, r.stderr[-3000:]
    return tmp, data, tmp/'run', r

def test_train_saves_one_model_and_its_members(ensemble):
    tmp, data, run, r = ensemble
    for f in ('model.safetensors', 'model.json', 'model.onnx', 'model.pkl', 'metrics.json', 'loss_curves.png', 'predictions.png', 'heatmaps.png'):
        assert (run/f).exists(), f
    for m in ARCH.split('+'): assert (run/'members'/m/'model.onnx').exists() and (run/'members'/m/'history.csv').exists(), m
    cfg = json.loads((run/'model.json').read_text())
    assert (cfg['arch'], cfg['mean'], cfg['onnx'], cfg['hidden']) == (ARCH, None, 'model.onnx', 16)  # a head of 16 units (--hidden), built so again by predict
    assert r.stdout.strip().splitlines()[-1].startswith('test accuracy ') and r.stderr.strip() == ''

def test_predict_and_standalone_program_agree(ensemble):
    "`foodvision_predict` (ONNX Runtime), PyTorch, and `predict_onnx.py` in a process without torch give the same probabilities."
    from foodvision_fastai.export import load_model, write_standalone
    from foodvision_fastai.inference import predict
    tmp, data, run, _ = ensemble
    imgs = sorted(str(p) for p in (data/'test').rglob('*.jpg'))
    r = call_command(foodvision_predict, *imgs, '--model', run, '--json')
    assert r.rc == 0, r.stderr[-2000:]
    vocab = json.loads((run/'model.json').read_text())['vocab']
    cli = torch.tensor([[p['probs'][c] for c in vocab] for p in json.loads(r.stdout)])
    torch_ = torch.tensor([[p.probs[c] for c in vocab] for p in predict(load_model(run, runtime='torch'), imgs)])
    write_standalone(tmp/'predict_onnx.py')
    code = textwrap.dedent(f'''
        import json, sys
        for m in ("foodvision_fastai", "fastai", "torch", "torchvision"): sys.modules[m] = None
        sys.path.insert(0, {str(tmp)!r})
        import predict_onnx
        cfg, session = predict_onnx.load({str(run)!r})
        print(json.dumps(predict_onnx.probabilities(session, cfg, {imgs!r}).tolist()))''')
    s = subprocess.run([sys.executable, '-I', '-c', code], capture_output=True, text=True, cwd=tmp)
    assert s.returncode == 0, s.stderr[-3000:]
    standalone = torch.tensor(json.loads(s.stdout))
    assert len(imgs) == 6 and torch.allclose(cli, torch_, atol=1e-4) and torch.allclose(standalone, torch_, atol=1e-4)

@pytest.mark.parametrize('args, says', [(('--arch', 'mobilenet_v2+vgg99'), "unknown arch 'vgg99'"),
                                        (('--arch', ARCH, '--hidden', 0), 'hidden must be a whole number of at least 1')])
def test_bad_ensemble_options_are_one_line(ensemble, args, says):
    tmp, data, *_ = ensemble
    r = call_command(foodvision_train, '--data', data, *args, '--out', tmp/'bad')
    assert r.rc == 2 and r.stderr.strip().splitlines() == [r.stderr.strip()] and says in r.stderr, r.stderr[-2000:]
    assert not (tmp/'bad').exists()

def test_overwrite_with_one_model_leaves_no_members(ensemble):
    "A single model trained with `overwrite` over an ensemble's run replaces the whole run: its members' folders go too."
    tmp, data, run, _ = ensemble
    again = tmp/'again'
    shutil.copytree(run, again, ignore=shutil.ignore_patterns('.lock'))
    (again/'notes.txt').write_text('mine')
    from foodvision_fastai.train import train_foodvision  # what the command calls; its options and report are checked above
    train_foodvision(data, arch='mobilenet_v2', epochs=1, size=32, bs=4, out=again, overwrite=True, quiet=True)
    assert not (again/'members').exists() and (again/'notes.txt').read_text() == 'mine'
    assert json.loads((again/'model.json').read_text())['arch'] == 'mobilenet_v2'

def test_resume_carries_on_each_member(ensemble, tmp_path):
    "A finished ensemble resumed for one more epoch: each member from its own checkpoint, its first epoch as it was, the ensemble saved again."
    from foodvision_fastai.core import read_metrics
    from foodvision_fastai.train import train_foodvision
    _, data, run, _ = ensemble
    out = shutil.copytree(run, tmp_path/'run', ignore=shutil.ignore_patterns('.lock'))
    first = read_metrics(out)
    more = train_foodvision(data, arch=ARCH, epochs=2, size=32, bs=4, hidden=16, out=out, resume=True, quiet=True)
    assert [(h['member'], h['epoch']) for h in more.history] == [(m, e) for m in ARCH.split('+') for e in (1, 2)]
    assert [h['epoch'] for h in more.history if h['epoch'] == 1] == [1, 1] and len(first['history']) == 2
    assert [h for h in more.history if h['epoch'] == 1] == first['history']
    assert read_metrics(out)['options']['epochs'] == 2

def test_members_at_their_own_sides(tmp_path):
    "EfficientNet-Lite0 (224 px) and -Lite1 (240 px): each trains at its own side, the ensemble takes the larger; every head has `hidden` units, built so again on loading."
    from foodvision_fastai.core import read_metrics
    from foodvision_fastai.export import load_model
    from foodvision_fastai.train import train_foodvision
    data = make_dataset(tmp_path/'data', n_train=2, n_test=1)
    res = train_foodvision(data, arch='efficientnet_lite0+efficientnet_lite1', epochs=1, bs=2, out=tmp_path/'ens2', quiet=True, hidden=8)
    assert [x['size'] for x in read_metrics(res.out)['settings']['members']] == [224, 240]
    ens = load_model(res.out, runtime='torch')
    assert (ens.size, ens.cfg['hidden']) == (240, 8)
    assert [[l.out_features for l in net[1] if isinstance(l, torch.nn.Linear)] for net in ens.model.members] == [[8, 3], [8, 3]]
