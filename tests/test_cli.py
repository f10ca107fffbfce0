"""The commands as a user runs them, on tiny generated data sets. A process of its own only where the process is the point:
a training whose stdout and stderr must hold nothing but results, a console script's error (exit code 2, one line), Ctrl-C
and `kill` with exit code 130 (during the imports too), a training that holds its folder while another tries it, a strict
UTF-8 stdout, a closed pipe, a FIFO (opening it could wait for ever), a folder only a process without root's capabilities
cannot read. Every other check runs the command in this process with `call_command` (the console script's own path, exit
code, stdout and stderr), as each process pays seconds for importing torch; every error message is also tried in the cli
notebook."""
from __future__ import annotations
import json, os, shutil, signal, subprocess, sys, threading, time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from foodvision_fastai.test_utils import make_dataset, run_cli, call_command
from foodvision_fastai.cli import foodvision_train, foodvision_predict

BIN = Path(sys.executable).parent
SMALL = ('--arch', 'mobilenet_v2', '--size', 32, '--bs', 4, '--quiet')  # one model: the ensemble's own command-line test is test_ensemble.py

def _default_sigint():  # a child started from a background job would inherit an ignored SIGINT
    signal.signal(signal.SIGINT, signal.SIG_DFL)

def start(cmd:list, logs:Path, name:str, env:dict|None=None)->SimpleNamespace:
    "Start a command with its stdout/stderr going to files (no pipe can fill up)."
    logs.mkdir(parents=True, exist_ok=True)
    so, se = open(logs/f'{name}.out', 'wb'), open(logs/f'{name}.err', 'wb')
    p = subprocess.Popen([str(BIN/cmd[0]), *map(str, cmd[1:])], stdout=so, stderr=se, env=env or os.environ.copy(),
                         cwd=logs, preexec_fn=_default_sigint)
    return SimpleNamespace(proc=p, so=so, se=se, out=logs/f'{name}.out', err=logs/f'{name}.err')

def finish(r:SimpleNamespace, timeout:float=300)->SimpleNamespace:
    try: rc = r.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired: r.proc.kill(); r.proc.wait(); rc = 'timeout'
    r.so.close(); r.se.close()
    return SimpleNamespace(rc=rc, stdout=r.out.read_text('utf-8', 'replace'), stderr=r.err.read_text('utf-8', 'replace'))

def assert_cli_error(res, *names):
    "A user error: exit code 2, no traceback, and stderr is exactly one `error:` line naming what is wrong."
    assert res.rc == 2, f'rc={res.rc}, stderr={res.stderr[-2000:]}'
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), f'not one error line: {res.stderr[-2000:]!r}'
    for n in names: assert str(n) in lines[0], f'{n!s} not named in: {lines[0]}'

@pytest.fixture(scope='module')
def small(tmp_path_factory):
    "A generated data set and a model trained on it for one epoch by `foodvision_train` itself."
    tmp = tmp_path_factory.mktemp('cli')
    data = make_dataset(tmp/'data set', classes=('pizza', 'steak', os.fsdecode(b'caf\xe9')), n_train=4, n_test=2)  # a Latin-1 name
    for split, c, name in (('train', 'pizza', 'my pizza ñ 寿司 🍕.jpg'), ('test', 'steak', 'steak – café.jpg'), ('test', 'steak', os.fsdecode(b'st\xe9ak.jpg'))):
        shutil.copy(data/split/c/f'{c}_0.jpg', data/split/c/name)
    r = run_cli('foodvision_train', '--data', data, '--epochs', 1, '--n_preds', 4, '--out', tmp/'run', *SMALL)
    assert r.returncode == 0, r.stderr[-3000:]
    return SimpleNamespace(tmp=tmp, data=data, run=tmp/'run', stdout=r.stdout, stderr=r.stderr)

def test_train_writes_everything_and_prints_only_results(small):
    for f in ('model.safetensors', 'model.json', 'model.onnx', 'model.pkl', 'metrics.json', 'checkpoint.pth', 'history.csv',
              'loss_curves.png', 'predictions.png', 'confusion_matrix.png', 'top_losses.png', 'heatmaps.png'): assert (small.run/f).exists(), f
    assert small.stderr.strip() == '', 'nothing but results with --quiet: no progress bars, no warnings'
    lines = small.stdout.strip().splitlines()
    assert lines[-1].startswith('test accuracy ') and all(l.split(':')[0] in ('model', 'metrics', 'plot') for l in lines[:-1]), lines

def test_predict(small):
    imgs = sorted((small.data/'test').rglob('*.jpg'))
    r = call_command(foodvision_predict, *imgs, '--model', small.run, '--json')
    assert r.rc == 0, r.stderr
    assert [p['image'] for p in json.loads(r.stdout)] == list(map(str, imgs)) and any('steak – café.jpg' in str(i) for i in imgs)

LATIN1 = os.fsdecode(b'st\xe9ak.jpg')

@pytest.fixture(scope='module')
def predicted_in_a_process(small, tmp_path_factory):
    """`foodvision_predict` as a process (it could wait for ever on the FIFO: a timeout) on a strict UTF-8 stdout: a FIFO named
    x.jpg, a photo named in Latin-1 and a plain one; stdout and stderr as bytes."""
    fifo = tmp_path_factory.mktemp('fifo')/'x.jpg'; os.mkfifo(fifo)
    steak = small.data/'test'/'steak'
    env = dict(os.environ, PYTHONIOENCODING='utf-8')  # errors='strict'
    r = subprocess.run([str(BIN/'foodvision_predict'), fifo, steak/LATIN1, steak/'steak_0.jpg', '--model', small.run], env=env, capture_output=True, timeout=300)
    return SimpleNamespace(rc=r.returncode, stdout=r.stdout, stderr=r.stderr, fifo=fifo)

def table_row(stdout:bytes, image:str)->bytes:
    "The line of `foodvision_predict`'s table for `image` (as it is shown): the line that starts with it."
    rows = [l for l in stdout.splitlines() if l.startswith(image.encode('utf-8') + b' ')]
    assert len(rows) == 1, (image, stdout)
    return rows[0]

ONE_BAD = b'error: 1 of 3 image(s) could not be classified; see the ERROR rows'  # the FIFO's: nothing else went wrong

def test_names_that_are_not_utf8(small, predicted_in_a_process):
    "A class folder and an image named in Latin-1: the report was drawn, the table prints on a strict UTF-8 stdout (a process), JSON keeps the real path in text a strict UTF-8 stdout takes."
    assert 'caf\ufffd' in json.loads((small.run/'metrics.json').read_text())['vocab']
    img = small.data/'test'/'steak'/LATIN1
    r = predicted_in_a_process
    assert r.stderr.strip() == ONE_BAD, r.stderr[-2000:]
    assert b'ERROR' not in table_row(r.stdout, str(img).replace(LATIN1, 'st\ufffdak.jpg')), r.stdout
    r = call_command(foodvision_predict, img, '--model', small.run, '--json')
    assert r.rc == 0 and json.loads(r.stdout.encode('utf-8'))[0]['image'] == str(img), r.stderr[-2000:]  # encode: as a strict UTF-8 stdout would

def test_a_console_script_error_is_one_line(small):
    "The console scripts report through `cli_errors` like the commands do in-process (the cli notebook tries every error)."
    r = run_cli('foodvision_predict', small.data/'test'/'steak'/'steak_0.jpg', '--model', small.tmp/'nomodel')
    assert_cli_error(SimpleNamespace(rc=r.returncode, stderr=r.stderr), small.tmp/'nomodel')
    assert r.stdout == ''

def test_the_entry_points_import_nothing_heavy():
    code = "import sys, foodvision_fastai.launch, foodvision_fastai; print(sorted({'torch', 'fastai', 'gradio'} & set(sys.modules)))"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == '[]', r.stdout + r.stderr

def test_interrupt_while_importing(tmp_path):
    "Ctrl-C in the first seconds, while torch and fastai are imported: exit 130 and one line, no traceback."
    r = start(['foodvision_train', '--help'], tmp_path, 'early')
    time.sleep(1.5)
    assert r.proc.poll() is None, 'the command finished before it could be interrupted'
    r.proc.send_signal(signal.SIGINT)
    res = finish(r, 60)
    assert res.rc == 130 and res.stderr.strip() == 'interrupted', (res.rc, res.stderr[-2000:])

EPOCHS_KILLED = 300  # far more than run before the signal

@pytest.fixture(scope='module')
def killed(small):
    """Two `foodvision_train --epochs 300` runs, stopped by SIGTERM and SIGINT once their first checkpoint appears; before the
    SIGTERM, while that run writes its folder, a second training into the same folder with --overwrite (`busy`)."""
    runs, busy = {}, None
    for sig in ('SIGTERM', 'SIGINT'):
        out = small.tmp/f'run {sig}'
        runs[sig] = (out, start(['foodvision_train', '--data', small.data, '--epochs', EPOCHS_KILLED, '--out', out, *SMALL], small.tmp/'logs killed', sig))
    t0, pending = time.monotonic(), set(runs)
    try:
        while pending and time.monotonic()-t0 < 400:
            for sig in list(pending):
                out, r = runs[sig]
                if (out/'checkpoint.pth').exists():
                    if sig == 'SIGTERM' and r.proc.poll() is None:
                        busy = call_command(foodvision_train, '--data', small.data, '--epochs', 1, '--out', out, '--overwrite', *SMALL)
                    r.proc.send_signal(getattr(signal, sig)); pending.discard(sig)
                elif r.proc.poll() is not None: pending.discard(sig)
            time.sleep(0.1)
    finally:
        for sig in pending: runs[sig][1].proc.kill()  # not stopped as planned (or the check in between raised): no run is left training
    res = {sig: SimpleNamespace(out=out, **vars(finish(r, 120))) for sig, (out, r) in runs.items()}
    return res | {'busy': busy}

@pytest.mark.parametrize('sig', ['SIGTERM', 'SIGINT'])
def test_interrupt_exits_130_and_keeps_the_checkpoint(killed, sig):
    r = killed[sig]
    assert r.rc == 130, f'rc={r.rc} stderr={r.stderr[-2000:]}'
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('interrupted') and '--resume' in lines[0] and str(r.out) in lines[0], r.stderr[-2000:]
    assert not [p for p in r.out.iterdir() if 'partial' in p.name], list(r.out.iterdir())
    state = torch.load(r.out/'checkpoint.pth', weights_only=True, map_location='cpu')
    assert 1 <= state['epoch'] < EPOCHS_KILLED and [h['epoch'] for h in state['history']] == list(range(1, state['epoch']+1))

def test_resume_after_sigterm_continues(killed, small):
    out = killed['SIGTERM'].out
    before = torch.load(out/'checkpoint.pth', weights_only=True, map_location='cpu')
    k = before['epoch']
    r = call_command(foodvision_train, '--data', small.data, '--epochs', k+1, '--out', out, '--resume', *SMALL)
    assert r.rc == 0, r.stderr[-3000:]
    hist = json.loads((out/'metrics.json').read_text())['history']
    assert [h['epoch'] for h in hist] == list(range(1, k+2)) and hist[:k] == before['history']
    assert torch.load(out/'checkpoint.pth', weights_only=True)['epoch'] == k+1

def _no_caps():
    "As root, a command run without capabilities, so that file permissions apply to it as to any user."
    if os.geteuid() != 0: return []
    if not shutil.which('setpriv'): pytest.skip('running as root without setpriv: cannot make a folder unreadable')
    return ['setpriv', '--bounding-set=-all', '--inh-caps=-all']

def test_unreadable_class_folder(small, tmp_path):
    data = tmp_path/'data'; shutil.copytree(small.data, data)
    (data/'train'/'steak').chmod(0)
    try: r = subprocess.run([*_no_caps(), str(BIN/'foodvision_train'), '--data', data, '--out', tmp_path/'run', *map(str, SMALL)], capture_output=True, text=True)
    finally: (data/'train'/'steak').chmod(0o755)
    assert_cli_error(SimpleNamespace(rc=r.returncode, stderr=r.stderr), f"cannot read {data/'train'/'steak'} (Permission denied)")
    assert not (tmp_path/'run').exists()

def test_full_disk(small, tmp_path):
    "A run folder on a 4 MB file system with a previous run's file in it: the first checkpoint does not fit."
    disk = tmp_path/'small disk'; disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', str(disk)], capture_output=True).returncode:
        pytest.skip('cannot mount a small tmpfs here (it needs root)')
    try:
        (disk/'run').mkdir(); (disk/'run'/'metrics.json').write_text('{"a previous": "run"}')
        r = call_command(foodvision_train, '--data', small.data, '--epochs', 1, '--out', disk/'run', '--overwrite', *SMALL)
        assert_cli_error(r, 'no space left on the device to write', disk/'run'/'checkpoint.pth')
        assert (disk/'run'/'metrics.json').read_text() == '{"a previous": "run"}', 'the previous complete file is intact'
        assert not [p for p in disk.rglob('*') if 'partial' in p.name]
    finally: subprocess.run(['umount', str(disk)])

def test_interrupt_before_the_first_checkpoint(tmp_path):
    "Ctrl-C while the first epoch runs: nothing to resume, so the message does not advise --resume, and no empty folder is left."
    data, out = make_dataset(tmp_path/'data', n_train=40, n_test=10, size=256), tmp_path/'run'
    r = start(['foodvision_train', '--data', data, '--epochs', 3, '--bs', 8, '--out', out, '--quiet'], tmp_path, 'first epoch')
    t0 = time.monotonic()
    while not out.exists() and r.proc.poll() is None and time.monotonic()-t0 < 120: time.sleep(0.02)
    assert not (out/'checkpoint.pth').exists(), 'the first epoch ended before the test could stop it'
    r.proc.send_signal(signal.SIGINT)
    res = finish(r, 60)
    assert res.rc == 130 and res.stderr.strip() == 'interrupted before the first epoch finished; nothing was saved', res.stderr[-2000:]
    assert not out.exists()

def test_two_trainings_into_one_folder(killed):
    "A training into the folder a running `foodvision_train` process writes (the `killed` fixture's, before its SIGTERM) is refused."
    assert killed['busy'] is not None, 'the first run ended before the second could try its folder'
    assert_cli_error(killed['busy'], f"{killed['SIGTERM'].out} is in use by another run")

# ---------------------------------------------------------------- issue 35: where the output goes, what the input is

@contextmanager
def stdout_fd_into_a_pipe():
    "This process's file descriptor 1 (what `/proc/self/fd/1` and `/dev/stdout` name) is a pipe while the block runs; yields a list that gets what went through it."
    got, (rfd, wfd), saved = [], os.pipe(), os.dup(1)
    reader = threading.Thread(target=lambda: got.append(os.fdopen(rfd, 'rb').read()), daemon=True)  # read as it comes: a full pipe would block the writer
    reader.start()
    try:
        os.dup2(wfd, 1); os.close(wfd)
        yield got
    finally:
        os.dup2(saved, 1); os.close(saved)  # the last writer closes: the reader gets its end of file
        reader.join(60)

def test_predict_csv_writes_through_symlink(small, tmp_path):
    "--csv through a link writes the file it points to (the link stays); into a pipe it writes, never replaces; a folder: one line, before any work."
    img = small.data/'test'/'steak'/'steak_0.jpg'
    (tmp_path/'real.csv').write_text('old'); (tmp_path/'link.csv').symlink_to(tmp_path/'real.csv')
    r = call_command(foodvision_predict, img, '--model', small.run, '--csv', tmp_path/'link.csv')
    assert r.rc == 0, r.stderr
    assert (tmp_path/'link.csv').is_symlink() and (tmp_path/'real.csv').read_text().startswith('image,label,prob'), 'the link is written through'
    with stdout_fd_into_a_pipe() as piped:  # the command's own stdout, a pipe: as `--csv /dev/stdout | ...`
        r = call_command(foodvision_predict, img, '--model', small.run, '--csv', '/proc/self/fd/1')
    assert r.rc == 0 and piped[0].decode().startswith('image,label,prob,class1') and 'steak_0.jpg' in piped[0].decode(), (piped, r.stderr)
    r = call_command(foodvision_predict, img, '--model', small.run, '--csv', tmp_path)
    assert_cli_error(r, tmp_path, 'is a folder')
    assert r.stdout == '' and sorted(p.name for p in tmp_path.iterdir()) == ['link.csv', 'real.csv']

def test_predict_refuses_a_fifo_named_like_a_photo(small, predicted_in_a_process):
    "A FIFO named x.jpg (no writer: opening it would wait for ever) is an ERROR row; the other photos are classified."
    r = predicted_in_a_process
    assert r.rc == 2 and r.stderr.strip() == ONE_BAD, (r.stdout, r.stderr)
    fifo_row, plain_row = table_row(r.stdout, str(r.fifo)), table_row(r.stdout, str(small.data/'test'/'steak'/'steak_0.jpg'))
    assert b'ERROR' in fifo_row and b'not a regular file' in fifo_row and b'ERROR' not in plain_row, r.stdout
    assert r.fifo.is_fifo()

def test_predict_json_into_a_closed_pipe(small):
    "`foodvision_predict ... --json | head -2`: the reader leaves early; no BrokenPipeError traceback."
    imgs = sorted((small.data/'test').rglob('*.jpg'))
    p = subprocess.Popen([str(BIN/'foodvision_predict'), *map(str, imgs), '--model', str(small.run), '--json'], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # as `head` does once it has its lines: every write of the command now fails with EPIPE
    err = p.stderr.read().decode(); p.wait(300)
    assert 'Traceback' not in err and 'BrokenPipe' not in err and err.strip() == '', err[-2000:]

@pytest.mark.parametrize('args, says', [(('--size', 20000), 'size must be at most 2048'), (('--hidden', 1_000_000_000), 'hidden must be at most 65536')])
def test_options_too_large_to_fit_are_refused_before_any_work(small, tmp_path, args, says):
    "An option that could only end in an allocation error (or the OOM killer) is one line, before the data is read."
    r = call_command(foodvision_train, '--data', small.data, *args, '--out', tmp_path/'big')
    assert_cli_error(r, says)
    assert not (tmp_path/'big').exists()

def test_model_json_with_a_huge_size_is_refused(small, tmp_path):
    model = tmp_path/'model'
    shutil.copytree(small.run, model, ignore=shutil.ignore_patterns('*.png', 'checkpoint.pth', 'model.pkl', '.lock'))
    cfg = json.loads((model/'model.json').read_text()); cfg['size'] = 30000; (model/'model.json').write_text(json.dumps(cfg))
    r = call_command(foodvision_predict, next((small.data/'test').rglob('*.jpg')), '--model', model)
    assert_cli_error(r, 'size', 'at most 2048')

def test_messages_never_advise_deleting_the_users_files():
    "No one-line error tells the user to delete or remove a file or folder of theirs (their data is theirs); moving it out of the data set is fine."
    import ast, re
    import foodvision_fastai
    bad = []
    for f in Path(foodvision_fastai.__file__).parent.glob('*.py'):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, 'id', None) == 'FoodVisionError':
                text = ast.unparse(node).lower()
                if re.search(r'\b(delete|remove|rm -)', text): bad.append(f'{f.name}: {text[:160]}')
    assert not bad, bad

def test_a_failed_run_leaves_no_empty_parent_folders(small, tmp_path):
    "A run into a nested --out that fails (here: it diverges) removes every folder it made, not just the last."
    r = call_command(foodvision_train, '--data', small.data, '--epochs', 2, '--lr', 1e6, '--out', tmp_path/'a'/'b'/'run', *SMALL)
    assert_cli_error(r, 'training diverged')
    assert list(tmp_path.iterdir()) == []

class _Evil:
    "A pickle that runs a command when it is loaded with `weights_only=False` (it makes the file `marker`)."
    def __init__(self, marker): self.marker = marker
    def __reduce__(self): return (os.system, (f'touch {self.marker}',))

def test_a_pickle_where_weights_belong_is_one_line_never_run(small, tmp_path):
    "A checkpoint or a weights file that holds code, not tensors: one line, exit 2, no third-party warning, and the code never runs."
    import warnings
    run, marker = tmp_path/'run', tmp_path/'ran'
    shutil.copytree(small.run, run)
    torch.save({'model': _Evil(marker), 'epoch': 0}, run/'checkpoint.pth')
    torch.save({'features.0.0.weight': _Evil(marker)}, tmp_path/'evil.pth')
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter('always')
        res = call_command(foodvision_train, '--data', small.data, '--epochs', 1, '--n_preds', 4, '--out', run, '--resume', *SMALL)
        assert_cli_error(res, 'checkpoint', run/'checkpoint.pth')
        res = call_command(foodvision_train, '--data', small.data, '--epochs', 1, '--weights_path', tmp_path/'evil.pth', '--out', tmp_path/'w', *SMALL)
        assert_cli_error(res, 'evil.pth')
    assert not marker.exists(), 'the pickle ran'
    assert not [str(w.message) for w in seen if 'foodvision_fastai' not in (w.filename or '')], [str(w.message)[:200] for w in seen]
