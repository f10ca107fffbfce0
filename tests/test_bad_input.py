"""Issue "Bad input, faults and reproducibility": bad images, wrong layouts, failed downloads, bad model files,
missing weights, interrupted and repeated runs. Everything here runs on tiny generated data sets (32px, 1-2 epochs).

Expensive things are done once per session and shared: one training run on a data set full of odd and broken files
(`trained`), one batch of console-script runs started in parallel (`cli_runs`) and two interrupted training runs (`killed`)."""
from __future__ import annotations
import hashlib, json, os, shutil, signal, socket, subprocess, sys, threading, time, zipfile
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from foodvision_fastai.core import FoodVisionError
from foodvision_fastai.data import make_dataset, get_data, check_layout, scan_images, image_problem, FoodImage, foodvision_dls
from foodvision_fastai.models import load_model, ensure_weights, weights_file
from foodvision_fastai.predict import predict, item_pipeline, Prediction
from foodvision_fastai.train import train_foodvision, prepare_out
from fastai.data.external import fastai_cfg

BIN = Path(sys.executable).parent
SEED_KW = dict(size=32, bs=4, seed=42, quiet=True)

# ---------------------------------------------------------------- helpers

def _set_fastai_home(mp, path):
    "fastai caches its config (`fastai_cfg` is lru_cached), so FASTAI_HOME only takes effect after a cache clear."
    mp.setenv('FASTAI_HOME', str(path))
    fastai_cfg.cache_clear()

@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    "Every test: its own FASTAI_HOME and working folder, no data set from the environment, no proxy for 127.0.0.1."
    _set_fastai_home(monkeypatch, tmp_path/'fastai_home')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv('FOODVISION_DATA', raising=False)
    for k in ('no_proxy', 'NO_PROXY'): monkeypatch.setenv(k, '127.0.0.1,localhost')
    yield
    fastai_cfg.cache_clear()

def tree_state(folder:Path)->dict:
    "Every file and folder under `folder`: path -> (sha256, size, mtime_ns) for files, 'dir' for folders."
    res = {}
    for p in sorted(Path(folder).rglob('*')):
        rel = str(p.relative_to(folder))
        if p.is_dir(): res[rel] = 'dir'
        else:
            st = p.stat()
            res[rel] = (hashlib.sha256(p.read_bytes()).hexdigest(), st.st_size, st.st_mtime_ns)
    return res

def one_line_naming(e:Exception, *names)->str:
    "The message of `e`; it must be a single non-empty line mentioning each of `names`."
    msg = str(e)
    assert msg.strip() and '\n' not in msg and '\r' not in msg, f'not one line: {msg!r}'
    for n in names: assert str(n) in msg, f'{n!s} not named in: {msg}'
    return msg

def partials(folder:Path)->list:
    return [p for p in Path(folder).rglob('*') if 'partial' in p.name]

def free_port()->int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _default_sigint():  # a child started from a background job would inherit an ignored SIGINT
    signal.signal(signal.SIGINT, signal.SIG_DFL)

def cli(name:str)->str: return str(BIN/name)

def cli_env(fastai_home:Path, **extra)->dict:
    env = dict(os.environ, FASTAI_HOME=str(fastai_home), OMP_NUM_THREADS='1', **{k: str(v) for k,v in extra.items()})
    env.pop('FOODVISION_DATA', None)
    return env

def start(cmd:list, folder:Path, name:str, env:dict)->SimpleNamespace:
    "Start `cmd` with its stdout/stderr going to files (no pipe can fill up)."
    folder.mkdir(parents=True, exist_ok=True)
    so, se = open(folder/f'{name}.out', 'wb'), open(folder/f'{name}.err', 'wb')
    p = subprocess.Popen([str(c) for c in cmd], stdout=so, stderr=se, env=env, cwd=folder, preexec_fn=_default_sigint)
    return SimpleNamespace(proc=p, so=so, se=se, out=folder/f'{name}.out', err=folder/f'{name}.err', name=name)

def finish(r:SimpleNamespace, timeout:float=300)->SimpleNamespace:
    try: rc = r.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        r.proc.kill(); r.proc.wait(); rc = 'timeout'
    r.so.close(); r.se.close()
    return SimpleNamespace(rc=rc, stdout=r.out.read_text('utf-8', 'replace'), stderr=r.err.read_text('utf-8', 'replace'))

def assert_cli_error(res, *names):
    "A console script's user error: exit code 2, no traceback, one `error:` line (the last) naming what is wrong."
    lines = res.stderr.strip().splitlines()
    assert res.rc==2, f'rc={res.rc}, stderr={res.stderr[-2000:]}'
    assert 'Traceback' not in res.stderr, res.stderr[-2000:]
    errs = [l for l in lines if l.startswith('error:')]
    assert len(errs)==1 and lines[-1]==errs[0], f'not one error line: {res.stderr[-2000:]!r}'
    for n in names: assert str(n) in errs[0], f'{n!s} not named in: {errs[0]}'

# ---------------------------------------------------------------- image makers

def _jpeg_bytes(size=256, seed=0)->bytes:
    import io
    b = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size,size,3), dtype=np.uint8)).save(b, 'JPEG')
    return b.getvalue()

def make_bad_files(train_dir:Path, test_dir:Path)->dict:
    "Files that cannot be used, spread over a train and a test class folder: name -> path."
    full = _jpeg_bytes()
    files = {
        'truncated.jpg': (train_dir, full[:len(full)//2]),
        'garbage.jpg':   (test_dir, b'\xff\xd8\xff\xe0' + np.random.default_rng(1).bytes(600)),
        'empty.jpg':     (test_dir, b''),
        'text.png':      (train_dir, b'this is not a PNG\n'),
        '.DS_Store':     (train_dir, b'\x00\x00\x00\x01Bud1' + bytes(100)),
        'notes.txt':     (train_dir, 'some notes about pizza\n'.encode()),
    }
    out = {}
    for name, (d, data) in files.items():
        (d/name).write_bytes(data); out[name] = d/name
    return out

def make_odd_images(d:Path)->dict:
    "Valid images in unusual forms: name -> (path, check of the RGB PIL image it must open as)."
    d.mkdir(parents=True, exist_ok=True)
    res = {}
    def add(name, im, check, **kw):
        im.save(d/name, **kw); res[name] = (d/name, check)
    def px(im, xy): return np.asarray(im)[xy[1], xy[0]].astype(int)
    def close(a, b, tol=40): return all(abs(int(x)-int(y))<=tol for x,y in zip(a, b))
    add('gray.png', Image.new('L', (24,24), 128), lambda im: close(px(im,(5,5)), (128,128,128), 2))
    add('gray.jpg', Image.new('L', (24,24), 200), lambda im: close(px(im,(5,5)), (200,200,200), 6))
    rgba = Image.new('RGBA', (24,24), (255,0,0,0))  # left half fully transparent red, right half opaque blue
    rgba.paste((0,0,255,255), (12,0,24,24))
    add('rgba.png', rgba, lambda im: close(px(im,(3,3)), (255,255,255), 2) and close(px(im,(20,3)), (0,0,255), 2))
    pal = Image.new('P', (24,24), 0)
    pal.putpalette([0,0,0, 0,200,0] + [0]*(3*254))
    pal.paste(1, (0,12,24,24))  # top: colour 0 (transparent), bottom: colour 1 (green)
    add('palette.png', pal, lambda im: close(px(im,(3,3)), (255,255,255), 2) and close(px(im,(3,20)), (0,200,0), 2), transparency=0)
    add('cmyk.jpg', Image.new('CMYK', (24,24), (0,255,255,0)), lambda im: close(px(im,(5,5)), (255,0,0), 60))
    a16 = np.zeros((24,24), np.uint16); a16[:, 12:] = 60000
    im16 = Image.fromarray(a16); assert im16.mode.startswith('I;16')
    add('gray16.png', im16, lambda im: px(im,(3,3))[0] < 30 and px(im,(20,3))[0] > 200)
    rot = Image.new('RGB', (40,20), (255,0,0)); rot.paste((0,0,255), (20,0,40,20))  # stored: left red, right blue
    exif = Image.Exif(); exif[0x0112] = 6  # "rotate 90 CW to display": upright it is 20 wide, 40 high, red on top
    add('exif6.jpg', rot, lambda im: im.size==(20,40) and close(px(im,(10,5)), (255,0,0)) and close(px(im,(10,35)), (0,0,255)), exif=exif)
    add('tiny8.png', Image.new('RGB', (8,8), (10,200,30)), lambda im: im.size==(8,8) and close(px(im,(4,4)), (10,200,30), 2))
    return res

UNICODE_NAMES = ('my pizza slice ñ 寿司 🍕.jpg', 'steak – café crème.jpg')

# ---------------------------------------------------------------- the shared training run

@pytest.fixture(scope='session')
def trained(tmp_path_factory):
    "One 2-epoch training on a data set with broken files, odd images and non-ASCII file names."
    root = tmp_path_factory.mktemp('trained')
    data = make_dataset(root/'data', classes=('pizza','steak'), n_train=4, n_test=2, size=32)
    bad = make_bad_files(data/'train'/'pizza', data/'test'/'steak')
    odd_train = make_odd_images(data/'train'/'pizza')
    odd = {k: v[0] for k,v in odd_train.items()}
    for k in ('palette.png', 'exif6.jpg', 'tiny8.png', 'cmyk.jpg'):  # some odd images in the test set too
        shutil.copy(odd[k], data/'test'/'steak'/f'test_{k}')
    uni_train = data/'train'/'pizza'/UNICODE_NAMES[0]; shutil.copy(data/'train'/'pizza'/'pizza_0.jpg', uni_train)
    uni_test = data/'test'/'steak'/UNICODE_NAMES[1]; shutil.copy(data/'test'/'steak'/'steak_0.jpg', uni_test)
    before = tree_state(data)
    with pytest.MonkeyPatch.context() as mp:
        _set_fastai_home(mp, root/'fastai_home')
        res = train_foodvision(data, epochs=2, out=root/'run', **SEED_KW)
    fastai_cfg.cache_clear()
    return SimpleNamespace(root=root, data=data, bad=bad, odd=odd, uni_train=uni_train, uni_test=uni_test,
                           before=before, after=tree_state(data), res=res, out=root/'run')

# ---------------------------------------------------------------- bad files in the data set

def test_bad_files_are_skipped_and_reported(trained):
    res = trained.res
    skipped = {Path(s.path): s.reason for s in res.skipped}
    assert set(skipped) == set(trained.bad.values())
    for p, why in skipped.items(): assert why.strip() and '\n' not in why, (p, why)
    assert 'empty' in skipped[trained.bad['empty.jpg']] or '0 bytes' in skipped[trained.bad['empty.jpg']]
    for n in ('notes.txt', '.DS_Store'): assert 'not an image' in skipped[trained.bad[n]]
    used = set(map(Path, list(res.learn.dls.train_ds.items) + list(res.learn.dls.valid_ds.items)))
    assert not used & set(trained.bad.values())
    n_test_images = sum(1 for p in (trained.data/'test').rglob('*') if p.is_file()) - 2  # minus empty.jpg, garbage.jpg
    assert res.n_test == n_test_images == len(res.learn.dls.valid_ds)
    assert len(res.history) == 2 and all(np.isfinite(h['train_loss']) for h in res.history)

def test_metrics_json_lists_skipped_files(trained):
    m = json.loads((trained.out/'metrics.json').read_text())
    sk = {Path(s['path']): s['reason'] for s in m['skipped']}
    assert set(sk) == set(trained.bad.values())
    assert all(isinstance(r, str) and r.strip() for r in sk.values())

def test_user_data_folder_is_never_changed(trained):
    "Nothing deleted, moved, rewritten or added in the data folder by a training run."
    assert trained.after == trained.before
    assert all(p.exists() for p in trained.bad.values())

def test_on_bad_error_raises(trained, tmp_path):
    before = tree_state(trained.data)
    with pytest.raises(FoodVisionError) as ei:
        train_foodvision(trained.data, epochs=1, out=tmp_path/'run', on_bad='error', **SEED_KW)
    msg = one_line_naming(ei.value)
    assert any(str(p) in msg for p in trained.bad.values()), msg
    assert not (tmp_path/'run'/'checkpoint.pth').exists() and not (tmp_path/'run'/'model.safetensors').exists()
    assert tree_state(trained.data) == before
    with pytest.raises(FoodVisionError): scan_images(trained.data, on_bad='error')
    with pytest.raises(FoodVisionError): scan_images(trained.data, on_bad='ignore')

@pytest.mark.parametrize('name', ['truncated.jpg', 'garbage.jpg', 'empty.jpg', 'text.png', '.DS_Store', 'notes.txt'])
def test_image_problem_names_a_reason(tmp_path, name):
    d = tmp_path/'cls'; d.mkdir()
    p = make_bad_files(d, d)[name]
    why = image_problem(p)
    assert isinstance(why, str) and why.strip() and '\n' not in why

# ---------------------------------------------------------------- unusual but valid images

@pytest.mark.parametrize('name', ['gray.png', 'gray.jpg', 'rgba.png', 'palette.png', 'cmyk.jpg', 'gray16.png', 'exif6.jpg', 'tiny8.png'])
def test_odd_image_opens_rgb_upright(tmp_path, name):
    "Each works (8-bit RGB, upright, transparency over white) or is skipped with a reason; these common kinds must work."
    path, check = make_odd_images(tmp_path/'imgs')[name]
    why = image_problem(path)
    if name=='gray16.png' and why is not None:  # allowed: skipped, with a one-line reason
        assert why.strip() and '\n' not in why; return
    assert why is None, why
    im = FoodImage.create(path)
    assert im.mode=='RGB', im.mode
    assert check(im), f'{name}: wrong pixels/size {im.size} {np.asarray(im)[0,0]}'
    x = item_pipeline(32)(path)
    assert tuple(x.shape)==(3,32,32) and x.dtype==torch.uint8

def test_odd_images_used_in_training(trained):
    used = set(map(Path, list(trained.res.learn.dls.train_ds.items) + list(trained.res.learn.dls.valid_ds.items)))
    skipped = {Path(s.path): s.reason for s in trained.res.skipped}
    for name, p in trained.odd.items():
        assert p in used or (p in skipped and skipped[p].strip()), name
    for name in ('gray.png', 'rgba.png', 'palette.png', 'cmyk.jpg', 'exif6.jpg', 'tiny8.png'): assert trained.odd[name] in used
    x, y = trained.res.learn.dls.valid.one_batch()
    assert x.shape[1:] == (3,32,32)

def test_huge_image_is_skipped_with_reason(tmp_path, monkeypatch):
    "Beyond Pillow's decompression-bomb limit (made small here): skipped with a reason, not a crash."
    monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', 64*64)
    data = make_dataset(tmp_path/'data', classes=('a','b'), n_train=2, n_test=1, size=32)  # 1024 px: fine
    big = data/'train'/'a'/'huge.png'; Image.new('RGB', (200,200), (1,2,3)).save(big)     # > 2x limit: error in Pillow
    warn = data/'test'/'b'/'bigish.png'; Image.new('RGB', (80,80), (1,2,3)).save(warn)   # 1x..2x limit: warning in Pillow
    for p in (big, warn):
        why = image_problem(p)
        assert why and '\n' not in why and ('large' in why or 'pixels' in why.lower()), why
    dls = foodvision_dls(data, size=32, bs=2, augment=False, device='cpu')
    assert {Path(s.path) for s in dls.skipped} == {big, warn}
    assert len(dls.valid_ds)==2 and dls.valid.one_batch()[0].shape[1:]==(3,32,32)

# ---------------------------------------------------------------- wrong layouts

def _zip_folder(folder:Path, zpath:Path, prefix=''):
    with zipfile.ZipFile(zpath, 'w') as z:
        for p in sorted(folder.rglob('*')):
            if p.is_file(): z.write(p, prefix + str(p.relative_to(folder)))
    return zpath

def _layout(kind:str, tmp:Path)->tuple[Path, list]:
    "Build a broken data set of `kind`; returns what to pass to get_data and what its message must name."
    root = tmp/'data set'
    if kind=='missing': return root, [root]
    make_dataset(root, classes=('pizza','steak'), n_train=1, n_test=1, size=16)
    if kind=='no_train': shutil.rmtree(root/'train')
    elif kind=='no_test': shutil.rmtree(root/'test')
    elif kind=='class_only_in_train':
        make_dataset(tmp/'x', classes=('sushi',), n_train=1, n_test=0, size=16); shutil.move(tmp/'x'/'train'/'sushi', root/'train'/'sushi')
        return root, [root, 'sushi']
    elif kind=='class_only_in_test':
        make_dataset(tmp/'x', classes=('sushi',), n_train=0, n_test=1, size=16); shutil.move(tmp/'x'/'test'/'sushi', root/'test'/'sushi')
        return root, [root, 'sushi']
    elif kind=='empty_class': (root/'train'/'sushi').mkdir(); (root/'test'/'sushi').mkdir(); return root, [root/'train'/'sushi']
    elif kind=='class_of_non_images':
        for s in ('train','test'): (root/s/'sushi').mkdir(); (root/s/'sushi'/'notes.txt').write_text('x')
        return root, [root/'train'/'sushi']
    elif kind=='single_class': shutil.rmtree(root/'train'/'steak'); shutil.rmtree(root/'test'/'steak')
    elif kind=='images_in_train': shutil.copy(root/'train'/'pizza'/'pizza_0.jpg', root/'train'/'loose.jpg'); return root, [root/'train', 'loose.jpg']
    elif kind=='not_a_zip': z = tmp/'data.zip'; z.write_bytes(b'PK this is not really a zip'); return z, [z]
    elif kind=='cut_zip':
        z = _zip_folder(root, tmp/'cut.zip'); b = z.read_bytes(); z.write_bytes(b[:len(b)//2]); return z, [z]
    elif kind=='file_not_zip': return root/'train'/'pizza'/'pizza_0.jpg', [root/'train'/'pizza'/'pizza_0.jpg']
    else: raise ValueError(kind)
    return root, [root]

LAYOUTS = ['missing', 'no_train', 'no_test', 'class_only_in_train', 'class_only_in_test', 'empty_class',
           'class_of_non_images', 'single_class', 'images_in_train', 'not_a_zip', 'cut_zip', 'file_not_zip']

@pytest.mark.parametrize('kind', LAYOUTS)
def test_wrong_layout_one_line_error(tmp_path, kind):
    src, names = _layout(kind, tmp_path)
    user = lambda: {k: v for k,v in tree_state(tmp_path).items() if not k.startswith('fastai_home')}
    before = user()
    with pytest.raises(FoodVisionError) as ei: get_data(src, quiet=True)
    one_line_naming(ei.value, *names)
    assert user() == before  # the user's folder or zip is left as it was
    fh = tmp_path/'fastai_home'
    if fh.exists(): assert not partials(fh), partials(fh)

def test_wrong_layout_fails_before_training(tmp_path):
    src, names = _layout('class_only_in_test', tmp_path)
    with pytest.raises(FoodVisionError) as ei: train_foodvision(src, epochs=1, out=tmp_path/'run', **SEED_KW)
    one_line_naming(ei.value, *names)
    assert not (tmp_path/'run').exists()

def test_zip_with_wrong_layout_names_the_zip(tmp_path):
    (tmp_path/'stuff').mkdir(); (tmp_path/'stuff'/'readme.txt').write_text('hello')
    z = _zip_folder(tmp_path/'stuff', tmp_path/'wrong.zip', prefix='stuff/')
    with pytest.raises(FoodVisionError) as ei: get_data(z, quiet=True)
    msg = one_line_naming(ei.value)
    assert 'partial' not in msg and ('wrong.zip' in msg or str(z) in msg), msg

def test_zip_of_a_good_folder_works_and_is_reused(tmp_path):
    root = make_dataset(tmp_path/'ds', classes=('a','b'), n_train=1, n_test=1, size=16)
    z = _zip_folder(root, tmp_path/'ds.zip', prefix='ds/')
    p1 = get_data(z, quiet=True)
    assert check_layout(p1) == ['a','b'] and (tmp_path/'ds.zip').exists()
    t = (p1/'train'/'a'/'a_0.jpg').stat().st_mtime_ns
    assert get_data(z, quiet=True) == p1 and (p1/'train'/'a'/'a_0.jpg').stat().st_mtime_ns == t

# ---------------------------------------------------------------- downloads from a local server

@pytest.fixture
def server():
    "An http.server on 127.0.0.1 in a thread; `routes[path](hit_number) -> (body, 'ok'|'cut')`; always shut down."
    routes, hits = {}, Counter()
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def do_GET(self):
            hits[self.path] += 1
            if self.path not in routes: self.send_error(404); return
            body, how = routes[self.path](hits[self.path])
            self.send_response(200)
            self.send_header('Content-Type', 'application/zip')
            if how=='cut':  # announce more than is sent, send half, close
                self.send_header('Content-Length', str(len(body))); self.end_headers()
                self.wfile.write(body[:len(body)//2]); self.wfile.flush()
                self.close_connection = True
                try: self.connection.shutdown(socket.SHUT_RDWR)
                except OSError: pass
            else:
                self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)
    srv = ThreadingHTTPServer(('127.0.0.1', 0), Handler); srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True); t.start()
    try: yield SimpleNamespace(url=f'http://127.0.0.1:{srv.server_address[1]}', routes=routes, hits=hits)
    finally:
        srv.shutdown(); srv.server_close(); t.join(10)

@pytest.fixture
def zip_bytes(tmp_path):
    root = make_dataset(tmp_path/'srv'/'fv', classes=('a','b'), n_train=1, n_test=1, size=16)
    return _zip_folder(root, tmp_path/'srv'/'fv.zip', prefix='fv/').read_bytes()

def _archive(): return Path(os.environ['FASTAI_HOME'])/'archive'

def test_download_works_and_is_reused(server, zip_bytes):
    server.routes['/good.zip'] = lambda n: (zip_bytes, 'ok')
    p = get_data(server.url+'/good.zip', quiet=True)
    assert check_layout(p) == ['a','b']
    assert get_data(server.url+'/good.zip', quiet=True) == p
    assert server.hits['/good.zip'] == 1

def test_cut_off_download_is_an_error_and_never_reused(server, zip_bytes):
    url = server.url+'/cut.zip'
    server.routes['/cut.zip'] = lambda n: (zip_bytes, 'cut')
    for i in (1, 2):  # the second call downloads again: no partial file is taken for the zip
        with pytest.raises(FoodVisionError) as ei: get_data(url, quiet=True)
        one_line_naming(ei.value, url)
        assert server.hits['/cut.zip'] == i
        assert not (_archive()/'cut.zip').exists()
        assert not (Path(os.environ['FASTAI_HOME'])/'data'/'cut').exists()

def test_download_after_a_cut_off_one_succeeds(server, zip_bytes):
    url = server.url+'/flaky.zip'
    server.routes['/flaky.zip'] = lambda n: (zip_bytes, 'cut' if n==1 else 'ok')
    with pytest.raises(FoodVisionError): get_data(url, quiet=True)
    p = get_data(url, quiet=True)
    assert check_layout(p) == ['a','b'] and server.hits['/flaky.zip'] == 2
    assert (_archive()/'flaky.zip').read_bytes() == zip_bytes

def test_download_of_a_non_zip_is_an_error_and_not_kept(server):
    server.routes['/notzip.zip'] = lambda n: (b'<html>not found</html>', 'ok')
    url = server.url+'/notzip.zip'
    for i in (1, 2):
        with pytest.raises(FoodVisionError) as ei: get_data(url, quiet=True)
        one_line_naming(ei.value, 'notzip.zip')
        assert server.hits['/notzip.zip'] == i and not (_archive()/'notzip.zip').exists()

@pytest.mark.parametrize('kind', ['404', 'refused'])
def test_failed_download_one_line_error(server, kind):
    url = server.url+'/missing.zip' if kind=='404' else f'http://127.0.0.1:{free_port()}/data.zip'
    t = time.perf_counter()
    with pytest.raises(FoodVisionError) as ei: get_data(url, quiet=True)
    one_line_naming(ei.value, url)
    assert time.perf_counter()-t < 30
    arch = _archive()
    assert not arch.exists() or not [p for p in arch.iterdir() if p.suffix=='.zip']

# ---------------------------------------------------------------- file names with spaces and non-ASCII characters

def test_unicode_file_names_train_and_predict(trained):
    items = set(map(Path, list(trained.res.learn.dls.train_ds.items) + list(trained.res.learn.dls.valid_ds.items)))
    assert {trained.uni_train, trained.uni_test} <= items
    preds = predict(trained.out, [trained.uni_train, trained.uni_test])
    assert [p.image for p in preds] == [str(trained.uni_train), str(trained.uni_test)]
    assert all(p.label in ('pizza','steak') and 0 <= p.prob <= 1 for p in preds)

# ---------------------------------------------------------------- bad model files

def _model_copy(trained, d:Path)->Path:
    d.mkdir(parents=True, exist_ok=True)
    for f in ('model.safetensors', 'model.json'): shutil.copy(trained.out/f, d/f)
    return d

def _bad_model(kind:str, trained, tmp:Path)->tuple[Path, list]:
    "A broken model of `kind`: (what to pass to load_model, what the message must name)."
    d = _model_copy(trained, tmp/'model dir')
    w, c = d/'model.safetensors', d/'model.json'
    cfg = json.loads(c.read_text())
    if kind=='truncated': b = w.read_bytes(); w.write_bytes(b[:len(b)//2])
    elif kind=='empty_weights': w.write_bytes(b'')
    elif kind=='pickle_as_safetensors': torch.save(trained.res.learn.model.state_dict(), w)
    elif kind=='random_pkl': p = tmp/'model.pkl'; p.write_bytes(np.random.default_rng(0).bytes(2000)); return p, [p]
    elif kind=='fastai_export': return trained.out/'model.pkl', ['model.pkl']  # a pickle: must be refused, never unpickled
    elif kind=='random_json': p = tmp/'random.json'; p.write_text('{"hello": [1, 2]}'); return p, [tmp]
    elif kind=='config_not_json': c.write_text('not json {')
    elif kind=='config_other_format': c.write_text(json.dumps({'hello': 1}))
    elif kind=='other_classes': cfg['vocab'] = ['pizza','steak','sushi']; c.write_text(json.dumps(cfg))
    elif kind=='other_arch': cfg['arch'] = 'resnet18'; c.write_text(json.dumps(cfg))
    elif kind=='missing_config': c.unlink()
    elif kind=='missing_folder': return tmp/'nope', [tmp/'nope']
    else: raise ValueError(kind)
    return d, [d]

MODEL_KINDS = ['truncated', 'empty_weights', 'pickle_as_safetensors', 'random_pkl', 'fastai_export', 'random_json',
               'config_not_json', 'config_other_format', 'other_classes', 'other_arch', 'missing_config', 'missing_folder']

@pytest.mark.parametrize('kind', MODEL_KINDS)
def test_bad_model_one_clear_error(trained, tmp_path, kind):
    src, names = _bad_model(kind, trained, tmp_path)
    with pytest.raises(FoodVisionError) as ei: load_model(src)
    one_line_naming(ei.value, *names)
    with pytest.raises(FoodVisionError): predict(src, trained.uni_test)

def test_model_for_other_classes_is_refused(trained, tmp_path):
    src, _ = _bad_model('other_classes', trained, tmp_path)
    with pytest.raises(FoodVisionError) as ei: load_model(src)
    assert 'class' in str(ei.value)

@pytest.fixture(scope='session')
def loaded_model(trained): return load_model(trained.out)

def _bad_image(kind:str, tmp:Path):
    d = tmp/'imgs'; d.mkdir(parents=True, exist_ok=True)
    if kind=='missing': return d/'no such.jpg'
    if kind=='notes_txt': (d/'notes.txt').write_text('hello'); return d/'notes.txt'
    if kind=='text_as_jpg': (d/'fake.jpg').write_text('hello'); return d/'fake.jpg'
    if kind=='empty_jpg': (d/'empty.jpg').write_bytes(b''); return d/'empty.jpg'
    if kind=='truncated_jpg': b = _jpeg_bytes(); (d/'cut.jpg').write_bytes(b[:len(b)//2]); return d/'cut.jpg'
    if kind=='folder': return d
    raise ValueError(kind)

@pytest.mark.parametrize('kind', ['missing', 'notes_txt', 'text_as_jpg', 'empty_jpg', 'truncated_jpg', 'folder'])
def test_predict_bad_image_one_clear_error(trained, loaded_model, tmp_path, kind):
    p, model = _bad_image(kind, tmp_path), loaded_model
    with pytest.raises(FoodVisionError) as ei: predict(model, p)
    one_line_naming(ei.value, p)
    with pytest.raises(FoodVisionError) as ei: predict(model, [trained.uni_test, p])  # one bad image in a list
    one_line_naming(ei.value, p)

def test_predict_empty_list(loaded_model):
    model = loaded_model
    for empty in ([], ()):
        with pytest.raises(FoodVisionError) as ei: predict(model, empty)
        one_line_naming(ei.value)

# ---------------------------------------------------------------- console scripts: one line on stderr, exit code 2

@pytest.fixture(scope='session')
def cli_runs(trained, tmp_path_factory):
    "All console-script cases started at once (each pays for importing torch and fastai), then collected."
    tmp = tmp_path_factory.mktemp('cli')
    good = _model_copy(trained, tmp/'good model')
    models = {k: _bad_model(k, trained, tmp/k)[0] for k in ('truncated', 'random_pkl', 'other_classes')}
    imgs = {k: _bad_image(k, tmp/k) for k in ('missing', 'notes_txt')}
    prev_run = tmp/'previous run'; shutil.copytree(trained.out, prev_run)
    small = make_dataset(tmp/'small data', classes=('a','b'), n_train=2, n_test=1, size=32)
    P, T = cli('foodvision_predict'), cli('foodvision_train')
    cases = {
        'predict_ok_unicode': [P, '--model', good, trained.uni_train, trained.uni_test],
        'predict_truncated_model': [P, '--model', models['truncated'], trained.uni_test],
        'predict_pkl_model': [P, '--model', models['random_pkl'], trained.uni_test],
        'predict_other_classes_model': [P, '--model', models['other_classes'], trained.uni_test],
        'predict_missing_image': [P, '--model', good, imgs['missing']],
        'predict_not_an_image': [P, '--model', good, trained.uni_test, imgs['notes_txt']],
        'predict_no_images': [P, '--model', good],
        'train_existing_out': [T, '--data', small, '--size', 32, '--bs', 4, '--epochs', 1, '--out', prev_run, '--quiet'],
    }
    env = cli_env(tmp/'fastai_home')
    before = tree_state(prev_run)
    started = {k: start(cmd, tmp/'logs', k, env) for k, cmd in cases.items()}
    res = {k: finish(r) for k, r in started.items()}
    return SimpleNamespace(res=res, models=models, imgs=imgs, prev_run=prev_run, prev_before=before, tmp=tmp, good=good)

def test_cli_predict_works_with_unicode_names(cli_runs, trained):
    r = cli_runs.res['predict_ok_unicode']
    assert r.rc == 0, r.stderr[-2000:]
    assert trained.uni_train.name in r.stdout and trained.uni_test.name in r.stdout

@pytest.mark.parametrize('case,what', [('predict_truncated_model', 'truncated'), ('predict_pkl_model', 'random_pkl'),
                                       ('predict_other_classes_model', 'other_classes')])
def test_cli_predict_bad_model(cli_runs, case, what):
    assert_cli_error(cli_runs.res[case], cli_runs.models[what])
    assert cli_runs.res[case].stdout.strip() == ''

@pytest.mark.parametrize('case,what', [('predict_missing_image', 'missing'), ('predict_not_an_image', 'notes_txt')])
def test_cli_predict_bad_image(cli_runs, case, what):
    assert_cli_error(cli_runs.res[case], cli_runs.imgs[what])
    assert cli_runs.res[case].stdout.strip() == ''

def test_cli_predict_no_images(cli_runs):
    assert_cli_error(cli_runs.res['predict_no_images'])

def test_cli_train_existing_out_is_not_overwritten(cli_runs):
    assert_cli_error(cli_runs.res['train_existing_out'], cli_runs.prev_run)
    assert tree_state(cli_runs.prev_run) == cli_runs.prev_before

def test_cli_stderr_is_exactly_one_line(cli_runs, killed):
    for name, r in list(cli_runs.res.items()) + list(killed.res.items()):
        if name.endswith('_ok_unicode'): assert r.stderr.strip() == '', (name, r.stderr)
        else: assert len(r.stderr.strip().splitlines()) == 1, (name, r.stderr)

# ---------------------------------------------------------------- weights not available offline

def test_arch_without_offline_weights(tmp_path, monkeypatch):
    th = tmp_path/'torch home'; th.mkdir(); monkeypatch.setenv('TORCH_HOME', str(th))
    assert str(weights_file('efficientnet_b0')).startswith(str(th))
    data = make_dataset(tmp_path/'data', classes=('a','b'), n_train=2, n_test=1, size=32)
    with pytest.raises(FoodVisionError) as ei: ensure_weights('efficientnet_b0', quiet=True)
    one_line_naming(ei.value, 'efficientnet_b0', weights_file('efficientnet_b0'))
    with pytest.raises(FoodVisionError) as ei: train_foodvision(data, arch='efficientnet_b0', epochs=1, out=tmp_path/'run', **SEED_KW)
    one_line_naming(ei.value, 'efficientnet_b0')
    assert not [p for p in th.rglob('*') if p.is_file()], list(th.rglob('*'))
    assert not (tmp_path/'run'/'checkpoint.pth').exists()

def test_weights_path_that_is_not_the_weights(tmp_path, monkeypatch):
    th = tmp_path/'torch home'; th.mkdir(); monkeypatch.setenv('TORCH_HOME', str(th))
    fake = tmp_path/'fake.pth'; fake.write_bytes(b'not weights')
    for wp in (fake, tmp_path/'missing.pth'):
        with pytest.raises(FoodVisionError) as ei: ensure_weights('efficientnet_b0', weights_path=wp, quiet=True)
        one_line_naming(ei.value, wp)
    assert not [p for p in th.rglob('*') if p.is_file()]

# ---------------------------------------------------------------- checkpoints, interrupts, resume

def test_checkpoint_written_each_run_without_partials(trained):
    ck = trained.out/'checkpoint.pth'
    assert ck.exists() and not partials(trained.out)
    state = torch.load(ck, weights_only=False, map_location='cpu')
    assert state['epoch'] == 2 and [h['epoch'] for h in state['history']] == [1, 2]

def test_checkpoint_loads_with_weights_only(trained):
    state = torch.load(trained.out/'checkpoint.pth', weights_only=True, map_location='cpu')
    assert state['epoch'] == 2

@pytest.fixture(scope='session')
def killed(tmp_path_factory):
    "Two `foodvision_train --epochs 30` runs, stopped by SIGTERM and SIGINT once their first checkpoint appears."
    tmp = tmp_path_factory.mktemp('killed')
    data = make_dataset(tmp/'data', classes=('a','b'), n_train=4, n_test=2, size=32)
    env = cli_env(tmp/'fastai_home')
    runs = {}
    for sig in ('SIGTERM', 'SIGINT'):
        out = tmp/f'run {sig}'
        cmd = [cli('foodvision_train'), '--data', data, '--size', 32, '--bs', 4, '--epochs', 30, '--out', out, '--quiet']
        runs[sig] = (out, start(cmd, tmp/'logs', sig, env))
    t0, pending = time.monotonic(), set(runs)
    while pending and time.monotonic()-t0 < 400:
        for sig in list(pending):
            out, r = runs[sig]
            if (out/'checkpoint.pth').exists(): r.proc.send_signal(getattr(signal, sig)); pending.discard(sig)
            elif r.proc.poll() is not None: pending.discard(sig)
        time.sleep(0.1)
    res = {sig: SimpleNamespace(out=out, **vars(finish(r, 120))) for sig, (out, r) in runs.items()}
    return SimpleNamespace(tmp=tmp, data=data, env=env, res=res)

@pytest.mark.parametrize('sig', ['SIGTERM', 'SIGINT'])
def test_cli_interrupt_exits_130_and_keeps_checkpoint(killed, sig):
    r = killed.res[sig]
    assert r.rc == 130, f'rc={r.rc} stderr={r.stderr[-2000:]}'
    lines = r.stderr.strip().splitlines()
    assert 'Traceback' not in r.stderr and lines[-1].startswith('interrupted'), r.stderr[-2000:]
    assert sum('interrupted' in l for l in lines) == 1 and '--resume' in lines[-1] and str(r.out) in lines[-1], r.stderr[-2000:]
    assert (r.out/'checkpoint.pth').exists() and not partials(r.out), list(r.out.iterdir())
    state = torch.load(r.out/'checkpoint.pth', weights_only=False, map_location='cpu')
    assert 1 <= state['epoch'] < 30 and [h['epoch'] for h in state['history']] == list(range(1, state['epoch']+1))

@pytest.mark.parametrize('sig', ['SIGTERM', 'SIGINT'])
def test_cli_interrupt_checkpoint_loads_weights_only(killed, sig):
    torch.load(killed.res[sig].out/'checkpoint.pth', weights_only=True, map_location='cpu')

def test_cli_resume_after_sigterm_continues(killed):
    out = killed.res['SIGTERM'].out
    assert killed.res['SIGTERM'].rc == 130
    before = torch.load(out/'checkpoint.pth', weights_only=False, map_location='cpu')
    k = before['epoch']
    cmd = [cli('foodvision_train'), '--data', killed.data, '--size', 32, '--bs', 4, '--epochs', k+1, '--out', out, '--resume', '--quiet']
    r = finish(start(cmd, killed.tmp/'logs', 'resume', killed.env), 300)
    assert r.rc == 0, r.stderr[-3000:]
    hist = json.loads((out/'metrics.json').read_text())['history']
    assert [h['epoch'] for h in hist] == list(range(1, k+2))
    assert hist[:k] == before['history']
    assert torch.load(out/'checkpoint.pth', weights_only=True)['epoch'] == k+1
    assert not partials(out)

def test_resume_history_continues(trained, tmp_path, monkeypatch):
    "In-process resume, with the weights_only bug worked around, to check the history by itself."
    real_load = torch.load
    monkeypatch.setattr(torch, 'load', lambda *a, **k: real_load(*a, **{**k, 'weights_only': False}))
    out = tmp_path/'run'; shutil.copytree(trained.out, out)
    res = train_foodvision(trained.data, epochs=3, out=out, resume=True, **SEED_KW)
    assert [h['epoch'] for h in res.history] == [1, 2, 3]
    assert res.history[:2] == trained.res.history
    assert all('train_loss' in h for h in res.history)

def test_resume_without_checkpoint_is_an_error(tmp_path):
    (tmp_path/'run').mkdir()
    with pytest.raises(FoodVisionError) as ei: prepare_out(tmp_path/'run', 'mobilenet_v2', resume=True)
    one_line_naming(ei.value, tmp_path/'run')

# ---------------------------------------------------------------- repeated runs

def test_previous_run_is_never_overwritten_silently(trained, tmp_path):
    out = tmp_path/'run'; shutil.copytree(trained.out, out)
    before = tree_state(out)
    with pytest.raises(FoodVisionError) as ei: train_foodvision(trained.data, epochs=1, out=out, **SEED_KW)
    one_line_naming(ei.value, out)
    with pytest.raises(FoodVisionError): prepare_out(out, 'mobilenet_v2')
    assert tree_state(out) == before
    (tmp_path/'file').write_text('x')
    with pytest.raises(FoodVisionError) as ei: prepare_out(tmp_path/'file', 'mobilenet_v2', overwrite=True)
    one_line_naming(ei.value, tmp_path/'file')
    assert prepare_out(out, 'mobilenet_v2', overwrite=True) == out  # allowed when asked for

def test_same_seed_same_result_on_cpu(trained, tmp_path):
    if trained.res.learn.dls.device.type != 'cpu': pytest.skip('the same-seed guarantee is for CPU runs')
    res = train_foodvision(trained.data, epochs=2, out=tmp_path/'run', **SEED_KW)
    a, b = trained.res, res
    assert a.test_accuracy == b.test_accuracy and a.n_correct == b.n_correct
    assert abs(a.test_loss - b.test_loss) < 1e-6
    assert len(a.history) == len(b.history) == 2
    for ha, hb in zip(a.history, b.history):
        for k in ('train_loss', 'valid_loss', 'accuracy'): assert abs(ha[k]-hb[k]) < 1e-6, (k, ha, hb)
