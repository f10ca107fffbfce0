"""Issue 17, the documentation site: `.ci/make_docs.py` builds it from the notebooks without a warning; every internal link,
anchor and picture resolves; every public function and class has its entry (signature, table of parameter notes) where
nbdev's `_modidx.py` says; the notebooks' stored outputs are shown; headless Chromium opens the home page and the training
page and uses the search box.

The site is built once for this module, into a temporary folder: the test checks what the current notebooks, package and
builder give (never a stale `_docs/`) and leaves `_docs/` alone. Set FOODVISION_UPDATE_SCREENSHOT=1 to also copy the
training page's screenshot (1200 px wide) to nbs/images/docs.png, the README's picture."""
from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import os
import re
import shutil
import threading
from html import unescape
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastcore.docments import docments

REPO = Path(__file__).resolve().parents[1]

pytest.importorskip('sphinx', reason='the docs builder (Sphinx 9) needs Python 3.11+: pip install -e ".[dev]"')
spec = importlib.util.spec_from_file_location('make_docs', REPO/'.ci'/'make_docs.py')
make_docs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_docs)

def entries() -> dict:
    "`{module.name: (page, anchor)}` for every public function and class, as nbdev's `_modidx.py` records them."
    from foodvision_fastai._modidx import d
    return {k: tuple(v[0].split('#')) for m, syms in d['syms'].items() for k, v in syms.items()
            if k.rsplit('.', 1)[1] in importlib.import_module(m).__all__}

def title(nb: Path) -> str: return json.loads(nb.read_text())['cells'][0]['source'][0].removeprefix('# ').strip()

# ---------------------------------------------------------------- the build

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp('docs')/'_docs'
    warnings = make_docs.build(out)
    assert warnings == '', f'Sphinx warned:\n{warnings}'
    return out

def test_pages_and_links(site):
    for nb in make_docs.notebooks(): assert (site/f'{make_docs.page(nb)}.html').exists(), nb
    assert (site/'search.html').exists() and (site/'searchindex.js').exists()
    assert make_docs.broken_links(site) == []
    for f in site.rglob('*.html'):  # an anchor that is there twice would land on the first
        ids = re.findall(r' id="([^"]+)"', f.read_text())
        assert len(ids) == len(set(ids)), f'{f.name}: ids there twice: {sorted({i for i in ids if ids.count(i) > 1})}'

def test_broken_links_are_reported(tmp_path):
    (tmp_path/'a.html').write_text('<a id="x" href="b.html#nope">b</a> <a href="#x">x</a> <a href="c.html">c</a> <img src="p.png">'
                                   ' <script src="https://cdn.example.com/x.js"></script> <a href="https://example.com">ok</a>')
    (tmp_path/'b.html').write_text('<h1 id="top">b</h1>')
    assert make_docs.broken_links(tmp_path) == ['a.html: b.html#nope: no such anchor', 'a.html: c.html is missing',
                                                'a.html: loads https://cdn.example.com/x.js from outside the site',
                                                'a.html: p.png is missing']

def text(html: str) -> str:
    "What a reader sees of some HTML, with plain quotes."
    return unescape(re.sub(r'<[^>]+>', '', html)).translate(str.maketrans('‘’“”', "''\"\"")).strip()

def plain(note: str) -> str: return note.replace('`', '').replace('\n', ' ')  # what a reader sees of a parameter note

def test_api_entries(site):
    "Every public function and class has its entry at nbdev's page and anchor: signature, and a table row per parameter note."
    assert len(entries()) > 50
    for name, (page, anchor) in entries().items():
        html = (site/page).read_text()
        start = html.find(f'<section class="api" id="{anchor}">')
        assert start >= 0, f'no entry for {name} in {page}'
        entry = html[start:html.find('<section', start + 1)]
        module, short = name.rsplit('.', 1)
        assert f'def {short}(' in text(entry), f'{name}: no signature'
        rows = [re.findall(r'<td>(.*?)</td>', tr, re.DOTALL) for tr in re.findall(r'<tr[ >].*?</tr>', entry, re.DOTALL)]
        rows = {text(r[0]).lstrip('*'): [text(c) for c in r] for r in rows if r}  # parameter: its cells
        notes = {k: v for k, v in docments(getattr(importlib.import_module(module), short)).items() if v and k not in ('self', 'return')}
        for param, note in notes.items():
            assert rows.get(param, [''])[-1] == plain(note), f'{name}: the table has not the note of {param}'

def test_outputs(site):
    "The stored outputs of the notebooks are shown: each picture, HTML table, text and stream output."
    kinds = {'image': r'<img [^>]*src="[^"]*_images/[0-9a-f]{64}\.', 'html': 'class="output text_html"',
             'text': 'class="output text_plain', 'stream': 'class="output (?:stream|stderr)'}  # myst-nb marks stderr apart
    for nb in make_docs.notebooks():
        page, cells = make_docs.page(nb), lambda f: [c for c in json.loads(f.read_text())['cells'] if c['cell_type'] == 'code']
        shown = cells(make_docs.WORK/'src'/f'{page}.ipynb')  # the processed notebook, which the build rendered
        plain_cells = [c for c in cells(nb) if '#|' not in ''.join(c['source'])]  # with no directive to hide anything
        assert sum(len(c['outputs']) for c in shown) >= sum(len(c['outputs']) for c in plain_cells), f'{nb.name}: outputs left out'
        html, expected = (site/f'{page}.html').read_text(), dict.fromkeys(kinds, 0)
        for c in shown:
            outs = [] if 'remove-output' in c['metadata'].get('tags', []) else c['outputs']  # `#| output: false`
            expected['stream'] += len({o['name'] for o in outs if o['output_type'] == 'stream'})  # merged, per stream
            for data in (o['data'] for o in outs if o.get('data')):  # the format myst-nb shows: HTML, a picture, then text
                expected['html' if 'text/html' in data else 'image' if any(k.startswith('image/') for k in data) else 'text'] += 1
        assert {k: len(re.findall(p, html)) for k, p in kinds.items()} == expected, nb.name

# ---------------------------------------------------------------- the pages in a browser

@pytest.fixture(scope='module')
def server(site):
    "The site on a free loopback port."
    handler = functools.partial(type('Quiet', (SimpleHTTPRequestHandler,), {'log_message': lambda *a: None}), directory=str(site))
    httpd = ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{httpd.server_port}/'
    httpd.shutdown(); httpd.server_close()


def pictures_shown(page) -> tuple[int, int]:
    "How many pictures the page has, and how many of them the browser decoded."
    return page.evaluate('() => [document.images.length, [...document.images].filter(i => i.complete && i.naturalWidth > 0).length]')

def scrolled_to(page, anchor: str):
    page.wait_for_function(f'document.getElementById("{anchor}").getBoundingClientRect().top < 100', timeout=10_000)

def home_page(server, page):
    "The home page: its title, every picture decoded, the sidebar in the pipeline's order."
    page.goto(server, wait_until='load')
    assert page.title() == make_docs.CFG.title
    assert page.locator('h1').first.inner_text().strip() == make_docs.CFG.title
    n, shown = pictures_shown(page)
    assert n >= 1 and shown == n, f'{shown} of {n} pictures shown'
    sidebar = page.eval_on_selector_all('.sidebar-tree a.reference', 'as => as.map(a => a.innerText.trim())')
    assert sidebar == [title(nb) for nb in make_docs.notebooks() if make_docs.page(nb) != 'index']  # in the pipeline's order

def training_page(server, page, tmp_path):
    "The entry of `train_foodvision`, where `_modidx.py` links to: signature, docstring, the table of parameter notes."
    url, anchor = entries()['foodvision_fastai.train.train_foodvision']
    page.goto(f'{server}{url}#{anchor}', wait_until='load')
    scrolled_to(page, anchor)
    assert page.title() == f'Training - {make_docs.CFG.title}'
    entry = page.locator(f'section#{anchor}')
    assert entry.locator('h3').inner_text().strip().startswith('train_foodvision')
    sig = entry.locator('pre').first.inner_text()
    from foodvision_fastai.models import DEFAULT_ARCH
    assert sig.startswith('def train_foodvision(') and f"arch:str='{DEFAULT_ARCH}'," in sig and re.search(r'\bbs:int=32,', sig) and sig.rstrip().endswith(')->TrainResult:'), sig
    from foodvision_fastai.train import train_foodvision
    row = [c.strip() for c in entry.locator('tr', has_text=docments(train_foodvision)['bs']).first.locator('td').all_inner_texts()]
    assert row == ['bs', 'int', '32', plain(docments(train_foodvision)['bs'])], row
    n, shown = pictures_shown(page)
    assert shown == n, f'{shown} of {n} pictures shown'
    shot = tmp_path/'docs.png'
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get('FOODVISION_UPDATE_SCREENSHOT'): shutil.copy(shot, REPO/'nbs'/'images'/'docs.png')
    entry.locator('a.reference.internal', has_text='TrainResult').first.click()  # a cross-link to another entry
    page.wait_for_url(re.compile('#trainresult$'))
    scrolled_to(page, 'trainresult')

def stored_pictures(server, page):
    "The interpretation page shows the plots its notebook stored, every one decoded by the browser."
    nb = next(nb for nb in make_docs.notebooks() if nb.stem == '09_interpret')
    page.goto(f'{server}{make_docs.page(nb)}.html', wait_until='load')
    n, shown = pictures_shown(page)
    assert n >= 3 and shown == n, f'{shown} of {n} pictures shown'

def search(server, page):
    "The search box of the home page finds `train_foodvision` on the training page."
    url, _ = entries()['foodvision_fastai.train.train_foodvision']
    page.goto(server, wait_until='load')
    page.fill('input[name=q]', 'train_foodvision')
    page.press('input[name=q]', 'Enter')
    page.wait_for_url(re.compile(r'search\.html\?q=train_foodvision'))
    page.locator('#search-results li a').first.wait_for(timeout=30_000)
    hrefs = page.eval_on_selector_all('#search-results li a', 'as => as.map(a => a.getAttribute("href"))')
    assert any(h.split('#')[0].endswith(url) for h in hrefs), hrefs

def test_pages_in_browser(server, page, tmp_path):
    "One browser for the pages a reader opens: the home page, the training page, the stored pictures of a page, the search box; none asks a host other than loopback."
    for check in (home_page, training_page, stored_pictures, search):
        check(server, page, *([tmp_path] if check is training_page else []))
        assert page.outside == [], f'{check.__name__}: the page asked hosts other than loopback: {page.outside}'
