"The command line as a user runs it: help, a short training, prediction, and one-line errors with exit code 2."
import json
from PIL import Image
from conftest import run_cli
from foodvision_fastai.data import make_dataset

def test_help_lists_every_option():
    r = run_cli('foodvision_train', '--help')
    assert r.returncode == 0
    for opt in ('--data', '--arch', '--epochs', '--lr', '--size', '--bs', '--seed', '--fine_tune', '--freeze_epochs', '--no-augment',
                '--out', '--overwrite', '--resume', '--on_bad', '--weights_path', '--num_workers', '--quiet'):
        assert opt in r.stdout, opt
    assert 'learning rate' in r.stdout
    r = run_cli('foodvision_predict', '--help')
    assert r.returncode == 0 and '--model' in r.stdout and '--json' in r.stdout

def test_train_then_predict(tmp_path):
    ds = make_dataset(tmp_path/'ds', n_train=6, n_test=3)
    out = tmp_path/'run'
    r = run_cli('foodvision_train', '--data', ds, '--epochs', 1, '--size', 32, '--bs', 6, '--n_preds', 4, '--out', out, '--quiet')
    assert r.returncode == 0, r.stderr
    assert 'test accuracy:' in r.stdout and str(out/'metrics.json') in r.stdout
    for f in ('model.safetensors', 'model.json', 'model.pkl', 'metrics.json', 'checkpoint.pth',
              'loss_curves.png', 'predictions.png', 'confusion_matrix.png', 'top_losses.png'):
        assert (out/f).exists(), f
    imgs = sorted((ds/'test').rglob('*.jpg'))
    r = run_cli('foodvision_predict', *imgs, '--model', out, '--json')
    assert r.returncode == 0, r.stderr
    assert [p['image'] for p in json.loads(r.stdout)] == list(map(str, imgs))
    r = run_cli('foodvision_train', '--data', ds, '--epochs', 1, '--size', 32, '--out', out, '--quiet')
    assert r.returncode == 2 and 'already holds files' in r.stderr, 'a previous run is never overwritten silently'

def _one_line_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), r.stderr
    for w in words: assert w in lines[0], (w, lines[0])

def test_predict_errors(tmp_path):
    img = tmp_path/'a.jpg'; Image.new('RGB', (8, 8)).save(img)
    _one_line_error(run_cli('foodvision_predict', img, '--model', tmp_path/'nomodel'), 'does not exist', 'nomodel')
    _one_line_error(run_cli('foodvision_predict', img), 'no model given')
    (tmp_path/'m').mkdir()
    _one_line_error(run_cli('foodvision_predict', img, '--model', tmp_path/'m'), 'model.safetensors')

def test_train_errors(tmp_path):
    _one_line_error(run_cli('foodvision_train', '--data', tmp_path/'missing', '--out', tmp_path/'o'), 'missing')
    _one_line_error(run_cli('foodvision_train', '--arch', 'vgg99', '--out', tmp_path/'o'), 'unknown arch', 'mobilenet_v2')
    _one_line_error(run_cli('foodvision_train', '--epochs', 0, '--out', tmp_path/'o'), 'epochs')
