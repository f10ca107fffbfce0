"""The README as a new user reads it: its Python examples run as they are written (copied from README.md, not re-typed),
every `foodvision_*` command line in it is accepted by the command it names, every link and picture resolves, and
`from foodvision_fastai import X` gives the documented function for each name of the package's `__all__`."""
import os, re, shlex, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT/'README.md').read_text(encoding='utf-8')

def code_blocks(lang:str)->list: return re.findall(rf'^```{lang}\n(.*?)^```', README, re.S | re.M)

def python(code:str, cwd=None, env=None, timeout=600)->subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', code], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)

def test_readme_is_short_and_has_examples():
    assert len(README) < 10_000, f'README.md has {len(README)} characters; keep it under 10,000 (research goes to the experiments notebook)'
    assert code_blocks('python') and code_blocks('bash')

@pytest.mark.parametrize('first', ['nothing', 'every submodule'])
def test_package_names_are_the_functions(first):
    "The lazy names of the package are its functions, not the submodules that hold them, whatever was imported before."
    code = ('import importlib, pkgutil, types, foodvision_fastai as pkg\n'
            + ("for m in pkgutil.iter_modules(pkg.__path__): importlib.import_module('foodvision_fastai.' + m.name)\n" if first!='nothing' else '')
            + 'for name in pkg.__all__:\n'
              '    ns = {}\n'
              '    exec(f"from foodvision_fastai import {name} as obj", ns)\n'
              '    obj = ns["obj"]\n'
              '    assert not isinstance(obj, types.ModuleType), f"{name} is the module {obj.__name__}"\n'
              '    assert obj.__name__ == name and obj.__doc__, (name, obj)\n'
              'print(sorted(pkg.__all__))')
    r = python(code, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert {'train_foodvision', 'predict', 'load_model', 'write_standalone'} <= set(eval(r.stdout.strip().splitlines()[-1]))

def test_readme_python_examples_run_verbatim(shared, tmp_path):
    "Each Python block of the README, as it is written, in a fresh folder holding `my_pizza.jpg` (the course's custom photo)."
    shutil.copy(shared/'custom'/'04-pizza-dad.jpeg', tmp_path/'my_pizza.jpg')
    env = dict(os.environ, FOODVISION_DATA=str(shared/'pizza_steak_sushi.zip'), MPLBACKEND='Agg')
    code = '\n'.join(code_blocks('python')) + '\nprint("README OK")'
    r = python(code, cwd=tmp_path, env=env)
    assert r.returncode == 0 and 'README OK' in r.stdout, r.stderr[-3000:]

def _command_lines()->list:
    lines = []
    for block in code_blocks('bash'):
        for line in block.splitlines():
            for part in line.split('&&'):
                words = shlex.split(part, comments=True)
                if words and re.fullmatch(r'(\.venv/bin/)?foodvision_\w+', words[0]): lines.append(words)
    return lines

def test_readme_commands_parse():
    "Every `foodvision_*` command line of the README is accepted by the command's own argument parser (the options and their values)."
    from fastcore.script import anno_parser
    import foodvision_fastai.cli as cli
    lines = _command_lines()
    assert len(lines) >= 5, lines
    for words in lines:
        name = Path(words[0]).name
        cmd = getattr(cli, name)
        parser = anno_parser(cmd.__wrapped__, name)
        try: parser.parse_args(words[1:])
        except SystemExit: pytest.fail(f'the README says `{shlex.join(words)}`, which {name} does not accept')

def test_readme_links_resolve():
    "Relative links and pictures point to files of the repository; web links are left to the docs check."
    targets = re.findall(r'\]\(([^)\s]+)\)', README)
    local = [t.split('#')[0] for t in targets if not re.match(r'(https?:|mailto:|#)', t)]
    assert local, 'no relative links found'
    missing = [t for t in local if not (ROOT/t).exists()]
    assert not missing, f'README.md links to missing files: {missing}'
