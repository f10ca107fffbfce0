"""Downloads, as `get_data` does them, from an HTTP server on 127.0.0.1: a good zip (fetched once), a cut-off one and a
non-zip (errors, never kept), a flaky one (the second try works), a 404 and a refused connection (one line each)."""
from __future__ import annotations
import json, os, socket, threading, time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastai.data.external import fastai_cfg

from foodvision_fastai.core import FoodVisionError
from foodvision_fastai.data import get_data, url_cache
from foodvision_fastai.layout import read_layout
from foodvision_fastai.test_utils import make_dataset, zip_folder, free_port

@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    "Every test: its own FASTAI_HOME (fastai caches its config: cleared), no proxy for 127.0.0.1."
    monkeypatch.setenv('FASTAI_HOME', str(tmp_path/'fastai_home'))
    fastai_cfg.cache_clear()
    for k in ('no_proxy', 'NO_PROXY'): monkeypatch.setenv(k, '127.0.0.1,localhost')
    yield
    fastai_cfg.cache_clear()

def one_line_naming(e:Exception, *names)->str:
    "The message of `e`; it must be a single non-empty line mentioning each of `names`."
    msg = str(e)
    assert msg.strip() and '\n' not in msg, f'not one line: {msg!r}'
    for n in names: assert str(n) in msg, f'{n!s} not named in: {msg}'
    return msg

@pytest.fixture
def server():
    "An http.server on 127.0.0.1 in a thread; `routes[path](hit_number) -> (body, 'ok'|'cut'[, headers])`; always shut down."
    routes, hits, bodies = {}, Counter(), Counter()
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def do_GET(self):
            hits[self.path] += 1
            if self.path not in routes: self.send_error(404); return
            body, how, *extra = routes[self.path](hits[self.path])
            headers = extra[0] if extra else {}  # e.g. {'ETag': '"v1"'}: a request with a matching If-None-Match gets a 304
            if how=='err': self.send_error(503); return  # the server is down for now
            if headers.get('ETag') and self.headers.get('If-None-Match')==headers['ETag']:
                self.send_response(304); self.end_headers(); return
            bodies[self.path] += 1
            self.send_response(200)
            self.send_header('Content-Type', 'application/zip')
            for k,v in headers.items(): self.send_header(k, v)
            if how=='cut':  # announce more than is sent, send half, close
                self.send_header('Content-Length', str(len(body))); self.end_headers()
                self.wfile.write(body[:len(body)//2]); self.wfile.flush()
                self.close_connection = True
                try: self.connection.shutdown(socket.SHUT_RDWR)
                except OSError: pass
            else:
                self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)
    srv = ThreadingHTTPServer(('127.0.0.1', 0), Handler); srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True); t.start()  # shut down in 0.05 s, not 0.5
    try: yield SimpleNamespace(url=f'http://127.0.0.1:{srv.server_address[1]}', routes=routes, hits=hits, bodies=bodies)
    finally:
        srv.shutdown(); srv.server_close(); t.join(10)

@pytest.fixture
def zip_bytes(tmp_path):
    root = make_dataset(tmp_path/'srv'/'fv', classes=('a','b'), n_train=1, n_test=1, size=16)
    return zip_folder(root, tmp_path/'srv'/'fv.zip', prefix='fv/').read_bytes()

def _archive(): return Path(os.environ['FASTAI_HOME'])/'archive'

def test_download_works_and_is_reused(server, zip_bytes):
    server.routes['/good.zip'] = lambda n: (zip_bytes, 'ok')
    p = get_data(server.url+'/good.zip', quiet=True)
    assert read_layout(p).classes == ["a","b"]
    mtime = url_cache(server.url+'/good.zip').stat().st_mtime_ns
    assert get_data(server.url+'/good.zip', quiet=True) == p
    assert server.hits['/good.zip'] == 2  # the second call only asks whether the file changed (same size: it did not)
    assert url_cache(server.url+'/good.zip').stat().st_mtime_ns == mtime

def test_cut_off_download_is_an_error_and_never_reused(server, zip_bytes):
    url = server.url+'/cut.zip'
    server.routes['/cut.zip'] = lambda n: (zip_bytes, 'cut')
    for i in (1, 2):  # the second call downloads again: no partial file is taken for the zip
        with pytest.raises(FoodVisionError) as ei: get_data(url, quiet=True)
        one_line_naming(ei.value, url)
        assert server.hits['/cut.zip'] == i
        assert not url_cache(url).exists() and not [p for p in _archive().iterdir() if p.suffix=='.zip']
        assert not (Path(os.environ['FASTAI_HOME'])/'data').exists() or not list((Path(os.environ['FASTAI_HOME'])/'data').iterdir())

def test_download_after_a_cut_off_one_succeeds(server, zip_bytes):
    url = server.url+'/flaky.zip'
    server.routes['/flaky.zip'] = lambda n: (zip_bytes, 'cut' if n==1 else 'ok')
    with pytest.raises(FoodVisionError): get_data(url, quiet=True)
    p = get_data(url, quiet=True)
    assert read_layout(p).classes == ["a","b"] and server.hits['/flaky.zip'] == 2
    assert url_cache(url).read_bytes() == zip_bytes

def test_download_of_a_non_zip_is_an_error_and_not_kept(server):
    server.routes['/notzip.zip'] = lambda n: (b'<html>not found</html>', 'ok')
    url = server.url+'/notzip.zip'
    for i in (1, 2):
        with pytest.raises(FoodVisionError) as ei: get_data(url, quiet=True)
        one_line_naming(ei.value, 'notzip.zip')
        assert server.hits['/notzip.zip'] == i and not url_cache(url).exists()

@pytest.mark.parametrize('kind', ['404', 'refused'])
def test_failed_download_one_line_error(server, kind):
    url = server.url+'/missing.zip' if kind=='404' else f'http://127.0.0.1:{free_port()}/data.zip'
    t = time.perf_counter()
    with pytest.raises(FoodVisionError) as ei: get_data(url, quiet=True)
    one_line_naming(ei.value, url)
    assert time.perf_counter()-t < 30
    arch = _archive()
    assert not arch.exists() or not [p for p in arch.iterdir() if p.suffix=='.zip']

def test_404_message_has_no_html_page(server):
    url = server.url+'/missing.zip'  # http.server answers a 404 with an HTML page
    with pytest.raises(FoodVisionError) as ei: get_data(url, quiet=True)
    msg = one_line_naming(ei.value, url, 'HTTP 404 Not Found')
    assert '<' not in msg and 'Error response' not in msg and len(msg) < 300, msg

@pytest.fixture
def two_zips(tmp_path):
    "Zips of two different data sets: classes a, b and (a larger file) c, d, e."
    one = make_dataset(tmp_path/'srv1'/'fv', classes=('a','b'), n_train=1, n_test=1, size=16)
    two = make_dataset(tmp_path/'srv2'/'fv', classes=('c','d','e'), n_train=1, n_test=1, size=16)
    res = [zip_folder(d, d.parent/'data.zip', prefix='fv/').read_bytes() for d in (one, two)]
    assert len(res[0]) != len(res[1])
    return res

def test_url_cache_is_keyed_on_the_whole_url(server, two_zips):
    server.routes['/v1/data.zip'] = lambda n: (two_zips[0], 'ok')
    server.routes['/v2/data.zip'] = lambda n: (two_zips[1], 'ok')
    assert read_layout(get_data(server.url+'/v1/data.zip', quiet=True)).classes == ['a','b']
    assert read_layout(get_data(server.url+'/v2/data.zip', quiet=True)).classes == ['c','d','e']  # not v1's file, which has the same name
    assert read_layout(get_data(server.url+'/v1/data.zip', quiet=True)).classes == ['a','b']
    assert url_cache(server.url+'/v1/data.zip') != url_cache(server.url+'/v2/data.zip')

VERSION_HEADERS = {'etag': lambda v: {'ETag': f'"v{v}"'},
                   'last_modified': lambda v: {'Last-Modified': f'Mon, 0{v} Jan 2024 00:00:00 GMT'},
                   'size': lambda v: {}}  # only Content-Length, which differs

@pytest.mark.parametrize('validator', list(VERSION_HEADERS))
def test_changed_upstream_file_is_downloaded_again(server, two_zips, validator):
    state = {'v': 1}
    server.routes['/data.zip'] = lambda n: (two_zips[state['v']-1], 'ok', VERSION_HEADERS[validator](state['v']))
    url = server.url+'/data.zip'
    assert read_layout(get_data(url, quiet=True)).classes == ['a','b']
    assert read_layout(get_data(url, quiet=True)).classes == ['a','b']  # unchanged: the copy is used
    if validator=='etag': assert server.bodies['/data.zip'] == 1  # the server said 304, nothing was sent again
    state['v'] = 2  # the file is replaced upstream
    assert read_layout(get_data(url, quiet=True)).classes == ['c','d','e']
    assert read_layout(get_data(url, quiet=True)).classes == ['c','d','e']

def test_server_down_uses_the_copy_downloaded_before(server, zip_bytes, capsys):
    state = {'how': 'ok'}
    server.routes['/data.zip'] = lambda n: (zip_bytes, state['how'], {'ETag': '"v1"'})
    url = server.url+'/data.zip'
    p = get_data(url, quiet=True)
    state['how'] = 'err'
    capsys.readouterr()
    assert get_data(url) == p
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and url in err and 'HTTP 503' in err and 'using the copy downloaded before' in err, err

@pytest.mark.parametrize('url, why', [('http://[::1', 'is not a valid URL'), ('http://127.0.0.1:99999/x.zip', 'is not a valid URL'),
                                       ('https:///x.zip', 'has no host name')])
def test_malformed_url_one_line_error(url, why):
    with pytest.raises(FoodVisionError) as ei: get_data(url, quiet=True)
    one_line_naming(ei.value, url, why)

# ---------------------------------------------------------------- the real data in every layout

@pytest.fixture(scope='module')
def real_layouts(tmp_path_factory):
    "The course's real 10% data re-arranged into layouts 2, 3 and 4 (copies: the shared data is never touched)."
    import shutil
    from foodvision_fastai.test_utils import shared_data
    src = get_data(shared_data()/'pizza_steak_sushi.zip', quiet=True)
    root = tmp_path_factory.mktemp('real layouts')
    two = root/'train_val'; shutil.copytree(src, two); (two/'test').rename(two/'val')
    three, four = root/'class folders', root/'csv'
    rows = ['image,label,split']
    for p in sorted(src.rglob('*.jpg')):
        split, c = p.parts[-3], p.parent.name
        (three/c).mkdir(parents=True, exist_ok=True); shutil.copy(p, three/c/f'{split}_{p.name}')
        (four/'images').mkdir(parents=True, exist_ok=True); shutil.copy(p, four/'images'/f'{split}_{c}_{p.name}')
        rows.append(f'images/{split}_{c}_{p.name},{c},{split}')
    (four/'labels.csv').write_text('\n'.join(rows)+'\n')
    return {'train/valid': two, 'class folders': three, 'csv': four}

TRAIN, TEST = {'pizza': 78, 'steak': 75, 'sushi': 72}, {'pizza': 25, 'steak': 19, 'sushi': 31}

def test_real_data_in_every_layout(real_layouts):
    from foodvision_fastai.layout import read_layout, with_valid
    from foodvision_fastai.dataloaders import foodvision_dls
    lay = read_layout(real_layouts['train/valid'])
    assert (lay.kind, lay.counts(), with_valid(lay).valid_is_test) == ('train/valid', {'train': TRAIN, 'valid': TEST}, False)
    lay = read_layout(real_layouts['class folders'])
    assert (lay.kind, lay.counts()) == ('class folders', {'train': {c: TRAIN[c]+TEST[c] for c in TRAIN}})
    v = with_valid(lay)  # 20% of the 300 photos, stratified
    assert sum(v.counts()['valid'].values()) == 60 and all(abs(n - 0.2*(TRAIN[c]+TEST[c])) <= 1 for c,n in v.counts()['valid'].items())
    lay = read_layout(real_layouts['csv'])  # the only CSV, found on its own
    assert (lay.kind, lay.counts()) == ('csv', {'train': TRAIN, 'test': TEST})
    for name, folder in real_layouts.items():
        dls = foodvision_dls(folder, size=64, bs=16, device='cpu')
        xb, yb = dls.one_batch()
        assert xb.shape == (16, 3, 64, 64) and dls.vocab == ['pizza', 'steak', 'sushi'], name

def test_real_data_layouts_as_zips_through_the_commands(real_layouts, tmp_path):
    "Each re-arranged layout zipped: the same splits come out of the zip, and the demo takes its examples from it; the training command takes a zip of class folders."
    from foodvision_fastai.layout import read_layout
    from foodvision_fastai.demo import demo_examples
    from foodvision_fastai.test_utils import zip_folder, call_command
    from foodvision_fastai.cli import foodvision_train
    for name, folder in real_layouts.items():
        z = zip_folder(folder, tmp_path/f"{name.replace('/', '_').replace(' ', '_')}.zip")
        assert read_layout(get_data(z, quiet=True)).counts() == read_layout(folder).counts(), name
        assert len([e for e in demo_examples(z) if 'pizza-dad' not in str(e)]) == 3, name  # one example per class
    from foodvision_fastai.test_utils import make_dataset  # the command on generated photos: CI trains on the real data once
    z = zip_folder(make_dataset(tmp_path/'gen', n_train=5, n_test=0)/'train', tmp_path/'gen.zip')  # layout 3: class folders
    r = call_command(foodvision_train, '--data', z, '--epochs', 1, '--size', 32, '--bs', 4, '--out', tmp_path/'run', '--quiet')
    assert r.rc == 0 and 'valid accuracy' in r.stdout and 'no test set' in r.stdout, r.stdout + r.stderr[-2000:]
    m = json.loads((tmp_path/'run'/'metrics.json').read_text())
    assert (m['n_train'], m['n_valid'], m['n_test']) == (12, 3, None), m['splits']
