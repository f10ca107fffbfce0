"""What each of `foodvision_fastai`'s speed-ups is worth, one at a time, on this machine.

    .venv/bin/python bench/ablation.py [--data path/to/10%.zip] [--out ablation.md]

`bench/run.py` compares whole runs; this script switches the changes on one after the other, in one process, and
times the piece each one touches (median over repeated calls, after a warm-up):
  data        one test image file -> the model's 224 px uint8 tensor
  train step  forward + backward + Adam step on one batch of 32 real training images, MobileNetV2, frozen body
  fit         3 epochs of `fit_one_cycle` on the 225 training images (each validated on the 75 test images), MobileNetV2
  predict     one image at batch 1: the model alone, then the whole `predict(model, path)`
It prints a Markdown table and writes it to `--out`; `bench/run.py` adds it to its report.
"""
from __future__ import annotations
import shutil, statistics, time, warnings
from pathlib import Path
from types import SimpleNamespace
from fastcore.script import call_parse
from core import md_table

warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')
from foodvision_fastai.test_utils import shared_data
SHARED = shared_data()  # $FOODVISION_SHARED, else ../shared/data beside the checkout


def ms(f, n:int, warm:int=2)->float:
    "Median milliseconds of `f()` over `n` calls after `warm` warm-up calls."
    for _ in range(warm): f()
    ts = []
    for _ in range(n):
        t = time.perf_counter(); f(); ts.append(time.perf_counter()-t)
    return 1000*statistics.median(ts)


def over(paths, f):
    "A call that runs `f` on the next image of `paths` (so the timings cover every image, not one cached file)."
    it = iter(range(10**9))
    return lambda: f(paths[next(it) % len(paths)])


def data_rows(paths)->list:
    from fastai.vision.core import PILImage
    from fastai.vision.augment import Resize
    from foodvision_fastai.images import FoodImage, CropResize
    n = 2*len(paths)
    return [('data', "fastai: `PILImage.create` + `Resize(224)` (validation mode)", ms(over(paths, lambda p: Resize(224)(PILImage.create(p), split_idx=1)), n)),
            ('data', '+ `FoodImage.create` (EXIF rotation, any mode to RGB, without copies)', ms(over(paths, lambda p: Resize(224)(FoodImage.create(p), split_idx=1)), n)),
            ('data', "+ `CropResize` (fastai's crop, minus the no-op padding copy)", ms(over(paths, lambda p: CropResize(224)(FoodImage.create(p), split_idx=1)), n)),
            ('data', '+ JPEG draft decoding (`FoodImage.create(p, draft=224)`)', ms(over(paths, lambda p: CropResize(224)(FoodImage.create(p, draft=224), split_idx=1)), n))]


def train_rows(data)->list:
    import torch
    from foodvision_fastai.dataloaders import foodvision_dls
    from foodvision_fastai.models import foodvision_learner
    from foodvision_fastai.callbacks import cpu_has_bf16, fold_bn
    dls = foodvision_dls(data, bs=32, num_workers=0, device='cpu')
    xb, yb = dls.one_batch()
    def step_fn(freeze_bn, channels_last, bf16, fold=False):
        learn = foodvision_learner(dls, freeze_bn=freeze_bn, quiet=True)
        model, opt = learn.model.train(), learn.opt
        if freeze_bn: learn.bn_freeze('before_train')  # what fit does: the frozen body's BatchNorm in eval mode
        x = xb.contiguous(memory_format=torch.channels_last) if channels_last else xb
        if channels_last: model.to(memory_format=torch.channels_last)
        body = fold_bn(model[0]) if fold else model[0]  # what `FoldBN` runs during fit
        def step():
            with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
                loss = learn.loss_func(model[1](body(x)).float(), yb)
            loss.backward(); opt.step(); opt.zero_grad()
        return step
    rows = [('train step', "fastai's default: BatchNorm of the frozen body trainable (`train_bn=True`), fp32", ms(step_fn(False, False, False), 5, 1)),
            ('train step', '+ frozen BatchNorm (`freeze_bn=True`: no gradients through the body)', ms(step_fn(True, False, False), 5, 1)),
            ('train step', '+ channels-last', ms(step_fn(True, True, False), 5, 1)),
            ('train step', "+ the frozen body's BatchNorm folded into its convolutions (`FoldBN`)", ms(step_fn(True, True, False, True), 5, 1))]
    if cpu_has_bf16(): rows.append(('train step', '+ bfloat16 autocast (AVX512-BF16 CPU)', ms(step_fn(True, True, True, True), 5, 1)))
    else: rows.append(('train step', '+ bfloat16 autocast: not measured, this CPU has no AVX512-BF16', None))
    return rows


def fit_rows(data)->list:
    "One `fit_one_cycle(3)` of MobileNetV2 on the real training set (and its validation each epoch) in fp32, as `train_foodvision` runs it, without `FoldBN` and with it."
    from fastai.torch_core import set_seed
    import fastai.callback.schedule  # noqa: F401 (`Learner.fit_one_cycle`)
    from foodvision_fastai.dataloaders import foodvision_dls
    from foodvision_fastai.models import foodvision_learner
    from foodvision_fastai.callbacks import speed_up
    dls = foodvision_dls(data, bs=32, num_workers=0)
    def fit(fold:bool)->float:
        learn = speed_up(foodvision_learner(dls, quiet=True), 'fp32', fold=fold)
        set_seed(1, reproducible=True)
        t = time.perf_counter()
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(3, 2e-3)
        return 1000*(time.perf_counter()-t)
    return [('fit, 3 epochs', 'frozen BatchNorm, channels-last, fp32 (as above), without `FoldBN`', fit(False)),
            ('fit, 3 epochs', "+ the frozen body's BatchNorm folded into its convolutions (`FoldBN`)", fit(True))]


def predict_rows(model_dir, paths)->list:
    import torch
    from foodvision_fastai.export import load_model
    from foodvision_fastai.inference import predict, open_image, to_input
    mt, mo = load_model(model_dir, runtime='torch'), load_model(model_dir)
    x = to_input([open_image(paths[0], mt.size)], mt.cfg)
    xc = x.contiguous(memory_format=torch.channels_last)
    cl = load_model(model_dir, runtime='torch').model.to(memory_format=torch.channels_last)
    rows = []
    with torch.inference_mode():
        rows += [('predict', 'model alone: PyTorch fp32', ms(lambda: mt.model(x), 50)),
                 ('predict', 'model alone: PyTorch channels-last', ms(lambda: cl(xc), 50))]
        if mo.runtime=='onnxruntime': rows.append(('predict', 'model alone: ONNX Runtime (`load_model` default on the CPU)', ms(lambda: mo(x), 50)))
    n = 2*len(paths)
    rows += [('predict', "`predict(model, path)`, `load_model(..., runtime='torch')`", ms(over(paths, lambda p: predict(mt, p)), n)),
             ('predict', '`predict(model, path)`, `load_model(...)` (ONNX Runtime)', ms(over(paths, lambda p: predict(mo, p)), n))]
    return rows


def table(rows)->str:
    cells, prev = [], {}
    for piece, what, v in rows:
        base = prev.get(piece)
        cells.append([piece, what, 'n/a' if v is None else f'{v:.2f}' + (f' ({v/base:.2f}×)' if base and not what.startswith('model alone') else '')])
        if v is not None and piece not in prev: prev[piece] = v
    return md_table(['piece', 'set-up (each row adds one change to the row above)', 'ms'], cells).rstrip('\n')


@call_parse
def main(data:str=str(SHARED/'pizza_steak_sushi.zip'), # The 10% data (zip or folder)
         model:str=None, # A run folder with model.safetensors (default: train 1 epoch first)
         out:str=None): # Write the table there too
    args = SimpleNamespace(data=data, model=model, out=out)
    import torch
    from foodvision_fastai.data import get_data
    data = get_data(args.data, quiet=True)
    paths = sorted(p for p in (data/'test').glob('*/*') if p.is_file())
    model_dir = args.model
    if model_dir is None:
        import tempfile
        from foodvision_fastai.train import train_foodvision
        model_dir = train_foodvision(data, epochs=1, out=Path(tempfile.mkdtemp())/'run', quiet=True).out
    rows = data_rows(paths) + train_rows(data) + fit_rows(data) + predict_rows(model_dir, paths)
    md = (f'Threads: {torch.get_num_threads()}. In brackets: the time relative to the first row of the same piece. '
          'The "model alone" rows time the network on one normalized image.\n\n' + table(rows) + '\n')
    print(md)
    if args.out: Path(args.out).write_text(md)
    if args.model is None: shutil.rmtree(Path(model_dir).parent)  # the run trained here, not one given
