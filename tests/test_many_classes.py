"""Many classes (issue 33): 100 classes generated from the real photos, and imagenette_mini's 10 (a few photos of each),
each trained through `foodvision_train` for one short epoch at 32 px, in this process through the command's own parsing
and output (`call_command`; the console scripts' own processes are tested in test_cli.py). The report reads well (the
confusion matrix grows with 10 classes and becomes fastai's most confused pairs with 100), `metrics.json` has the top-5
accuracy, and the predictions show the top 5."""
import json, random, zipfile
from pathlib import Path
import pytest
import numpy as np
import torch
from PIL import Image, ImageOps
from foodvision_fastai.cli import foodvision_train, foodvision_predict
from foodvision_fastai.test_utils import call_command

N_CLASSES, SIDE, SIZE = 100, 64, 32  # the photos' side; the side the model trains at

def many_classes(shared:Path, dest:Path, n:int=N_CLASSES)->Path:
    "`n` classes of 3 photos (2 in train/, 1 in valid/): each class one real photo (half imagenette_mini, half pizza_steak_sushi), seen through 3 crops and a flip."
    srcs = []
    for zname, k in (('imagenette_mini.zip', n//2), ('pizza_steak_sushi.zip', n - n//2)):
        with zipfile.ZipFile(shared/zname) as z:
            names = sorted(f for f in z.namelist() if f.lower().endswith(('.jpg', '.jpeg')))
            for f in random.Random(0).sample(names, k):
                with z.open(f) as fh: srcs.append((Path(f).parent.name, ImageOps.exif_transpose(Image.open(fh)).convert('RGB')))
    for i, (cls, im) in enumerate(srcs):
        w, h = im.size
        crops = [(0, 0, int(w*.85), int(h*.85)), (int(w*.15), int(h*.15), w, h), (int(w*.08), int(h*.08), int(w*.92), int(h*.92))]
        name = f'{cls}_{i:03d}'
        for j, box in enumerate(crops):
            split = 'valid' if j == 2 else 'train'
            pic = im.crop(box).resize((SIDE, SIDE))
            if j == 1: pic = ImageOps.mirror(pic)
            (dest/split/name).mkdir(parents=True, exist_ok=True)
            pic.save(dest/split/name/f'{name}_{j}.jpg', quality=90)
    return dest

def train(data, out):
    r = call_command(foodvision_train, '--data', data, '--out', out, '--epochs', 1, '--size', SIZE, '--bs', 16, '--quiet')
    assert r.rc == 0, r.stderr[-3000:]
    return r

@pytest.fixture(scope='module')
def run100(shared, tmp_path_factory):
    d = tmp_path_factory.mktemp('many')
    data = many_classes(shared, d/'data')
    r = train(data, d/'run')
    return d/'run', data, r.stdout

def imagenette_part(shared:Path, dest:Path, n_train:int=2, n_val:int=1)->Path:
    "imagenette_mini as it is (10 classes, train/ + val/, ids as class names, .JPEG names), the first photos of each class only: a short run."
    with zipfile.ZipFile(shared/'imagenette_mini.zip') as z:
        names = sorted(f for f in z.namelist() if not f.endswith('/'))
        for split, k in (('train', n_train), ('val', n_val)):
            for cls in sorted({Path(f).parent.name for f in names if f.startswith(split+'/')}):
                for f in [f for f in names if f.startswith(f'{split}/{cls}/')][:k]: z.extract(f, dest)
    return dest

@pytest.fixture(scope='module')
def run10(shared, tmp_path_factory):
    d = tmp_path_factory.mktemp('ten')
    r = train(imagenette_part(shared, d/'data'), d/'run')
    return d/'run', r.stdout

def picture(p:Path)->Image.Image:
    "The PNG at `p`, checked to be a real picture (not blank)."
    im = Image.open(p)
    assert im.format == 'PNG' and len(np.unique(np.asarray(im.convert('L').resize((64, 64))))) > 20, f'{p.name} looks blank'
    return im

def test_100_classes_pictures(run100):
    "Beyond 20 classes the confusion matrix is replaced by the most confused pairs: a picture, a table in the output, the list in metrics.json."
    run, data, out = run100
    classes = sorted(p.name for p in (data/'train').iterdir())  # the generated data set: 100 classes of 2 + 1 photos
    assert len(classes) == N_CLASSES and sorted(p.name for p in (data/'valid').iterdir()) == classes
    assert sum(1 for _ in data.rglob('*.jpg')) == 3*N_CLASSES
    assert not (run/'confusion_matrix.png').exists()
    for name in ('loss_curves', 'predictions', 'most_confused', 'top_losses', 'heatmaps'): picture(run/f'{name}.png')
    m = json.loads((run/'metrics.json').read_text())
    mc = m['most_confused']
    assert mc and sum(c['count'] for c in mc) == m['n_valid'] - round(m['valid_accuracy']*m['n_valid'])
    assert 'actual' in out and f"{mc[0]['actual']}  " in out, out  # the table of the pairs, in the command's output
    with Image.open(run/'most_confused.png') as im: assert im.height >= 300 and im.width >= 600, im.size

def test_100_classes_top5_accuracy(run100):
    "metrics.json: the top-5 accuracy (at least the accuracy), each class's top-5 recall, and the summary line says it."
    run, _, out = run100
    m = json.loads((run/'metrics.json').read_text())
    assert len(m['vocab']) == N_CLASSES and m['n_valid'] == N_CLASSES
    t5 = m['valid_top5_accuracy']
    assert isinstance(t5, float) and m['valid_accuracy'] <= t5 <= 1, (m['valid_accuracy'], t5)
    assert abs(sum(c['top5_recall'] for c in m['per_class'].values())/N_CLASSES - t5) < 1e-3  # one valid photo per class
    assert f'top-5 {t5:.1%}' in out, out

def test_100_classes_predictions_show_top5(run100):
    "foodvision_predict lists the top 5 (table and JSON); the prediction grid shows the 4 runner-ups under each photo; the demo the top 5."
    run, data, _ = run100
    photos = sorted((data/'valid').rglob('*.jpg'))[:3]
    r = call_command(foodvision_predict, *photos, '--model', run)
    assert r.rc == 0, r.stderr[-2000:]
    head, *rows = r.stdout.strip().splitlines()
    assert head.split() == ['image', 'class', 'prob'] + [f'{k}{i}' for i in range(2, 6) for k in ('class', 'prob')], head
    assert len(rows) == 3 and all(len(row.split()) == 11 for row in rows), r.stdout
    r = call_command(foodvision_predict, *photos, '--model', run, '--json', '--topk', 7)
    assert r.rc == 0 and [len(p['top']) for p in json.loads(r.stdout)] == [7]*3
    from fastai.learner import load_learner
    from foodvision_fastai.dataloaders import foodvision_dls
    from foodvision_fastai.interpret import plot_prediction_grid, sample_test_items, predict_items
    learn = load_learner(run/'model.pkl')
    learn.dls = foodvision_dls(data, size=SIZE, bs=16)
    fig = plot_prediction_grid(learn, n=6)
    probs, _ = predict_items(learn, [f for f,_ in sample_test_items(learn, 6)])
    under = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert len(under) == 6 and all([ln.split('. ')[0] for ln in t.replace('\n', '   ').split('   ')] == ['2', '3', '4', '5'] for t in under), under
    top = probs[0].topk(5)
    assert under[0].split('\n')[0] == f'2. {learn.dls.vocab[int(top[1][1])]} {float(top[0][1]):.3f}   3. {learn.dls.vocab[int(top[1][2])]} {float(top[0][2]):.3f}'
    from foodvision_fastai.demo import demo_app
    app = demo_app(run, examples=[])
    assert [b.num_top_classes for b in app.blocks.values() if type(b).__name__ == 'Label'] == [5]

def test_10_classes(run10):
    "imagenette_mini (10 classes, train/ + val/): a confusion matrix that grew to be read, and the top-5 accuracy."
    run, out = run10
    m = json.loads((run/'metrics.json').read_text())
    assert len(m['vocab']) == 10 and (m['n_train'], m['n_valid']) == (20, 10) and not (run/'most_confused.png').exists()
    assert m['valid_accuracy'] <= m['valid_top5_accuracy'] <= 1 and f"top-5 {m['valid_top5_accuracy']:.1%}" in out
    assert all('top5_recall' in c for c in m['per_class'].values())
    with picture(run/'confusion_matrix.png') as im: assert min(im.size) >= 600, im.size  # 7.5 inches at 100 dpi; fastai's 5 inches crowd 10 classes

def test_3_classes_unchanged(tmp_path):
    "FoodVision Mini's 3 classes: no top-5 figures (null), and foodvision_predict's table keeps its 3 columns."
    from foodvision_fastai.evaluate import per_class_report
    rep = per_class_report(torch.tensor([0, 1]), torch.tensor([0, 2]), ['pizza', 'steak', 'sushi'], torch.eye(3)[[0, 1]])
    assert 'top5_recall' not in rep['pizza']
