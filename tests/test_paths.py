"""Paths and URLs as a careless user types them, each command in its own process: `~someone` that names no user of this
machine, and malformed URLs, are one error line with exit code 2, never a traceback."""
from __future__ import annotations
import pytest

from foodvision_fastai.test_utils import run_cli

NOUSER = '~nosuchuser_fv'

@pytest.mark.parametrize('args, why', [
    (['foodvision_train', '--data', f'{NOUSER}/data.zip'], 'names no user of this machine'),
    (['foodvision_train', '--data', 'http://[::1'], 'is not a valid URL'),
    (['foodvision_train', '--data', 'http://127.0.0.1:99999/data.zip'], 'is not a valid URL'),
    (['foodvision_demo', '--model', f'{NOUSER}/run', '--bundle', 'bundle_out'], 'names no user of this machine'),
    (['foodvision_demo', '--model', 'no_such_run', '--bundle', f'{NOUSER}/bundle'], 'names no user of this machine'),
], ids=['train ~user data', 'train [::1 URL', 'train bad port', 'bundle ~user model', 'bundle ~user folder'])
def test_tilde_user_and_malformed_url_one_line(args, why, tmp_path):
    r = run_cli(*args, cwd=tmp_path, timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith('error: ') and why in lines[0], r.stderr[-3000:]
    assert not list(tmp_path.iterdir())  # nothing written
