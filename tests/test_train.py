"""`train_foodvision`'s promises that need a training (moved from nbs/08b_train so that the chapter trains once): a few
small runs on generated data, each checked for many things. Messy folders, layouts and validation, the best epoch and
early stopping, test-time augmentation, class weights, divergence, overwrite and the umask, repeatability."""
import contextlib, io, os
from pathlib import Path
import pytest
import torch
from PIL import Image
from foodvision_fastai.core import FoodVisionError, read_metrics, add_metrics
from foodvision_fastai.evaluate import evaluate
from foodvision_fastai.fit import summary
from foodvision_fastai.train import train_foodvision
from foodvision_fastai.test_utils import make_dataset, tree_state

SMALL = dict(size=32, bs=8, quiet=True)
RUN_FILES = ['checkpoint.pth', 'history.csv', 'metrics.json', 'model.json', 'model.onnx', 'model.pkl', 'model.safetensors']

@pytest.fixture(scope='module')
def ds(tmp_path_factory): return make_dataset(tmp_path_factory.mktemp('train')/'ds', n_train=8, n_test=4)

def test_overwrite_umask_repeatable_and_balanced_weights(ds, tmp_path):
    "One run, then the same run again over it with `overwrite` under umask 027: the same losses (seeded, CPU), modes 0o640, the old run's leftovers gone; a balanced data set weights every class 1."
    a = train_foodvision(ds, epochs=2, balance='loss', out=tmp_path/'run', **SMALL)
    assert [h['epoch'] for h in a.history] == [1, 2]
    assert torch.equal(a.learn.loss_func.func.weight.cpu(), torch.ones(3))
    (a.out/'.model.pkl.x1y2.partial').write_bytes(b'half a model')
    add_metrics(a.out, experiment=dict(latency_ms=1.0))  # a section of the run about to be replaced
    old = os.umask(0o027)
    try: b = train_foodvision(ds, epochs=2, balance='loss', out=a.out, overwrite=True, **SMALL)
    finally: os.umask(old)
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in b.out.iterdir() if not p.name.startswith('.')} == {n: '0o640' for n in RUN_FILES}
    assert not (b.out/'.model.pkl.x1y2.partial').exists()
    assert 'experiment' not in read_metrics(b.out), "a new record: the replaced run's sections are gone"
    assert b.n_correct == a.n_correct
    if b.learn.dls.device.type == 'cpu':
        for x, y in zip(a.history, b.history): assert [x[k] for k in ('train_loss', 'valid_loss')] == pytest.approx([y[k] for k in ('train_loss', 'valid_loss')], abs=1e-6)

def test_valid_pct_save_best_patience_tta(ds, tmp_path):
    "A share of train/ validates: the splits as metrics.json names them, the best epoch kept, TTA figures recorded."
    r = train_foodvision(ds, epochs=3, valid_pct=0.25, save_best=True, patience=2, tta=True, out=tmp_path/'best', **SMALL)
    assert (r.n_train, r.n_valid, r.n_test, r.valid_is_test) == (18, 6, 12, False)
    m = read_metrics(r.out)
    assert m['splits'] == {'train': '75% of train/', 'valid': '25% of train/ (stratified, seed 42)', 'test': 'test/'}
    assert m['counts']['valid'] == {'pizza': 2, 'steak': 2, 'sushi': 2}
    best = min(r.history, key=lambda h: h['valid_loss'])
    assert r.best_epoch == best['epoch'] == m['best_epoch']
    assert r.valid_loss == pytest.approx(best['valid_loss'], abs=1e-4), "the model kept is the best epoch's"
    assert r.valid_accuracy_tta == pytest.approx(evaluate(r.learn, tta=True)['accuracy'], abs=1/6 + 1e-9), "fastai's TTA is random: within one photo of 6"
    assert m['test_accuracy_tta'] == r.test_accuracy_tta is not None
    assert 'best epoch' in summary(r) and 'test accuracy' in summary(r)

def test_a_folder_of_classes_with_fine_tune(tmp_path):
    "A folder per class and nothing else validates on 20%; `fine_tune` numbers its epochs across both phases and unfreezes."
    make_dataset(tmp_path/'made', n_train=10, n_test=0); (tmp_path/'made'/'train').rename(tmp_path/'one')
    r = train_foodvision(tmp_path/'one', epochs=1, fine_tune=True, freeze_epochs=1, out=tmp_path/'r1', **SMALL)
    assert (r.n_train, r.n_valid, r.n_test, r.valid_is_test) == (24, 6, None, False)
    assert [h['epoch'] for h in r.history] == [1, 2]
    assert all(p.requires_grad for p in r.learn.model.parameters()), 'unfrozen after the first phase'
    assert 'no test set' in summary(r)

def test_messy_unequal_folder(tmp_path):
    "Broken files, unusual images and names in any script: the unusable ones listed, every usable one used, nothing changed; unequal classes weighted and warned about; `on_bad='error'` stops before training."
    messy = make_dataset(tmp_path/'messy', classes=('pizza', 'steak'), n_train=4, n_test=2)
    make_dataset(tmp_path/'more', classes=('pizza',), n_train=9, n_test=0, seed=3)
    for i, p in enumerate(sorted((tmp_path/'more'/'train'/'pizza').iterdir())): p.rename(messy/'train'/'pizza'/f'more_{i}.jpg')
    (messy/'train'/'pizza'/'notes.txt').write_text('some notes'); (messy/'train'/'pizza'/'.DS_Store').write_bytes(b'\0\1')
    (messy/'test'/'steak'/'empty.jpg').write_bytes(b'')
    (messy/'train'/'steak'/'cut.jpg').write_bytes((messy/'train'/'steak'/'steak_0.jpg').read_bytes()[:200])
    Image.new('L', (40, 30), 90).save(messy/'train'/'pizza'/'gray.png'); Image.new('RGBA', (30, 40), (200, 0, 0, 128)).save(messy/'test'/'steak'/'rgba.png')
    for split, c, name in (('train', 'pizza', 'my pizza ñ 寿司 🍕.jpg'), ('test', 'steak', 'steak – café.jpg')):
        (messy/split/c/name).write_bytes((messy/split/c/f'{c}_0.jpg').read_bytes())
    before = tree_state(messy)
    with contextlib.redirect_stdout(io.StringIO()) as so:
        r = train_foodvision(messy, epochs=1, size=32, bs=4, balance='loss', out=tmp_path/'messy run')
    skipped = ['.DS_Store', 'cut.jpg', 'empty.jpg', 'notes.txt']
    assert sorted(Path(s.path).name for s in r.skipped) == skipped
    assert sorted(Path(d['path']).name for d in read_metrics(r.out)['skipped']) == skipped
    used = {Path(p).name for p in list(r.learn.dls.train_ds.items) + list(r.learn.dls.valid_ds.items)}
    assert {'gray.png', 'rgba.png', 'my pizza ñ 寿司 🍕.jpg', 'steak – café.jpg'} <= used
    assert r.n_test == 6
    assert tree_state(messy) == before, 'nothing deleted, moved, rewritten or added'
    pizza, steak = 4+9+2, 4  # + gray.png and the unicode name; cut.jpg is left out
    assert torch.allclose(r.learn.loss_func.func.weight.cpu(), torch.tensor([(pizza+steak)/(2*pizza), (pizza+steak)/(2*steak)])), 'vocab order'
    assert f'warning: the largest class has {pizza/steak:.1f} times the training images of the smallest' in so.getvalue(), so.getvalue()
    with pytest.raises(FoodVisionError, match=r'4 file\(s\) cannot be used'): train_foodvision(messy, epochs=1, size=32, out=tmp_path/'strict', on_bad='error', quiet=True)
    assert not (tmp_path/'strict'/'checkpoint.pth').exists()

def test_divergence_saves_nothing(ds, tmp_path):
    "A learning rate far too high: one line, and the folder the run made is gone."
    with pytest.raises(FoodVisionError, match='training diverged at epoch'): train_foodvision(ds, epochs=2, lr=1e6, out=tmp_path/'diverged', **SMALL)
    assert not (tmp_path/'diverged').exists()
