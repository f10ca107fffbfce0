"""Issue 6, the demo: `foodvision_demo` serves a real model on a free loopback port; headless Chromium drops photos on the page
(the custom photo, an example, bad files) and the HTTP API is asked with gradio_client. The page may only talk to 127.0.0.1.
Issue 16: the page shows the heatmap beside the probabilities, and `foodvision_demo --bundle` writes a folder for Hugging Face
Spaces whose app.py is served from a Python that cannot import foodvision_fastai, torch or fastai.

Processes only where they are the point: the demo server (the console script, as a user starts it), the bundle's server and
`predict_onnx.py` (a Python without the package), the browser. The bundle is written in this process (`call_command`), once for
the module, and its server is started once for the tests that ask it.

Set FOODVISION_UPDATE_SCREENSHOT=1 to also copy the screenshot to nbs/images/demo.png (the README's picture)."""
from __future__ import annotations
import contextlib, json, os, re, shutil, site, struct, subprocess, sys, time, urllib.request, warnings, zlib
from pathlib import Path

import pytest
from PIL import Image
from foodvision_fastai.test_utils import call_command, free_port

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- fixtures

def wait_until_serving(proc, url:str, log:Path, timeout:float=180):
    t0 = time.time()
    while time.time()-t0 < timeout:
        if proc.poll() is not None: pytest.fail(f"the server exited with {proc.returncode}: {(log/'stderr').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200: return
        except OSError: time.sleep(0.5)
    pytest.fail(f"the server did not answer on {url} within {timeout} s")

LOCAL = {'NO_PROXY': '127.0.0.1,localhost', 'no_proxy': '127.0.0.1,localhost'}

@contextlib.contextmanager
def serving(cmd:list, port:int, log:Path, **kwargs):
    "Start the server `cmd` (output in `log`), wait until it answers on `port`; stopped (SIGTERM, then kill) at the end."
    proc = subprocess.Popen(cmd, stdout=open(log/'stdout', 'w'), stderr=open(log/'stderr', 'w'), text=True, **kwargs)
    url = f'http://127.0.0.1:{port}/'
    try:
        wait_until_serving(proc, url, log)
        yield url, proc, log
    finally:
        proc.terminate()
        try: proc.wait(30)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait()

@pytest.fixture(scope='module')
def server(mini_run, shared, tmp_path_factory):
    "`foodvision_demo` as a user starts it, on a free loopback port."
    port, log = free_port(), tmp_path_factory.mktemp('server')
    env = {**os.environ, **LOCAL, 'FOODVISION_DATA': str(shared/'pizza_steak_sushi.zip'),
           'FOODVISION_CUSTOM_IMAGE': str(shared/'custom'/'04-pizza-dad.jpeg'), 'GRADIO_TEMP_DIR': str(log/'gradio')}
    with serving([str(Path(sys.executable).parent/'foodvision_demo'), '--model', mini_run, '--port', str(port)], port, log, env=env) as s: yield s

@pytest.fixture(scope='module')
def bad_files(tmp_path_factory, shared):
    "Uploads that are not usable photos: text, a truncated JPEG, and a PNG whose header claims 20000x20000 pixels."
    d = tmp_path_factory.mktemp('bad')
    (d/'notes.txt').write_text('not a photo')
    (d/'truncated.jpg').write_bytes((shared/'custom'/'04-pizza-dad.jpeg').read_bytes()[:2000])
    (d/'bomb.png').write_bytes(png_header_only(20000, 20000))
    return d

def png_header_only(w:int, h:int)->bytes:
    "A tiny PNG file that claims `w`x`h` pixels: Pillow refuses it as a decompression bomb before decoding."
    def chunk(kind, data): return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind+data))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(b'\0'*64)) + chunk(b'IEND', b''))

# ---------------------------------------------------------------- the command

# ---------------------------------------------------------------- the HTTP API

def model_side(run)->int: return json.loads((run/'model.json').read_text())['size']  # the model's input side

def test_http_api(server, shared, bad_files, mini_run):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError
    url, proc, log = server
    assert 'http://127.0.0.1:' in (log/'stdout').read_text(), 'listens on loopback by default'
    client = Client(url, verbose=False)
    label, line, heat = client.predict(handle_file(str(shared/'custom'/'04-pizza-dad.jpeg')), api_name='/predict')
    assert label['label'] == 'pizza', label
    with Image.open(heat) as im: assert im.size == (model_side(mini_run),)*2, im.size  # the Grad-CAM picture, at the model's input size
    probs = {c['label']: c['confidence'] for c in label['confidences']}
    assert set(probs) == {'pizza', 'steak', 'sushi'} and abs(sum(probs.values())-1) < 1e-4
    assert 'predicted in' in line and 'pizza' in line, line
    for name, words in (('notes.txt', 'not an image file'), ('truncated.jpg', 'cannot be read as an image'), ('bomb.png', 'too large for Pillow')):
        with pytest.raises(AppError, match=words) as e: client.predict(handle_file(str(bad_files/name)), api_name='/predict')
        msg = str(e.value)
        assert len(msg.splitlines()) == 1 and msg.startswith(name), msg  # the file's name, never the server's paths
    assert client.predict(handle_file(str(shared/'custom'/'04-pizza-dad.jpeg')), api_name='/predict')[0]['label'] == 'pizza'
    assert proc.poll() is None, 'the server keeps serving after bad uploads'
    log_lines = (log/'stderr').read_text().splitlines()
    assert 'Traceback' not in '\n'.join(log_lines), 'a bad upload is one line in the server log, not a traceback'
    for name in ('notes.txt', 'truncated.jpg', 'bomb.png'): assert sum(l.startswith(f'bad upload: {name}') for l in log_lines) == 1, (name, log_lines)

# ---------------------------------------------------------------- the page in a browser


def upload(page, path):
    page.wait_for_selector('input[type=file]', state='attached', timeout=60_000)
    page.set_input_files('input[type=file]', str(path))

def dropped_photo(server, page, shared, tmp_path, mini_run):
    "The custom photo dropped on the page: its class, its probabilities and the heatmap at the model's input size."
    url = server[0]
    page.goto(url)
    upload(page, shared/'custom'/'04-pizza-dad.jpeg')
    page.get_by_text('predicted in').wait_for(timeout=60_000)
    line = page.get_by_text('predicted in').inner_text()
    assert line.startswith('pizza (') and '%)' in line, line
    label = page.locator('[data-testid="label-output-value"]').first.inner_text() if page.locator('[data-testid="label-output-value"]').count() else page.inner_text('body')
    assert 'pizza' in label
    heat = page.locator('#heatmap img').first  # the heatmap beside the probabilities
    heat.wait_for(timeout=60_000)
    page.wait_for_function("() => { const im = document.querySelector('#heatmap img'); return im && im.complete && im.naturalWidth > 0 }", timeout=60_000)
    assert heat.is_visible() and heat.evaluate('im => [im.naturalWidth, im.naturalHeight]') == [model_side(mini_run)]*2
    time.sleep(0.5)  # let the probability bars finish drawing
    shot = tmp_path/'demo.png'
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get('FOODVISION_UPDATE_SCREENSHOT'):
        (REPO/'nbs'/'images').mkdir(exist_ok=True); shutil.copy(shot, REPO/'nbs'/'images'/'demo.png')

def example_click(server, page):
    "The examples: one test image per class and the custom photo; a click on one predicts it."
    page.goto(server[0])
    page.locator('.gallery-item, button.gallery-item, [data-testid="examples"] button').first.wait_for(timeout=60_000)
    n = page.locator('button.gallery-item').count()
    assert n == 4, f'3 test images (one per class) and the custom photo, not {n}'
    page.locator('button.gallery-item').last.click()  # the custom photo
    page.get_by_text('predicted in').wait_for(timeout=60_000)
    assert page.get_by_text('predicted in').inner_text().startswith('pizza (')

def bad_uploads(server, page, bad_files, shared, tmp_path):
    "Each bad file shows a visible message; the page and the server keep working."
    page.goto(server[0])
    for name, words in (('truncated.jpg', 'truncated.jpg: cannot be read as an image'), ('bomb.png', 'bomb.png: too large for Pillow'),
                        ('notes.txt', 'Invalid file type: notes.txt')):  # the browser itself refuses what is not an image
        page.reload()
        upload(page, bad_files/name)
        msg = page.get_by_text(words).first
        msg.wait_for(timeout=60_000)  # until it is visible
        assert msg.is_visible(), name
        page.screenshot(path=str(tmp_path/f'{name}.png'))
    page.reload()
    upload(page, shared/'custom'/'04-pizza-dad.jpeg')
    page.get_by_text('predicted in').wait_for(timeout=60_000)
    assert page.get_by_text('predicted in').inner_text().startswith('pizza (')
    assert server[1].poll() is None

def test_page_in_browser(server, page, bad_files, shared, tmp_path, mini_run):
    "One browser on the page: a dropped photo, a click on an example, bad uploads; none asks a host other than loopback."
    for check, args in ((dropped_photo, (shared, tmp_path, mini_run)), (example_click, ()), (bad_uploads, (bad_files, shared, tmp_path))):
        check(server, page, *args)
        assert page.outside == [], f'{check.__name__}: the page asked hosts other than loopback: {page.outside}'

# ---------------------------------------------------------------- the bundle for Hugging Face Spaces

@pytest.fixture(scope='module')
def bundle(mini_run, shared, tmp_path_factory)->Path:
    """The folder `foodvision_demo --bundle` writes from the real model, with the real data's examples and the custom photo. Made in this
    process (`call_command`: the command's own argument parsing, exit code and output; the server above runs the console script), with
    Python's default warning filters, as a script shows them: none may be shown."""
    from foodvision_fastai.cli import foodvision_demo
    dest = tmp_path_factory.mktemp('bundle')/'space'
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings(record=True) as shown:
        mp.setenv('FOODVISION_CUSTOM_IMAGE', str(shared/'custom'/'04-pizza-dad.jpeg'))
        warnings.resetwarnings(); warnings.simplefilter('default')
        for cat in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning): warnings.simplefilter('ignore', cat)
        r = call_command(foodvision_demo, '--model', mini_run, '--bundle', dest, '--data', shared/'pizza_steak_sushi.zip')
    assert r.rc == 0 and r.stderr == '' and not shown, (r.stderr, [str(w.message) for w in shown])
    size = sum(p.stat().st_size for p in dest.rglob('*') if p.is_file())
    assert r.stdout.startswith(f'bundle:  {dest} (10 files, {size/1e6:.1f} MB)'), r.stdout
    print(f'bundle: {size/1e6:.1f} MB on disk')
    return dest

def test_bundle_files(bundle, mini_run):
    files = sorted(str(p.relative_to(bundle)) for p in bundle.rglob('*') if p.is_file())
    assert [f for f in files if not f.startswith('examples/')] == ['README.md', 'app.py', 'model.json', 'model.onnx', 'predict_onnx.py', 'requirements.txt']
    assert len([f for f in files if f.startswith('examples/')]) == 4, 'one test image per class and the custom photo'
    for f in ('model.onnx', 'model.json'): assert (bundle/f).read_bytes() == (mini_run/f).read_bytes(), f
    reqs = dict(line.split('==') for line in (bundle/'requirements.txt').read_text().split())
    assert list(reqs) == ['onnxruntime', 'gradio', 'pillow', 'numpy'], reqs  # pinned, CPU only: no torch, no fastai
    head = (bundle/'README.md').read_text().split('---\n')[1].splitlines()
    assert {'sdk: gradio', f"sdk_version: {reqs['gradio']}", 'app_file: app.py'} <= set(head), head
    assert any(line.startswith('title: ') for line in head) and any(line.startswith('emoji: ') for line in head), head
    assert 'no heatmap' in (bundle/'README.md').read_text().lower().replace('\n', ' ')

def bundle_env(tmp_path:Path)->dict:
    """An environment for `python -S`, which skips the .pth files, among them the editable install of foodvision_fastai: the venv's
    packages come through PYTHONPATH, behind stand-ins for torch and fastai that refuse to be imported; nothing of the repository."""
    blocked = tmp_path/'blocked'
    for m in ('torch', 'fastai'):
        (blocked/m).mkdir(parents=True); (blocked/m/'__init__.py').write_text(f'raise ImportError("{m} is not part of the bundle")')
    env = {k: v for k, v in os.environ.items() if not k.startswith(('PYTHON', 'FOODVISION'))}
    return {**env, **LOCAL, 'PYTHONPATH': os.pathsep.join([str(blocked), *site.getsitepackages()]), 'PYTHONUNBUFFERED': '1',
            'GRADIO_TEMP_DIR': str(tmp_path/'gradio')}

@pytest.fixture(scope='module')
def bundle_server(bundle, tmp_path_factory):
    "The bundle's app.py served from its folder by a Python without foodvision_fastai, torch or fastai (`bundle_env`); after it stopped, its log has no traceback."
    log = tmp_path_factory.mktemp('bundle_server')
    env, port = bundle_env(log), free_port()
    with serving([sys.executable, '-S', 'app.py'], port, log, cwd=bundle, env={**env, 'GRADIO_SERVER_PORT': str(port), 'GRADIO_SERVER_NAME': '127.0.0.1'}) as s: yield s
    assert 'Traceback' not in (log/'stderr').read_text(), (log/'stderr').read_text()[-3000:]

def test_bundle_app_without_package(bundle, bundle_server, mini_run, shared, tmp_path):
    "The bundle's app.py, served from its folder by a Python without foodvision_fastai, torch or fastai, gives `predict`'s probabilities."
    from gradio_client import Client, handle_file
    from foodvision_fastai.export import load_model
    from foodvision_fastai.inference import predict
    env, py = bundle_env(tmp_path), [sys.executable, '-S']
    for mod, words in (('foodvision_fastai', "No module named 'foodvision_fastai'"), ('torch', 'torch is not part of the bundle'), ('fastai', 'not part of the bundle')):
        r = subprocess.run(py + ['-c', f'import {mod}'], cwd=bundle, env=env, capture_output=True, text=True)
        assert r.returncode == 1 and words in r.stderr, (mod, r.stderr[-500:])
    photo, (url, proc, log) = shared/'custom'/'04-pizza-dad.jpeg', bundle_server
    label, line = Client(url, verbose=False).predict(handle_file(str(photo)), api_name='/predict')
    assert proc.poll() is None
    assert label['label'] == 'pizza' and line.startswith('**pizza** (') and 'predicted in' in line, (label, line)
    got, want = {c['label']: c['confidence'] for c in label['confidences']}, predict(load_model(mini_run), photo).probs
    assert set(got) == set(want) and all(abs(got[c] - want[c]) < 1e-4 for c in want), (got, want)
    assert 'Traceback' not in (log/'stderr').read_text()

# ---------------------------------------------------------------- issue 35: crafted payloads, the bundle's uploads, one preprocessing

def call_api(url:str, payload)->str:
    "Ask /predict with a raw payload, as a crafted client does (gradio_client only sends files); the event stream's text."
    req = urllib.request.Request(url + 'gradio_api/call/predict', data=json.dumps({'data': [payload]}).encode(), headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(req, timeout=60) as r: event = json.loads(r.read())['event_id']
    with urllib.request.urlopen(url + f'gradio_api/call/predict/{event}', timeout=120) as r: return r.read().decode()

CRAFTED = ('data:image/png;base64,!!!notbase64', 'data:image/png;base64,aGVsbG8=', 'data:text/plain,hello', 'data:,')

def test_crafted_data_url_is_one_log_line(server):
    "Pasted-image payloads that are not images: an error event each, one line in the log each, no traceback, the server keeps serving."
    url, proc, log = server
    for u in CRAFTED: assert 'event: error' in call_api(url, {'path': None, 'url': u, 'meta': {'_type': 'gradio.FileData'}}), u
    assert proc.poll() is None
    text = (log/'stderr').read_text()
    assert 'Traceback' not in text, text[-3000:]
    assert sum(l.startswith('bad upload: the pasted image') for l in text.splitlines()) >= 3, text[-3000:]

def odd_photos(src:Path, d:Path)->list:
    "A real photo as the files people drop: transparent PNG, palette PNG with a transparent colour, 16-bit PNG, CMYK JPEG, a JPEG turned by EXIF."
    import numpy as np
    from PIL import ImageOps
    with Image.open(src) as im: photo = ImageOps.exif_transpose(im).reduce(8)
    a = np.asarray(photo); rgba = np.dstack([a, np.full(a.shape[:2], 255, np.uint8)]); rgba[:, :a.shape[1]//2, 3] = 0
    odd = {'rgba.png': Image.fromarray(rgba), 'palette.png': photo.quantize(64), 'cmyk.jpg': photo.convert('CMYK'),
           'gray16.png': Image.fromarray(np.asarray(photo.convert('L')).astype(np.uint16)*200), 'exif.jpg': photo.transpose(Image.Transpose.ROTATE_90)}
    ex = Image.Exif(); ex[0x0112] = 6
    for name, im in odd.items(): im.save(d/name, **({'transparency': 0} if name=='palette.png' else {'exif': ex} if name=='exif.jpg' else {}))
    return [d/n for n in odd]

def test_standalone_program_preprocesses_as_predict(bundle, mini_run, shared, tmp_path):
    "`python predict_onnx.py` (no torch) on RGBA, palette, 16-bit, CMYK and EXIF-turned photos: predict's class and probability for each."
    from foodvision_fastai.inference import predict
    photos = odd_photos(shared/'custom'/'04-pizza-dad.jpeg', tmp_path)
    r = subprocess.run([sys.executable, '-S', 'predict_onnx.py', '.', *map(str, photos)], cwd=bundle, env=bundle_env(tmp_path), capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == '', r.stderr[-2000:]
    got = {Path(l.split('\t')[0]).name: (l.split('\t')[1], float(l.split('\t')[2])) for l in r.stdout.splitlines()}
    want = {Path(p.image).name: (p.label, p.prob) for p in predict(mini_run, photos)}
    assert got.keys() == want.keys() and all(got[k][0] == want[k][0] and abs(got[k][1] - want[k][1]) < 2e-4 for k in want), (got, want)

def test_bundle_checks_uploads_and_preprocesses_as_predict(bundle_server, mini_run, shared, bad_files, tmp_path):
    "The bundle's page: odd photos get predict's probabilities; text, 0-byte and too-large uploads and crafted pasted images a one-line notice, no traceback."
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError
    from foodvision_fastai.inference import predict
    photos = odd_photos(shared/'custom'/'04-pizza-dad.jpeg', tmp_path)
    (tmp_path/'empty.jpg').write_bytes(b'')
    url, proc, log = bundle_server
    before = len((log/'stderr').read_text().splitlines())  # the server's log lines of the other tests
    client = Client(url, verbose=False)
    got = [client.predict(handle_file(str(p)), api_name='/predict')[0] for p in photos]
    for f, words in ((bad_files/'notes.txt', 'not an image file'), (tmp_path/'empty.jpg', 'empty file (0 bytes)'), (bad_files/'bomb.png', 'too large'),
                     (bad_files/'truncated.jpg', 'cannot be read as an image')):
        with pytest.raises(AppError, match=re.escape(words)) as e: client.predict(handle_file(str(f)), api_name='/predict')
        assert len(str(e.value).splitlines()) == 1 and str(e.value).startswith(f.name), str(e.value)
    for u in CRAFTED: assert 'event: error' in call_api(url, {'path': None, 'url': u, 'meta': {'_type': 'gradio.FileData'}}), u
    assert proc.poll() is None
    for g, want in zip(got, predict(mini_run, photos)):
        probs = {c['label']: c['confidence'] for c in g['confidences']}
        assert all(abs(probs[c] - want.probs[c]) < 1e-4 for c in want.probs), (want.image, probs, want.probs)
    text = (log/'stderr').read_text()
    assert 'Traceback' not in text, text[-3000:]
    assert sum(l.startswith('bad upload: ') for l in text.splitlines()[before:]) == 4 + len(CRAFTED), text[-3000:]
