"Shared fixtures: the real data from ../shared/data and one real FoodVision Mini run reused by the end-to-end tests."
import os, sys, tempfile
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get('FOODVISION_SHARED', REPO.parent/'shared'/'data'))
BIN = Path(sys.executable).parent  # console scripts of this environment

@pytest.fixture(scope='session')
def shared_data():
    assert (SHARED/'pizza_steak_sushi.zip').exists(), f"real data not found in {SHARED}; set FOODVISION_SHARED"
    return SHARED

@pytest.fixture(scope='session', autouse=True)
def isolated_fastai_home(tmp_path_factory):
    "Unpack data sets into a temporary fastai home, never into the user's ~/.fastai."
    old = os.environ.get('FASTAI_HOME')
    os.environ['FASTAI_HOME'] = str(tmp_path_factory.mktemp('fastai_home'))
    yield
    if old is None: os.environ.pop('FASTAI_HOME', None)
    else: os.environ['FASTAI_HOME'] = old

@pytest.fixture(scope='session')
def mini_run(shared_data, tmp_path_factory):
    "FoodVision Mini with the defaults on the real 10% data, plus its report (PNGs): trained once for all tests."
    from foodvision_fastai.train import train_foodvision
    from foodvision_fastai.interpret import save_report
    res = train_foodvision(shared_data/'pizza_steak_sushi.zip', out=tmp_path_factory.mktemp('runs')/'mini', quiet=True)
    res.pngs = save_report(res)
    return res

def run_cli(cmd, *args, **kw):
    "Run one of our console scripts as a user would."
    import subprocess
    return subprocess.run([str(BIN/cmd), *map(str, args)], capture_output=True, text=True, **kw)

@pytest.fixture(scope='session')
def food101(tmp_path_factory):
    "A generated folder data set shaped like Food101: 101 classes, 2 train and 1 test image each, 16 pixels."
    from foodvision_fastai.data import make_dataset
    return make_dataset(tmp_path_factory.mktemp('data')/'food101', classes=[f'food{i:03d}' for i in range(101)], n_train=2, n_test=1, size=16)
