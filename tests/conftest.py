"""Shared fixtures. The real data comes from ../shared/data (`$FOODVISION_SHARED`); FoodVision Mini on it is trained once
per test session and shared by every test that needs a real model: CI's setup command trains it and passes its folder in
`$FOODVISION_RUN`, and without that the first test that asks trains it here, as a user would, with `foodvision_train`."""
import json, os
from pathlib import Path
import pytest
from foodvision_fastai.test_utils import shared_data, run_cli

RUN_ENV = 'FOODVISION_RUN'

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
    "The folder of a `foodvision_train` run with the defaults on the real 10% data (model, metrics.json, PNGs)."
    if os.environ.get(RUN_ENV):
        run = Path(os.environ[RUN_ENV])
        m = json.loads((run/'metrics.json').read_text())
        assert m['n_test']==75 and m['settings']['epochs']==5 and m['settings']['arch']=='mobilenet_v2', f"{run} is not a default run on the 10% data"
        return run
    run = tmp_path_factory.mktemp('runs')/'mini'
    r = run_cli('foodvision_train', '--data', shared/'pizza_steak_sushi.zip', '--out', run, '--quiet', timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    return run

@pytest.fixture(scope='session')
def mini_metrics(mini_run)->dict: return json.loads((mini_run/'metrics.json').read_text())
