"""What every benchmark of `bench/` shares: the seeds, mean ± sd, a Markdown table, the machine's line, timing a whole
command, and writing a report. Each script imports it (`from core import ...`: the scripts run as `python bench/X.py`,
which puts `bench/` on the path) and parses its options with fastcore's `call_parse`."""
from __future__ import annotations
import os, platform, statistics, subprocess, sys, time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SEEDS = (1, 2, 3, 4, 5)  # the seeds of every accuracy figure unless a script says otherwise

def mean_sd(xs, # Numbers (None are left out)
            pct:bool=False, # Fractions shown as percent
            digits:int=1, # Digits after the point
           )->str:
    "'mean ± sd' of `xs` ('mean' alone for one number, '' for none)."
    xs = [float(x) for x in xs if x is not None]
    if not xs: return ''
    k, unit = (100, '%') if pct else (1, '')
    m = f'{k*statistics.mean(xs):.{digits}f}{unit}'
    return f'{m} ± {k*statistics.stdev(xs):.{digits}f}' if len(xs)>1 else m

def md_table(header:list, # Column titles
             rows:list, # One list of cells per row (str() of each; None is an empty cell)
            )->str:
    "A Markdown table."
    cell = lambda v: '' if v is None else str(v).replace('|', '\\|')
    lines = ['| ' + ' | '.join(map(cell, header)) + ' |', '|' + '---|'*len(header)]
    return '\n'.join(lines + ['| ' + ' | '.join(map(cell, r)) + ' |' for r in rows]) + '\n'

def machine()->str:
    "One line on this machine: date, CPUs, load average (other work on the machine makes timings noisy)."
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    load = ', '.join(f'{x:.1f}' for x in os.getloadavg())
    return f'{datetime.now():%Y-%m-%d %H:%M}, {platform.machine()} with {cores} usable CPU cores, load average {load} (1, 5, 15 min)'

def time_command(cmd:list, # The command and its arguments
                 env:dict|None=None, # Variables added to this process's environment
                 cwd:Path|str|None=None, # Folder to run it in
                )->dict:
    "Run `cmd` as a whole (its imports, start-up and saving count) and time it: seconds, rc, output, 1-minute load after."
    t = time.perf_counter()
    r = subprocess.run([str(c) for c in cmd], env=dict(os.environ, **(env or {})), cwd=cwd, capture_output=True, text=True)
    return dict(seconds=time.perf_counter()-t, rc=r.returncode, stdout=r.stdout, stderr=r.stderr, load=os.getloadavg()[0])

def command_line()->str:
    "How this script was called, to put in its report."
    return ' '.join(['python', os.path.relpath(sys.argv[0], REPO) if Path(sys.argv[0]).is_absolute() else sys.argv[0], *sys.argv[1:]])

def write_report(out:Path|str, # The Markdown file
                 text:str, # Its new content
                 keep_from:str|None=None, # A heading of the old file: it and what follows are kept at the end (a dated history)
                )->Path:
    "Write the report `out`, keeping the old file's section from `keep_from` on; print where it went."
    out = Path(out)
    old = out.read_text() if keep_from and out.exists() else ''
    if keep_from and keep_from in old: text = text.rstrip('\n') + '\n\n' + old[old.index(keep_from):]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f'wrote {out}')
    return out
