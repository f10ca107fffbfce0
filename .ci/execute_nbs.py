"""Run the notebooks and keep their outputs, so that they read well on GitHub and the documentation site shows them.

    python .ci/execute_nbs.py [NOTEBOOK ...]      # default: every notebook in nbs/ and nbs/tutorials/

Each notebook runs in its own folder, as `nbdev_test` runs it, slow cells included; a cell that fails stops it with the
error and leaves the file as it was. Then run `nbdev_clean` (it keeps the outputs and drops the execution counts)."""
import os, sys, time
from pathlib import Path
from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell

REPO = Path(__file__).resolve().parents[1]

def execute(fn:Path):
    "Run every cell of the notebook `fn` in a fresh shell, in its folder, and write it back with the outputs."
    nb, cwd = read_nb(fn), os.getcwd()
    os.chdir(fn.parent)
    try:
        shell = CaptureShell()
        shell.run_all(nb, exc_stop=True)
    finally: os.chdir(cwd)
    for c in nb.cells:  # libraries' deprecation warnings are not part of the story (and name this machine's paths)
        if 'outputs' in c: c.outputs = [o for o in c.outputs if not (o.get('name')=='stderr' and 'site-packages/' in ''.join(o.get('text', '')))]
    write_nb(nb, fn)

if __name__ == '__main__':
    os.environ.setdefault('MPLBACKEND', 'Agg')
    nbs = [Path(p).resolve() for p in sys.argv[1:]] or sorted((REPO/'nbs').glob('*.ipynb')) + sorted((REPO/'nbs'/'tutorials').glob('*.ipynb'))
    for fn in nbs:
        t0 = time.perf_counter(); execute(fn)
        print(f'{fn.relative_to(REPO)}: {time.perf_counter()-t0:.0f} s', flush=True)
