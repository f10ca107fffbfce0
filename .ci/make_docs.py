"""Build the documentation site from the notebooks into `_docs/` with Sphinx and myst-nb (nbdev_docs needs Quarto).

The notebooks are processed as nbdev's docs processors do, then rendered with their stored outputs (nothing is run):
- cells marked `#| hide`, `#| default_exp`, `#| exporti` or `#| include: false`, and `#| export` cells that only import,
  are left out; `#|` lines are removed; `#| echo: false` and `#| output: false` hide a cell's code or output;
- an `#| export` cell shows its code (folded), then the entry of each public function and class it defines (the module's
  `__all__`, and `@patch`ed methods): nbdev's `show_doc` (signature, docstring, source link) and a table of the parameter
  notes (fastcore's `docments`), at nbdev's anchor; a `show_doc(name)` cell shows that entry;
- a backticked public name links to its entry, a link to a notebook to its page, a link to another file of the repository
  to that file on GitHub; the libraries in settings.ini's `strip_libs` link to their docs (`Learner`: docs.fast.ai).
Pages are named as nbdev names them (`08_train.ipynb` -> `train.html`, anchors as in `_modidx.py`); the notebooks of
`nbs/` come in file-name order, `index.ipynb` is the home page, each sub-folder (`tutorials/`) is a section of its own.
The title, URLs and paths come from settings.ini.

    python .ci/make_docs.py            build into _docs/ (open _docs/index.html, or `python -m http.server -d _docs`)
    python .ci/make_docs.py --check    build, then fail on a Sphinx warning or a broken internal link, anchor or picture
"""
from __future__ import annotations

import ast
import importlib
import inspect
import io
import re
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # document this checkout's package, whatever else is installed
from docutils import nodes
from execnb.nbio import mk_cell, write_nb
from fastcore.docments import MarkdownRenderer
from nbdev.config import get_config
from nbdev.doclinks import NbdevLookup
from nbdev.process import NBProcessor
from nbdev.showdoc import show_doc, showdoc_nm

CFG = get_config(path=ROOT)
NBS, OUT, WORK = CFG.nbs_path, CFG.doc_path, ROOT/'_proc'/'make_docs'  # WORK: processed notebooks, Sphinx's files
NBDEV_LIBS = NbdevLookup(tuple(CFG.get('strip_libs', CFG.lib_name).split()))
LEAVE_OUT = {'hide', 'default_exp', 'exporti'}
QUARTO_TAGS = {'echo:': 'remove-input', 'output:': 'remove-output'}  # `#| echo: false` ...
RE_SHOWDOC = re.compile(r'^show_doc\(\s*([\w.]+)', re.MULTILINE)
RE_LINK = re.compile(r'(!?)\[([^\]]*)\]\(([^)\s]+)\)')  # markdown links and pictures
RE_PICTURE = re.compile(r'!\[[^\]]*\]\(([^)\s]+)\)|<img [^>]*src="([^"]+)"')
CSS = ('section.api {margin-top: 3rem; border-top: 1px solid var(--color-background-border)}\n'  # an entry, as nbdev's `---`
       'p.api-source {text-align: right; font-size: smaller; margin: -2.6rem 0 1rem}')  # its source link, beside its heading


def notebooks() -> list[Path]:
    "The notebooks of `nbs/`: the top level first, then each sub-folder, by file name; names starting `_` or `.` skipped."
    rel = lambda p: p.relative_to(NBS)
    nbs = [p for p in NBS.rglob('*.ipynb') if not any(s[0] in '_.' for s in rel(p).parts)]
    return sorted(nbs, key=lambda p: (len(rel(p).parts) > 1, rel(p).as_posix()))

def page(nb: Path) -> str:
    "nbdev's page name: `tutorials/01_Foo.ipynb` -> `tutorials/foo`."
    rel = nb.relative_to(NBS)
    return (rel.parent/re.sub(r'^\d+[a-zA-Z0-9]*_', '', rel.stem.lower())).as_posix()

def anchor(name: str) -> str: return name.lower()  # as in `_modidx.py`: `train.html#train_foodvision`

def as_code(o, default=False) -> str:
    "An annotation or a default value as a table cell."
    if o is inspect.Parameter.empty or (o is None and not default): return ''
    if default: o = getattr(o, '__name__', None) or repr(o)
    elif not isinstance(o, str): o = inspect.formatannotation(o)
    return '`' + o.replace('|', r'\|') + '`'

def notes_table(dm: dict) -> str:
    "fastcore's `docments(obj, full=True)` as a table of parameter notes: name, type, default, note."
    star = {inspect.Parameter.VAR_POSITIONAL: r'\*', inspect.Parameter.VAR_KEYWORD: r'\*\*'}
    def note(d):  # on one line, `|` escaped, and `<` outside code too: `<PIL image>` is no HTML tag
        return re.sub(r'(`[^`]*`)|<', lambda m: m[1] or r'\<', d['docment'] or '').replace('\n', ' ').replace('|', r'\|')
    rows = [f"| {star.get(d['kind'], '')}{k} | {as_code(d['anno'])} | {as_code(d['default'], True)} | {note(d)} |"
            for k, d in dm.items() if k != 'return']
    if (ret := dm.get('return')) and (ret['docment'] or as_code(ret['anno'])):
        rows.append(f"| **Returns** | {as_code(ret['anno'])} | | {note(ret)} |")
    return '\n'.join(['| Parameter | Type | Default | Note |', '|---|---|---|---|', *rows])

def api_entry(module, name: str) -> str:
    """The entry of `module.name`: heading and source link, then nbdev's `show_doc` (signature and docstring), and the
    parameter notes, if any, moved from the signature's comments to a table. `own_anchors` gives it nbdev's anchor."""
    obj = module
    for part in name.split('.'): obj = getattr(obj, part)
    doc = show_doc(obj, name=name)
    doc.dm.maxline = 85  # what furo's code blocks show without scrolling
    dm = doc.dm.dm  # fastcore's `docments(obj, full=True)`, less `self`
    table = notes_table(dm) if any(d['docment'] for d in dm.values()) else ''
    if table:
        for d in dm.values(): d['docment'] = None
    src = NbdevLookup().code(doc.fn) or ''
    if src:
        try: src = src.replace('#LNone', f'#L{inspect.getsourcelines(inspect.unwrap(obj))[1]}')
        except (TypeError, OSError): src = src.replace('#LNone', '')
        src = f'{{.api-source}}\n[source]({src})\n\n'
    return f'{{.api}}\n### {name}\n\n{src}{MarkdownRenderer._repr_markdown_(doc)}\n\n{table}'

def own_anchors(app, doctree):
    "Sphinx's ids are `train-foodvision`: an entry's section gets nbdev's `train_foodvision` first, from any other owner."
    entries = {anchor(s[0].astext()): s for s in doctree.findall(nodes.section) if 'api' in s['classes']}
    for node in doctree.findall(nodes.Element):
        if any(i in entries for i in node['ids']):
            node['ids'] = [i for i in node['ids'] if i not in entries]
            if not node['ids'] and node not in entries.values(): doctree.set_id(node)  # a new one (`id1`)
    for a, s in entries.items(): s['ids'].insert(0, a); doctree.ids[a] = s

def public_defs(cell, module) -> list[str]:
    "The public functions and classes that a code cell defines."
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    names = [showdoc_nm(o) for o in cell.parsed_() or [] if isinstance(o, defs)]
    return [n for n in names if n in getattr(module, '__all__', ()) or ('.' in n and not n.split('.')[-1].startswith('_'))]

def process(nb: Path, api: dict) -> list:
    "The notebook's cells for its page; adds `name: page.html#anchor` to `api` for each entry."
    proc, cells = NBProcessor(nb), []
    exp = next((c.directives_['default_exp'][0] for c in proc.nb.cells if 'default_exp' in c.directives_), None)
    module = importlib.import_module(f'{CFG.lib_name}.{exp}' if exp else CFG.lib_name)
    shown = {n for c in proc.nb.cells if c.cell_type == 'code' for n in RE_SHOWDOC.findall(c.source)}
    def entries(mod, names):
        for n in names: api[n] = api[f'{mod.__name__}.{n}'] = f'{page(nb)}.html#{anchor(n)}'
        return [mk_cell(api_entry(mod, n), 'markdown') for n in names]
    for cell in proc.nb.cells:
        dirs = cell.directives_
        if dirs.keys() & LEAVE_OUT or dirs.get('include:') == ['false']: continue
        if cell.cell_type != 'code': cells.append(cell); continue
        cell.source = '\n'.join(l for l in cell.source.splitlines() if not l.startswith('#|')).strip()
        cell.metadata['tags'] = [t for d, t in QUARTO_TAGS.items() if dirs.get(d) == ['false']]
        if RE_SHOWDOC.search(cell.source): cells += entries(module, RE_SHOWDOC.findall(cell.source)); continue
        if 'export' not in dirs and 'exports' not in dirs: cells.append(cell); continue
        mod = importlib.import_module(f"{CFG.lib_name}.{(dirs.get('export') or dirs.get('exports') or [exp])[0]}")
        names = [n for n in public_defs(cell, mod) if n not in shown]
        if names or not all(isinstance(o, (ast.Import, ast.ImportFrom)) for o in cell.parsed_() or []):
            if 'export' in dirs: cell.metadata['tags'].append('hide-input')  # folded; `#| exports` shows it
            cells.append(cell)
        cells += entries(mod, names)
    return cells

def relink(md: str, nb: Path, api: dict, pages: dict) -> str:
    "Backticked names link to their entries; links to notebooks go to their pages, to other repository files to GitHub."
    up = '../'*page(nb).count('/')
    def link(m):
        bang, text, url = m.groups()
        if bang or re.match(r'[a-z]+:|#|/', url): return m[0]
        path, _, frag = url.partition('#')
        f = next((p for p in ((nb.parent/path).resolve(), (ROOT/path).resolve()) if p.exists()), None)
        if f in pages: return f'[{text}]({up}{pages[f]}.ipynb{"#"*bool(frag)}{frag})'
        if f and f.is_relative_to(ROOT): return f'[{text}]({CFG.git_url}/blob/{CFG.branch}/{f.relative_to(ROOT).as_posix()})'
        return m[0]
    def name(m):  # our entries as raw HTML: Sphinx would replace their anchors by its own ids
        if m[1] in api:
            return f'<a class="reference internal" href="{up}{api[m[1]]}"><code class="docutils literal">{m[1]}</code></a>'
        url = NBDEV_LIBS.doc(m[1])
        return f'[`{m[1]}`]({url})' if url and not url.startswith(CFG.doc_host) else m[0]
    parts = re.split(r'(```.*?```)', md, flags=re.DOTALL)  # leave fenced code alone
    for i in range(0, len(parts), 2): parts[i] = re.sub(r'(?<![\[`])`([\w.]+)`(?![`\]])', name, RE_LINK.sub(link, parts[i]))
    return ''.join(parts)

def toctree(caption: str, docs: list[str]) -> str:
    return '```{toctree}\n:hidden:\n:caption: ' + caption + '\n\n' + '\n'.join(docs) + '\n```'

def build(out: Path = OUT) -> str:
    "Write the processed notebooks into `WORK/src`, then the HTML site into `out`; returns Sphinx's warnings."
    from sphinx.application import Sphinx
    src = WORK/'src'
    shutil.rmtree(WORK, ignore_errors=True)
    nbs, api, sections = notebooks(), {}, {}
    pages = {nb.resolve(): page(nb) for nb in nbs}
    assert len(set(pages.values())) == len(nbs), f'two notebooks would get the same page: {sorted(pages.values())}'
    cells = {nb: process(nb, api) for nb in nbs}
    for nb in nbs:
        folder = nb.parent.relative_to(NBS).as_posix()
        section = 'Pipeline' if folder == '.' else folder.replace('_', ' ').title()
        if page(nb) != 'index': sections.setdefault(section, []).append(page(nb))
    for nb in nbs:
        for c in cells[nb]:
            if c.cell_type != 'markdown': continue
            c.source = relink(c.source, nb, api, pages)
            for pic in (a or b for a, b in RE_PICTURE.findall(c.source)):  # pictures beside the notebook come along
                if not re.match(r'[a-z]+:', pic) and (nb.parent/pic).is_file():
                    dest = src/Path(page(nb)).parent/pic
                    dest.parent.mkdir(parents=True, exist_ok=True); shutil.copy(nb.parent/pic, dest)
        if page(nb) == 'index': cells[nb] += [mk_cell(toctree(k, v), 'markdown') for k, v in sections.items()]
        out_nb = NBProcessor(nb).nb
        out_nb.cells = cells[nb]
        out_nb.metadata.setdefault('language_info', {'name': 'python'})  # the lexer for the code cells
        (src/page(nb)).parent.mkdir(parents=True, exist_ok=True)
        write_nb(out_nb, src/f'{page(nb)}.ipynb')
    (src/'_static').mkdir(); (src/'_static'/'nbdev.css').write_text(CSS)
    conf = {  # no conf.py: these are all of Sphinx's settings
        'project': CFG.title, 'html_title': CFG.title, 'copyright': CFG.get('copyright', ''),
        'html_baseurl': f'{CFG.doc_host}{CFG.doc_baseurl}/', 'extensions': ['myst_nb', 'sphinx.ext.githubpages'],
        'myst_enable_extensions': ['attrs_inline', 'attrs_block'], 'myst_heading_anchors': 4, 'suppress_warnings': ['myst.header'],
        'smartquotes': False,  # code and notes read as written: '...' stays three dots, quotes stay straight
        'nb_execution_mode': 'off', 'nb_merge_streams': True, 'nb_code_prompt_show': 'Show the code',
        'html_theme': 'furo', 'html_theme_options': {'top_of_page_buttons': []}, 'html_static_path': ['_static'],
        'html_css_files': ['nbdev.css'], 'html_copy_source': False, 'html_show_sourcelink': False, 'exclude_patterns': ['.*']}
    warnings = io.StringIO()  # myst-nb writes beside Sphinx's output folder: build in WORK, then move
    app = Sphinx(src, None, WORK/'html', WORK/'doctrees', 'html', confoverrides=conf, status=None, warning=warnings)
    app.connect('doctree-read', own_anchors, priority=400)  # before Sphinx records the ids for the tables of contents
    app.build()
    shutil.rmtree(out, ignore_errors=True)
    shutil.move(WORK/'html', out)
    warnings = re.sub(r'\x1b\[[0-9;]*m', '', warnings.getvalue()).strip()
    for nb in nbs: warnings = warnings.replace(str(src/f'{page(nb)}.ipynb'), str(nb.relative_to(ROOT)))  # the real names
    return warnings


class Refs(HTMLParser):
    "A page's ids, and its links and resources (pictures, scripts, style sheets)."
    def __init__(self):
        super().__init__(); self.ids, self.refs = set(), []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get('id'): self.ids.add(a['id'])
        resource = tag != 'a' and a.get('rel') not in ('canonical', 'alternate')
        self.refs += [(resource, a[k]) for k in ('href', 'src') if a.get(k)]

def broken_links(out: Path = OUT) -> list[str]:
    "Internal links whose file or anchor is missing; resources that are missing or would be fetched from elsewhere."
    pages, bad = {}, []
    for f in out.rglob('*.html'):
        pages[f.resolve()] = p = Refs(); p.feed(f.read_text(encoding='utf-8'))
    for f, p in pages.items():
        where = f.relative_to(out.resolve())
        for resource, ref in p.refs:
            u = urlsplit(ref)
            if u.scheme or ref.startswith('//'):
                if resource and u.scheme != 'data': bad.append(f'{where}: loads {ref} from outside the site')
                continue
            target = (f.parent/unquote(u.path)).resolve() if u.path else f
            if target.is_dir(): target = target/'index.html'
            if not target.exists(): bad.append(f'{where}: {ref} is missing')
            elif u.fragment and target in pages and unquote(u.fragment) not in pages[target].ids:
                bad.append(f'{where}: {ref}: no such anchor')
    return sorted(bad)


if __name__ == '__main__':
    warnings = build()
    print(f'built {OUT.relative_to(ROOT)}/ from {len(notebooks())} notebooks')
    if '--check' in sys.argv:
        bad = broken_links() + warnings.splitlines()
        if bad: sys.exit(f'{len(bad)} problems in the site:\n  ' + '\n  '.join(bad))
        print('every internal link, anchor and picture resolves')
    elif warnings: print(warnings)
