"""`foodvision_audit` as a user runs it, on a copy of the course's real 10% data with problems planted in it: test photos
copied into train/ under new names, smaller re-encoded copies of others, training photos moved into the wrong class
folder, a cut-off JPEG and a screenshot. The audit must find them, write what it says, and leave the data as it was.
The command runs in this process through its own argument parsing and error handling (`call_command`, as the console
script does); the console script runs in its own process where the process is the point: Ctrl-C. (The options' errors
are tried in-process in the cli notebook; the method is explained in nbs/12a_audit.ipynb.)"""
from __future__ import annotations
import os, shutil, signal, subprocess, sys, time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from PIL import Image, ImageDraw

from foodvision_fastai.data import get_data
from foodvision_fastai.layout import read_layout
from foodvision_fastai.cli import foodvision_audit
from foodvision_fastai.test_utils import tree_state, call_command

CLASSES = ('pizza', 'steak', 'sushi')

def plant(data:Path)->SimpleNamespace:
    "Plant the problems in the data set at `data`; returns where they are."
    tests = sorted((data/'test').rglob('*.jpg'))[::7]  # spread over the three classes
    dups, nears, moved = {}, {}, {}
    for i, f in enumerate(tests[:4]):
        dups[data/'train'/f.parent.name/f'copy_{i}.jpg'] = f
        shutil.copy(f, data/'train'/f.parent.name/f'copy_{i}.jpg')
    for i, f in enumerate(tests[4:8]):
        with Image.open(f) as im: im.resize((im.width*3//5, im.height*3//5)).save(data/'train'/f.parent.name/f'small_{i}.jpg', quality=60)
        nears[data/'train'/f.parent.name/f'small_{i}.jpg'] = f
    for c in CLASSES:  # 4 photos of each class into the next class's folder: 12 wrong labels
        other = CLASSES[(CLASSES.index(c)+1) % 3]
        for f in sorted((data/'train'/c).glob('*.jpg'))[5:45:10]:
            shutil.move(f, data/'train'/other/f.name); moved[data/'train'/other/f.name] = c
    (data/'train'/'pizza'/'cut_off.jpg').write_bytes(tests[9].read_bytes()[:3000])
    im = Image.new('RGB', (800, 600), 'white'); d = ImageDraw.Draw(im)
    for y in range(30, 600, 30): d.text((20, y), 'File  Edit  View   Settings   OK   Cancel   Apply', fill='black')
    im.save(data/'train'/'sushi'/'screenshot.png')
    return SimpleNamespace(dups=dups, nears=nears, moved=moved, cut_off=data/'train'/'pizza'/'cut_off.jpg', screenshot=data/'train'/'sushi'/'screenshot.png')

@pytest.fixture(scope='module')
def audited(shared, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('audit')
    data = tmp/'data'
    shutil.copytree(get_data(shared/'pizza_steak_sushi.zip', quiet=True), data)
    planted = plant(data)
    before = tree_state(data)
    r = call_command(foodvision_audit, '--data', data, '--out', tmp/'out', '--fix', tmp/'labels.csv', '--quiet')
    assert r.rc == 0, r.stderr[-3000:]
    df = pd.read_csv(tmp/'out'/'audit.csv', keep_default_na=False)
    return SimpleNamespace(tmp=tmp, data=data, planted=planted, before=before, r=r, df=df, rows=lambda kind: df[df.kind==kind])

def test_the_data_is_unchanged(audited):
    assert tree_state(audited.data) == audited.before  # every file's bytes and mtime, and no file added or removed

def test_copies_of_test_photos_in_train_are_leakage(audited):
    d = audited.rows('duplicate')
    assert {(Path(p), Path(o)) for p, o in zip(d.path, d.other)} == set(audited.planted.dups.items())
    assert (d.split == 'train').all() and (d.other_split == 'test').all()

def test_smaller_reencoded_copies_are_near_duplicates(audited):
    d = audited.rows('near_duplicate')
    assert {(Path(p), Path(o)) for p, o in zip(d.path, d.other)} == set(audited.planted.nears.items()), 'each copy with its photo, no false alarm'
    assert (d.other_split == 'test').all() and (d.score >= 0.95).all()

def test_most_moved_photos_are_among_the_top_label_suspects(audited):
    top = audited.rows('label').head(20)
    found = {Path(p): o for p, o in zip(top.path, top.other) if Path(p) in audited.planted.moved}
    assert len(found) >= 10, f'{len(found)} of {len(audited.planted.moved)} moved photos among the top 20 label suspects'
    assert sum(audited.planted.moved[p] == o for p, o in found.items()) >= 9, 'the suggested label is the class it came from'

def test_unreadable_file_and_screenshot(audited):
    u, o = audited.rows('unreadable'), audited.rows('outlier')
    assert list(u.path) == [str(audited.planted.cut_off)] and 'cannot be read as an image' in u.other.iloc[0]
    assert str(audited.planted.screenshot) in set(o.path)

def test_table_order_summary_and_picture(audited):
    kinds = ['unreadable', 'duplicate', 'near_duplicate', 'label', 'outlier']
    assert list(dict.fromkeys(audited.df.kind)) == kinds, 'kinds in order, each found'
    lines = audited.r.stdout.splitlines()
    for k in kinds: assert any(line.startswith(f'{k}:') for line in lines), (k, audited.r.stdout)
    assert any('4 across splits' in line for line in lines if line.startswith('duplicate:'))
    with Image.open(audited.tmp/'out'/'audit.png') as im: assert im.format == 'PNG' and min(im.size) > 500

def test_fix_csv_trains_as_labels(audited):
    "The fixed labels: readable by `foodvision_train --labels`, without the copies, the moved photos back in their class."
    fixed = pd.read_csv(audited.tmp/'labels.csv')
    lay = read_layout(audited.data, audited.tmp/'labels.csv')
    n_photos = sum(1 for p in audited.data.rglob('*') if p.is_file()) - 1  # all but the cut-off file
    assert len(fixed) == n_photos - len(audited.planted.dups) - len(audited.planted.nears)
    assert not any(n.startswith(('copy_', 'small_')) for n in fixed.image.map(lambda s: Path(s).name))
    label = dict(zip(fixed.image, fixed.label))
    back = sum(label[os.path.relpath(p, audited.data)] == c for p, c in audited.planted.moved.items())
    assert back >= 9, f'{back} of {len(audited.planted.moved)} moved photos relabelled'
    assert set(lay.counts()) == {'train', 'test'}

def test_bad_input_is_one_line(tmp_path):
    r = call_command(foodvision_audit, '--data', tmp_path/'missing', '--out', tmp_path/'out')
    assert r.rc == 2 and r.stderr.strip().count('\n') == 0 and r.stderr.startswith('error: ') and 'missing' in r.stderr, r.stderr[-2000:]
    assert not (tmp_path/'out').exists()

def test_ctrl_c_is_one_line(shared, tmp_path):
    """The console script, Ctrl-C while it reads the photos: exit code 130, one line, within seconds, and no output folder.
    It unpacks the zip into a fastai home of its own; once the data set is in place (the imports done, 600 photos to read), Ctrl-C."""
    cmd = [str(Path(sys.executable).parent/'foodvision_audit')]
    home = tmp_path/'fastai_home'
    p = subprocess.Popen(cmd + ['--data', str(shared/'pizza_steak_sushi_20_percent.zip'), '--out', str(tmp_path/'out'), '--quiet'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, FASTAI_HOME=str(home)),
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    unpacked = lambda: [d for d in home.glob('data/pizza_steak_sushi_20_percent-*') if not d.name.endswith('.partial')]
    start = time.monotonic()
    while not unpacked() and p.poll() is None and time.monotonic()-start < 300: time.sleep(0.1)
    assert unpacked() and p.poll() is None, (p.poll(), list(home.rglob('*'))[:5])
    t = time.monotonic(); p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130 and err.strip() == 'interrupted', (p.returncode, err[-2000:])
    assert time.monotonic()-t < 30 and not (tmp_path/'out').exists()
