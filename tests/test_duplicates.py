"""Byte-identical photos and leakage between splits (issue 33, requirement 4), on data sets made from the real photos:
copies across splits are reported and written to the run's duplicates.csv, a `valid_pct` split keeps copies on one side,
and the content hashes are cached so that a second run reads no photo again."""
import csv, json, shutil, zipfile
from pathlib import Path
import pytest
from foodvision_fastai.cli import foodvision_train
from foodvision_fastai.test_utils import call_command, tree_state

CLASSES = ('pizza', 'steak', 'sushi')

def _photos(shared, tmp:Path)->dict:
    "(split, class) -> the real photos of pizza_steak_sushi.zip, unpacked into `tmp`."
    with zipfile.ZipFile(shared/'pizza_steak_sushi.zip') as z: z.extractall(tmp/'src')
    return {(s, c): sorted((tmp/'src'/s/c).glob('*.jpg')) for s in ('train', 'test') for c in CLASSES}

def copies_data(shared, tmp:Path, n_train:int=8, n_test:int=3)->Path:
    """train/ + test/ of real photos with copies under other names: 2 photos in both splits (a pizza of train copied into
    test, a steak of test copied into train), and 6 extra copies inside train (2 photos per class)."""
    src, data = _photos(shared, tmp), tmp/'copies'
    for (s, c), files in src.items():
        (data/s/c).mkdir(parents=True)
        for f in files[:n_train if s=='train' else n_test]: shutil.copy(f, data/s/c/f.name)
    shutil.copy(src['train', 'pizza'][0], data/'test'/'pizza'/'pizza_from_train.jpg')
    shutil.copy(src['test', 'steak'][0], data/'train'/'steak'/'steak_from_test.jpg')
    for c in CLASSES:
        for f in src['train', c][1:3]: shutil.copy(f, data/'train'/c/f'again_{f.name}')
    return data

@pytest.fixture(scope='module')
def data(shared, tmp_path_factory)->Path: return copies_data(shared, tmp_path_factory.mktemp('dups'))

@pytest.fixture(scope='module')
def run(data, tmp_path_factory):
    "One `foodvision_train --epochs 1` on the data with copies, validating on 25% of train: the command in this process (`call_command`, its own parsing and output)."
    out, before = tmp_path_factory.mktemp('dups_run')/'run', tree_state(data)
    r = call_command(foodvision_train, '--data', data, '--valid_pct', 0.25, '--epochs', 1, '--arch', 'mobilenet_v2', '--size', 32, '--bs', 4,
                     '--n_preds', 4, '--out', out)
    assert r.rc == 0, r.stderr[-3000:]
    assert tree_state(data) == before, 'the data set was changed'
    return out, r

def _copied(lay)->list:
    "The splits of each group of byte-identical photos of `lay`, read back from the files."
    res = {}
    for s in ('train', 'valid', 'test'):
        for f, _ in lay.items[s]: res.setdefault(f.read_bytes(), []).append(s)
    return [set(v) for v in res.values() if len(v)>1]

def test_valid_pct_keeps_copies_on_one_side(data):
    "In-process: for any seed, the 6 copies inside train and their originals land on the same side of a valid_pct split."
    from foodvision_fastai.dataloaders import foodvision_dls
    for seed in range(8):
        dls = foodvision_dls(data, size=32, bs=4, num_workers=0, valid_pct=0.25, seed=seed)
        lay = dls.layout
        assert len(_copied(lay)) == 8  # 6 inside train, 2 across train (or valid) and test
        split_up = [sides for sides in _copied(lay) if {'train', 'valid'} <= sides]
        assert split_up == [], f'seed {seed}: a photo and its copy on both sides of the split'
        assert len(lay.items['valid']) >= 0.2*(len(lay.items['train']) + len(lay.items['valid'])), 'the split still validates on about 25%'
        assert 'copies on one side' in lay.origin['valid'], lay.origin['valid']
        assert dls.copies[dls.copies.across].group.nunique() == 2  # the 2 across train and test; valid_pct made no new leak

def test_copies_across_splits_are_noted(data):
    "In-process: the layout's notes say how many photos are in two splits (one line) and how many copies sit inside a split (one line)."
    from foodvision_fastai.dataloaders import foodvision_dls
    notes = foodvision_dls(data, size=32, bs=4, num_workers=0).layout.notes  # the test set validates: the course's way
    across = [n for n in notes if 'in two splits at once' in n]
    within = [n for n in notes if 'in the same split' in n]
    assert len(across) == 1 and across[0].startswith('2 photo(s) ') and '(train/test 2)' in across[0], notes
    assert len(within) == 1 and within[0].startswith('6 file(s) ') and '(train 6)' in within[0], notes

def test_train_reports_and_writes_duplicates_csv(run, data):
    "End to end: the line in the summary, duplicates.csv in the run folder (only the train/test copies: valid_pct made none), the counts in metrics.json."
    out, r = run
    lines = r.stdout.splitlines()
    assert sum('in two splits at once' in l for l in lines) == 1 and sum('in the same split' in l for l in lines) == 1, r.stdout
    assert any(l.startswith('warning: 2 photo(s) are in two splits at once') and 'duplicates.csv' in l for l in lines), r.stdout
    with open(out/'duplicates.csv', newline='') as f: rows = list(csv.DictReader(f))
    leaked = {(data/'test'/'pizza'/'pizza_from_train.jpg').read_bytes(), (data/'train'/'steak'/'steak_from_test.jpg').read_bytes()}
    assert sorted(row['path'] for row in rows) == sorted(str(p.relative_to(data)) for p in data.rglob('*.jpg') if p.read_bytes() in leaked), rows
    assert all(row['split'] == row['path'].split('/')[0] or (row['split'], row['path'].split('/')[0]) == ('valid', 'train') for row in rows), rows
    assert len({row['group'] for row in rows}) == 2
    m = json.loads((out/'metrics.json').read_text())
    assert m['duplicates'] == dict(across_splits=2, within_split=6), m.get('duplicates')
    assert '25% of train/ (stratified, seed 42, copies on one side)' == m['splits']['valid'], m['splits']

def test_run_hashes_are_cached(run, data):
    "The run kept its hashes in the cache under FASTAI_HOME (not in the data): a second run reads no photo again (a cache hit, not a time)."
    from foodvision_fastai.duplicates import content_hashes, hash_cache
    files = sorted(p for p in data.rglob('*.jpg'))
    cache = hash_cache(data)
    assert cache.exists() and not cache.resolve().is_relative_to(data.resolve())
    h = content_hashes(files, cache)
    assert (len(h), h.read) == (len(files), 0)

def test_overwrite_sets_aside_duplicates_csv(tmp_path):
    "--overwrite replaces the whole run: an old duplicates.csv goes with it (a new run on clean data writes none); the user's files stay."
    from foodvision_fastai.core import run_folder
    out = tmp_path/'run'; out.mkdir()
    (out/'duplicates.csv').write_text('group,split,label,path\n'); (out/'notes.txt').write_text('mine')
    with run_folder(out, clean=True, replace=True): assert not (out/'duplicates.csv').exists()
    assert not (out/'duplicates.csv').exists() and (out/'notes.txt').read_text() == 'mine'
