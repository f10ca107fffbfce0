"""Write README.md from nbs/index.ipynb (nbdev_readme needs Quarto, which cannot be installed here).

nbconvert renders the notebook to Markdown with its outputs; cells marked `#| hide` are left out, nbdev's `#|` directives
are removed, and links to pictures beside the notebook (`images/...`) are made relative to the repository root.
`--check` exits 1 when README.md differs from what the notebook gives (CI runs it)."""
import re, sys
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter

ROOT = Path(__file__).resolve().parents[1]

def render() -> str:
    nb = nbformat.read(ROOT/'nbs'/'index.ipynb', as_version=4)
    cells = []
    for c in nb.cells:
        if re.search(r'^#\|\s*hide\s*$', c.source, re.M): continue
        if c.cell_type == 'code': c.source = '\n'.join(l for l in c.source.splitlines() if not l.startswith('#|')).strip()
        cells.append(c)
    nb.cells = cells
    md, _ = MarkdownExporter().from_notebook_node(nb)
    md = re.sub(r'\]\((?!https?:|/|#)([^)]+\.(?:png|jpg|jpeg|gif|svg))\)', r'](nbs/\1)', md)
    md = re.sub(r'\n{3,}', '\n\n', md).strip() + '\n'
    return '<!-- generated from nbs/index.ipynb by .ci/make_readme.py: edit the notebook, not this file -->\n\n' + md

if __name__ == '__main__':
    new = render()
    if '--check' in sys.argv:
        if (ROOT/'README.md').read_text() != new:
            sys.exit('README.md is out of date: run `.venv/bin/python .ci/make_readme.py` and commit it')
        print('README.md is up to date')
    else:
        (ROOT/'README.md').write_text(new); print('wrote README.md')
