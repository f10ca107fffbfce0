__version__ = "0.1.0"

import warnings
# fastai 2.8 calls `torch.jit.script` when it is imported, and torch 2.14 warns about it every time; fastai.tabular sets a
# pandas option that pandas 3 warns about. Neither says anything to our users, and both would clutter every command's
# output, so they are filtered here, before any module of the package imports fastai.
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated', category=FutureWarning)
warnings.filterwarnings('ignore', message="The 'mode.chained_assignment' option is deprecated")

# The main functions, imported on first use (`from foodvision_fastai import train_foodvision`): importing the package itself
# stays instant, so a command can start and answer Ctrl-C before torch and fastai are loaded.
_LAZY = dict(train_foodvision='train', TrainResult='train', predict='inference', load_model='export', write_standalone='export')

def __getattr__(name):
    if name not in _LAZY: raise AttributeError(f"module 'foodvision_fastai' has no attribute {name!r}")
    from importlib import import_module
    return getattr(import_module(f'foodvision_fastai.{_LAZY[name]}'), name)

__all__ = list(_LAZY)
