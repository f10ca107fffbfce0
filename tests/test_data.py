"""Downloads, as `get_data` does them, from an HTTP server on 127.0.0.1: a good zip (fetched once), a cut-off one and a
non-zip (errors, never kept), a flaky one (the second try works), a 404 and a refused connection (one line each)."""
from __future__ import annotations
import os, socket, threading, time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastai.data.external import fastai_cfg

from foodvision_fastai.core import FoodVisionError
from foodvision_fastai.data import get_data
from foodvision_fastai.layout import check_layout
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
    return zip_folder(root, tmp_path/'srv'/'fv.zip', prefix='fv/').read_bytes()

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
