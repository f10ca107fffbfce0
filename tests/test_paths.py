"""Paths and URLs as a careless user types them: `~someone` that names no user of this machine, and malformed URLs, are one
error line with exit code 2, never a traceback. Each command runs in this process with `call_command`, the console script's
own path (its exit code, stdout and stderr): no process of its own is needed to read an argument."""
from __future__ import annotations
import pytest

from foodvision_fastai.cli import foodvision_train, foodvision_demo
from foodvision_fastai.test_utils import call_command

NOUSER = '~nosuchuser_fv'

@pytest.mark.parametrize('args, why', [
    ([foodvision_train, '--data', f'{NOUSER}/data.zip'], 'names no user of this machine'),
    ([foodvision_train, '--data', 'http://[::1'], 'is not a valid URL'),
    ([foodvision_train, '--data', 'http://127.0.0.1:99999/data.zip'], 'is not a valid URL'),
    ([foodvision_demo, '--model', f'{NOUSER}/run', '--bundle', 'bundle_out'], 'names no user of this machine'),
    ([foodvision_demo, '--model', 'no_such_run', '--bundle', f'{NOUSER}/bundle'], 'names no user of this machine'),
], ids=['train ~user data', 'train [::1 URL', 'train bad port', 'bundle ~user model', 'bundle ~user folder'])
def test_tilde_user_and_malformed_url_one_line(args, why, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where the relative --bundle and --model would be
    r = call_command(*args)
    lines = r.stderr.strip().splitlines()
    assert r.rc == 2 and len(lines) == 1 and lines[0].startswith('error: ') and why in lines[0], r.stderr[-3000:]
    assert not list(tmp_path.iterdir())  # nothing written
