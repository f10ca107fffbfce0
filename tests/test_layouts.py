"""Data sets as they are downloaded (issue 33): split folders by their other names and under one top folder, Kaggle's CSVs
beside a flat `train/` folder or of ids without extension, and the bad input among them. Every data set is generated from
real photos of `imagenette_mini.zip` (3 classes of it, a few photos each) into temporary folders; the shared data is only
read. `read_layout` is checked in this process for the many variants; `foodvision_train --data DIR`, with no option about
the layout, trains once on each layout the issue names. Everything runs in this process: the command through its own
parsing and error handling (`call_command`, as the console script does; its own process is tested in test_cli.py)."""
from __future__ import annotations
import json, shutil, zipfile
from pathlib import Path

import pytest

from foodvision_fastai.core import FoodVisionError
from foodvision_fastai.layout import read_layout
from foodvision_fastai.data import get_data
from foodvision_fastai.test_utils import shared_data, call_command, tree_state, zip_folder

CLASSES, N_TRAIN, N_VALID = ('n01440764', 'n02102040', 'n02979186'), 8, 3  # tench, springer, cassette player

@pytest.fixture(scope='module')
def src(tmp_path_factory)->Path:
    "train/<class>/ and val/<class>/ of real .JPEG photos: N_TRAIN and N_VALID of each of 3 imagenette classes."
    root = tmp_path_factory.mktemp('imagenette')/'src'
    with zipfile.ZipFile(shared_data()/'imagenette_mini.zip') as z:
        names = sorted(n for n in z.namelist() if n.endswith('.JPEG'))
        for split, n in (('train', N_TRAIN), ('val', N_VALID)):
            for c in CLASSES:
                for m in [m for m in names if m.startswith(f'{split}/{c}/')][:n]:
                    (root/split/c).mkdir(parents=True, exist_ok=True)
                    (root/split/c/Path(m).name).write_bytes(z.read(m))
    return root

def counts(n_train=N_TRAIN, n_valid=N_VALID, valid='valid')->dict:
    return {'train': dict.fromkeys(CLASSES, n_train), valid: dict.fromkeys(CLASSES, n_valid)}

def renamed(src:Path, dest:Path, **names)->Path:
    "A copy of `src` at `dest` with its split folders renamed, e.g. `train='training'`."
    shutil.copytree(src, dest)
    for old, new in names.items(): (dest/old).rename(dest/new)
    return dest

def kaggle(src:Path, dest:Path, ids:bool=False)->Path:
    """Kaggle's "Weather image classification" layout: `Training_set.csv` (filename,label) beside a flat train/ folder, and a
    `Testing_set.csv` without labels; with `ids`, a `labels.csv` of ids without their extension (id,label)."""
    (dest/'train').mkdir(parents=True)
    rows = []
    for i, p in enumerate(sorted(src.glob('*/*/*.JPEG')), 1):
        shutil.copy(p, dest/'train'/f'Image_{i}.JPEG')
        rows.append((f'Image_{i}' if ids else f'Image_{i}.JPEG', p.parent.name))
    head = 'id,label' if ids else 'filename,label'
    (dest/('labels.csv' if ids else 'Training_set.csv')).write_text('\n'.join([head] + [f'{a},{b}' for a,b in rows]) + '\n')
    (dest/'Testing_set.csv').write_text('filename\nImage_1.JPEG\n')  # no label column: not a CSV of labels
    return dest

def one_line(e, *names)->str:
    msg = str(e)
    assert msg.strip() and '\n' not in msg, f'not one line: {msg!r}'
    for n in names: assert str(n) in msg, f'{n} not named in: {msg}'
    return msg

# ---------------------------------------------------------------- split folders, in this process

@pytest.mark.parametrize('train, valid, kind', [('training', 'validation', 'train/valid'), ('Train', 'Test', 'train/test'),
    ('TRAIN', 'VAL', 'train/valid'), ('train', 'dev', 'train/valid'), ('Training', 'Testing', 'train/test'), ('train', 'Valid', 'train/valid')])
def test_split_folders_by_their_common_names(src, tmp_path, train, valid, kind):
    d = renamed(src, tmp_path/'d', train=train, val=valid)
    before = tree_state(d)
    lay = read_layout(d)
    assert (lay.kind, lay.counts(), lay.origin['train']) == (kind, counts(valid=kind.split('/')[1]), f'{train}/')
    assert tree_state(d) == before

def test_one_top_folder_and_a_nested_split(src, tmp_path):
    "A download unpacked into its own folder, with a README beside the data set's folder; Kaggle's training/training/<class>."
    d = tmp_path/'download'
    renamed(src, d/'10-monkey-species', train='training', val='validation')
    (d/'monkey_labels.txt').write_text('Label, Latin Name, Common Name\n')
    lay = read_layout(d)
    assert (lay.kind, lay.counts(), lay.origin['valid']) == ('train/valid', counts(), '10-monkey-species/validation/')
    inner = d/'10-monkey-species'/'training'
    inner.rename(tmp_path/'t'); inner.mkdir(); (tmp_path/'t').rename(inner/'training')
    assert read_layout(d).origin['train'] == '10-monkey-species/training/training/'

def test_folders_named_outright(src, tmp_path):
    d = renamed(src, tmp_path/'d', train='photos', val='holdout')
    lay = read_layout(d, train='photos', valid='holdout')
    assert (lay.kind, lay.counts(), lay.origin['valid']) == ('train/valid', counts(), 'holdout/')
    lay = read_layout(d, train='photos', test='holdout')
    assert (lay.kind, lay.counts()) == ('train/test', counts(valid='test'))
    with pytest.raises(FoodVisionError) as e: read_layout(d, train='pictures')
    one_line(e.value, "'pictures'", 'photos/', '--train')
    with pytest.raises(FoodVisionError) as e: read_layout(d, train='photos', valid='../elsewhere')
    one_line(e.value, '--valid')
    with pytest.raises(FoodVisionError) as e: read_layout(d, train='photos', folder='photos')  # folder= is a CSV's
    one_line(e.value, '--folder', '--labels')

def test_split_names_with_a_csv_are_refused(src, tmp_path):
    d = kaggle(src, tmp_path/'k')
    with pytest.raises(FoodVisionError) as e: read_layout(d, 'Training_set.csv', train='train')
    one_line(e.value, 'Training_set.csv', '--train')

@pytest.mark.parametrize('names', [('val', 'validation'), ('train', 'training'), ('test', 'Testing'), ('Train', 'train')])
def test_two_folders_of_one_split_are_one_line(src, tmp_path, names):
    a, b = names
    d = renamed(src, tmp_path/'d', **{'train' if a.lower().startswith('train') else 'val': a})
    shutil.copytree(d/a, d/b)
    before = tree_state(d)
    with pytest.raises(FoodVisionError) as e: read_layout(d)
    one_line(e.value, *sorted([f'{a}/', f'{b}/']))
    assert tree_state(d) == before

def test_zip_with_a_top_folder_and_a_readme(src, tmp_path):
    "A zip of the data set's folder, with a README beside that folder (the plain zip of one folder worked before)."
    z = zip_folder(src, tmp_path/'imagenette.zip', prefix='imagenette_mini/')
    with zipfile.ZipFile(z, 'a') as f: f.writestr('README.txt', 'imagenette, 3 classes')
    assert read_layout(get_data(z, quiet=True)).counts() == counts()

# ---------------------------------------------------------------- Kaggle's CSVs, in this process

def test_kaggle_csv_beside_a_flat_train_folder(src, tmp_path):
    d = kaggle(src, tmp_path/'weather')
    before = tree_state(d)
    lay = read_layout(d)  # found on its own; Testing_set.csv has no label column
    assert (lay.kind, lay.origin['train']) == ('csv', 'Training_set.csv (found on its own; images in train/)')
    assert lay.counts() == {'train': dict.fromkeys(CLASSES, N_TRAIN+N_VALID)}
    lay = read_layout(d, labels='Training_set.csv')  # given: the same images, found in train/
    assert lay.counts() == {'train': dict.fromkeys(CLASSES, N_TRAIN+N_VALID)} and all(p.parent == d/'train' for p,_ in lay.items['train'])
    assert tree_state(d) == before

def test_kaggle_csv_of_ids_without_extension(src, tmp_path):
    d = kaggle(src, tmp_path/'ids', ids=True)
    lay = read_layout(d)
    assert lay.origin['train'] == 'labels.csv (found on its own; images in train/; names + .JPEG)'
    assert lay.counts() == {'train': dict.fromkeys(CLASSES, N_TRAIN+N_VALID)}
    assert read_layout(d, folder='train', suffix='.JPEG').counts() == lay.counts()  # fastai's from_csv(folder=, suffix=)
    with pytest.raises(FoodVisionError) as e: read_layout(d, suffix='.png')
    one_line(e.value, 'labels.csv', '--suffix')

def test_bad_csvs_are_one_line_and_change_nothing(src, tmp_path):
    base = kaggle(src, tmp_path/'base')
    def case(name, edit=None, **kw):
        d = shutil.copytree(base, tmp_path/name)
        if edit: edit(d)
        before = tree_state(d)
        with pytest.raises(FoodVisionError) as e: read_layout(d, **kw)
        assert tree_state(d) == before
        return str(e.value)
    one_line(case('two', lambda d: shutil.copy(d/'Training_set.csv', d/'more_labels.csv')), 'Training_set.csv', 'more_labels.csv', '--labels')
    classes = shutil.copytree(src/'train', tmp_path/'classes')  # class folders beside two CSVs: the class folders, as before, with a note
    for n in ('a.csv', 'b.csv'): (classes/n).write_text(f'image,label\n{next((src/"train").rglob("*.JPEG")).relative_to(src/"train")},x\n')
    lay = read_layout(classes)
    assert lay.kind == 'class folders' and 'a.csv, b.csv' in lay.describe() and '--labels' in lay.describe()
    (tmp_path/'secret.JPEG').write_bytes((base/'train'/'Image_1.JPEG').read_bytes())  # it exists, but outside the data folder
    one_line(case('up', lambda d: (d/'Training_set.csv').write_text('filename,label\nImage_1.JPEG,a\n../secret.JPEG,b\n')), 'line 3', '../secret.JPEG', 'outside')
    one_line(case('abs', lambda d: (d/'Training_set.csv').write_text(f"filename,label\n{tmp_path/'secret.JPEG'},a\nImage_2.JPEG,b\n")), 'line 2', 'outside')
    one_line(case('noimg', lambda d: (d/'Training_set.csv').write_text('filename,label\nsunny,a\ncloudy,b\nrain,c\n')), "column 'filename'", '--columns')
    one_line(case('nofolder', folder='images'), "'images'", '--folder')

# ---------------------------------------------------------------- the command

def test_cli_bad_layout_options_exit_2(src, tmp_path):
    "`--train` naming a missing folder, a `--folder` that does not exist, a CSV with no usable image column: one line, exit 2, before any training."
    from foodvision_fastai.cli import foodvision_train
    d = renamed(src, tmp_path/'d', train='photos')
    k = kaggle(src, tmp_path/'k')
    bad = kaggle(src, tmp_path/'bad'); (bad/'Training_set.csv').write_text('filename,label\nsunny,a\ncloudy,b\n')
    for args, names in ((('--data', d, '--train', 'pictures'), ("'pictures'", '--train')), (('--data', k, '--folder', 'images'), ("'images'", '--folder')),
                        (('--data', bad), ('Training_set.csv', '--columns'))):
        before = tree_state(args[1])
        r = call_command(foodvision_train, *args, '--out', tmp_path/'run', '--quiet')
        assert r.rc == 2, r.stderr[-2000:]
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith('error: '), r.stderr[-2000:]
        for n in names: assert n in lines[0], lines[0]
        assert tree_state(args[1]) == before and not (tmp_path/'run').exists()

@pytest.fixture(scope='module')
def downloads(src, tmp_path_factory)->dict:
    "Each layout the issue names, as a user would pass it to --data."
    root = tmp_path_factory.mktemp('downloads')
    z = zip_folder(src, root/'imagenette.zip', prefix='imagenette_mini/')
    with zipfile.ZipFile(z, 'a') as f: f.writestr('README.txt', 'imagenette, 3 classes')
    return {'training+validation': renamed(src, root/'monkeys', train='training', val='validation'),
            'Train+Test': renamed(src, root/'caps', train='Train', val='Test'),
            'zip, one top folder': z, 'Kaggle CSV, flat train/': kaggle(src, root/'weather'), 'CSV of ids': kaggle(src, root/'ids', ids=True)}

@pytest.mark.parametrize('name, splits', [('training+validation', {'train': 'training/', 'valid': 'validation/'}),
    ('Train+Test', {'train': 'Train/', 'test': 'Test/', 'valid': 'Test/, used as validation'}),
    ('zip, one top folder', {'train': 'train/', 'valid': 'val/'}),
    ('Kaggle CSV, flat train/', {'train': '80% of Training_set.csv (found on its own; images in train/)'}),
    ('CSV of ids', {'train': '80% of labels.csv (found on its own; images in train/; names + .JPEG)'})])
def test_train_on_each_layout_with_no_option(downloads, tmp_path, name, splits):
    """Trains for one epoch on each layout with no option about the layout: through the command itself (`call_command`) for
    Kaggle's CSV, through `train_foodvision`, which the command calls with the same options, for the others (the command
    draws its report too, seconds of plots; the command's handling of the layout options is checked above)."""
    data, out = downloads[name], tmp_path/'run'
    before = tree_state(data) if data.is_dir() else data.read_bytes()
    if name.startswith('Kaggle'):
        from foodvision_fastai.cli import foodvision_train
        r = call_command(foodvision_train, '--data', data, '--epochs', 1, '--size', 32, '--n_preds', 1, '--out', out, '--quiet')
        assert r.rc == 0, r.stderr[-3000:]
    else:
        from foodvision_fastai.train import train_foodvision
        train_foodvision(data, out=out, epochs=1, size=32, quiet=True)
    m = json.loads((out/'metrics.json').read_text())
    assert m['vocab'] == list(CLASSES) and {k: v for k,v in m['splits'].items() if k in splits} == splits, m['splits']
    assert m['n_train'] + m['n_valid'] + (m['n_test'] or 0) * (not m['valid_is_test']) == len(CLASSES)*(N_TRAIN+N_VALID)
    assert (tree_state(data) if data.is_dir() else data.read_bytes()) == before
