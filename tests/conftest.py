"""Shared fixtures. The real data comes from ../shared/data (`$FOODVISION_SHARED`); FoodVision Mini on it is trained once
and shared by every test that needs a real model: the README's setup command trains it, and the tests use that run (the
folder in `$FOODVISION_RUN`, else the newest default run in `foodvision_runs/` made after the package's code last changed);
without one, the first test that asks trains it here, as a user would, with `foodvision_train`.
`page` is a headless Chromium that may only talk to loopback, for the demo's and the docs' pages.
With `pytest -n N`, each worker (and each command it starts) gets its share of the cores as PyTorch's threads: N workers
each with a thread per core would spin against each other (measured on 2 cores: this suite with `-n 2` took 341 s so,
240 s with one thread per worker)."""
import json, os
from pathlib import Path
from urllib.parse import urlparse
import pytest

if (_workers := int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))) > 1:
    os.environ['OMP_NUM_THREADS'] = str(max(1, len(os.sched_getaffinity(0))//_workers))  # before torch is imported; the commands the tests start inherit it
from foodvision_fastai.models import DEFAULT_ARCH
from foodvision_fastai.test_utils import shared_data, run_cli, tree_state
from foodvision_fastai.options import default_epochs

RUN_ENV = 'FOODVISION_RUN'
ROOT = Path(__file__).resolve().parents[1]

def is_default_run(m:dict)->bool: return m['n_test']==75 and m['settings']['arch']==DEFAULT_ARCH and m['options']['epochs']==default_epochs(DEFAULT_ARCH)

def setup_run()->Path|None:
    "The newest run of the README's setup command (`foodvision_train` with the defaults, into `foodvision_runs/`), if it is newer than the package's code."
    import foodvision_fastai
    code = max(p.stat().st_mtime for p in Path(foodvision_fastai.__file__).parent.glob('*.py'))
    for m in sorted((ROOT/'foodvision_runs').glob('*/metrics.json'), key=lambda p: p.stat().st_mtime, reverse=True):
        if m.stat().st_mtime > code and is_default_run(json.loads(m.read_text())): return m.parent

@pytest.fixture(scope='session', autouse=True)
def isolated_fastai_home(tmp_path_factory):
    "Unpack data sets into a temporary fastai home, never into the user's ~/.fastai."
    old = os.environ.get('FASTAI_HOME')
    os.environ['FASTAI_HOME'] = str(tmp_path_factory.mktemp('fastai_home'))
    yield
    if old is None: os.environ.pop('FASTAI_HOME', None)
    else: os.environ['FASTAI_HOME'] = old

@pytest.fixture(scope='session')
def shared():
    d = shared_data()
    assert (d/'pizza_steak_sushi.zip').exists(), f"real data not found in {d}; set FOODVISION_SHARED"
    return d

@pytest.fixture(scope='session')
def mini_run(shared, tmp_path_factory)->Path:
    "The folder of a `foodvision_train` run with the defaults on the real 10% data (model, metrics.json, PNGs); a setup run is left as it was."
    if os.environ.get(RUN_ENV):
        run = Path(os.environ[RUN_ENV])
        assert is_default_run(json.loads((run/'metrics.json').read_text())), f"{run} is not a default run on the 10% data"
    else: run = setup_run()
    if run:
        before = tree_state(run)
        yield run
        assert tree_state(run) == before, f'the tests changed the setup run in {run}'
        return
    run = tmp_path_factory.mktemp('runs')/'mini'
    r = run_cli('foodvision_train', '--data', shared/'pizza_steak_sushi.zip', '--out', run, '--quiet', timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    yield run

@pytest.fixture(scope='session')
def mini_metrics(mini_run)->dict: return json.loads((mini_run/'metrics.json').read_text())

# ---------------------------------------------------------------- headless Chromium, for the demo's and the docs' pages

CHROMIUM = Path('/usr/bin/chromium')
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync']
LOOPBACK = {'127.0.0.1', 'localhost', '::1'}

@pytest.fixture
def page(tmp_path):
    "A fresh headless Chromium, 1200 px wide; every request to a host other than loopback is blocked and recorded in `page.outside`."
    if not CHROMIUM.exists(): pytest.skip(f'{CHROMIUM} is not installed (apt-get install -y chromium chromium-driver)')
    sync_api = pytest.importorskip('playwright.sync_api', reason='playwright is not installed (pip install -e ".[dev]")')
    outside = []
    def guard(route):
        host = urlparse(route.request.url).hostname
        if host and host not in LOOPBACK: outside.append(route.request.url); route.abort()
        else: route.continue_()
    with sync_api.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(tmp_path/'profile', executable_path=str(CHROMIUM), headless=True,
                                                   args=CHROMIUM_FLAGS, viewport={'width': 1200, 'height': 900})
        try:
            ctx.route('**/*', guard)
            pg = ctx.new_page()
            pg.outside = outside
            yield pg
        finally: ctx.close()
