"""Measure the audit's thresholds on the course's 20% data set (`foodvision_fastai.audit`):

- near duplicates: the similarity of a photo to copies of it (resized, re-encoded, cropped, mirrored), beside the
  similarity of each distinct photo to its most similar other photo, for the features and for the tiny images;
- outliers: the robust z-score of food photos and of photos from imagenette_mini and a drawn screenshot mixed in;
- the label head's weight decay: out-of-fold accuracy and log loss for a few values of C, on the 10% and 20% data.

    FOODVISION_SHARED=../shared/data .venv/bin/python bench/audit_threshold.py

writes bench/audit_threshold.md and nbs/images/audit_threshold.png."""
from __future__ import annotations
import shutil, tempfile, time
from fastcore.script import call_parse
from core import REPO, md_table
from datetime import date
from pathlib import Path

import numpy as np
import matplotlib; matplotlib.use('Agg')
import matplotlib.pyplot as plt
from PIL import Image, ImageDraw

from foodvision_fastai.audit import describe, feature_body, neighbours, outlier_scores, oof_probs, FEATURE_NEAR, PIXEL_NEAR, OUTLIER_Z
from foodvision_fastai.data import get_data
from foodvision_fastai.layout import read_layout
from foodvision_fastai.test_utils import shared_data


def crop(im, frac, where):
    w, h = im.size; cw, ch = int(w*frac), int(h*frac)
    left, top = {'centre': ((w-cw)//2, (h-ch)//2), 'corner': (0, 0), 'other corner': (w-cw, h-ch)}[where]
    return im.crop((left, top, left+cw, top+ch))

COPIES = {  # name -> (what is done to the photo, JPEG quality)
    'half size, quality 75': lambda im: (im.resize((im.width//2, im.height//2), Image.BICUBIC), 75),
    'quarter size, quality 75': lambda im: (im.resize((im.width//4, im.height//4), Image.BICUBIC), 75),
    'same size, quality 20': lambda im: (im, 20),
    'crop 90% (centre)': lambda im: (crop(im, .9, 'centre'), 90),
    'crop 80% (corner)': lambda im: (crop(im, .8, 'corner'), 90),
    'crop 70% (other corner)': lambda im: (crop(im, .7, 'other corner'), 90),
    'mirror image': lambda im: (im.transpose(Image.FLIP_LEFT_RIGHT), 90),
}

def screenshot(path:Path)->Path:
    "A drawn screenshot: a window title bar and lines of text on white."
    im = Image.new('RGB', (800, 600), 'white'); d = ImageDraw.Draw(im)
    for y in range(30, 600, 30): d.text((20, y), 'File  Edit  View   pizza_steak_sushi/train/pizza/12345.jpg   OK  Cancel', fill='black')
    d.rectangle((0, 0, 800, 18), fill=(40, 90, 200)); im.save(path)
    return path

def files_of(path:Path)->tuple:
    lay = read_layout(path)
    items = [(f, c) for s in ('train', 'test') for f, c in lay.items[s]]
    return [f for f,_ in items], np.array([lay.classes.index(c) for _,c in items])

def main(n_photos:int=150, seed:int=0, out:Path=REPO/'bench'/'audit_threshold.md', png:Path=REPO/'nbs'/'images'/'audit_threshold.png'):
    t0, body, tmp = time.time(), feature_body(), Path(tempfile.mkdtemp())
    try:
        d20 = get_data(shared_data()/'pizza_steak_sushi_20_percent.zip', quiet=True)
        files, y = files_of(d20)
        feats, pix = describe(files, body=body)
        rng = np.random.default_rng(seed)
        sel = rng.choice(len(files), n_photos, replace=False)
        sims = {}
        for name, f in COPIES.items():
            paths = []
            for i in sel:
                with Image.open(files[i]) as im:
                    v, q = f(im.convert('RGB'))
                    paths.append(tmp/f'{len(paths)}_{name[:4]}.jpg'); v.save(paths[-1], quality=q)
            cf, cp = describe(paths, body=body)
            sims[name] = ((cf*feats[sel]).sum(1), (cp*pix[sel]).sum(1))
        distinct = (neighbours(feats, 1)[1][:, 0], neighbours(pix, 1)[1][:, 0])

        cells = [[name, len(fs), f'{fs.min():.3f}', f'{np.percentile(fs, 5):.3f}', f'{np.median(fs):.3f}', f'{(fs>=FEATURE_NEAR).mean():.0%}',
                  f'{ps.min():.3f}', f'{np.median(ps):.3f}', f'{(ps>=PIXEL_NEAR).mean():.0%}', f'{((fs>=FEATURE_NEAR)|(ps>=PIXEL_NEAR)).mean():.0%}']
                 for name, (fs, ps) in sims.items()]
        fs, ps = distinct
        cells.append(['distinct photos, each with its most similar other (max)', len(fs), f'max {fs.max():.3f}', f'99th percentile {np.percentile(fs, 99):.3f}',
                      f'{np.median(fs):.3f}', f'{(fs>=FEATURE_NEAR).mean():.1%}', f'max {ps.max():.3f}', f'{np.median(ps):.3f}', f'{(ps>=PIXEL_NEAR).mean():.1%}',
                      f'{((fs>=FEATURE_NEAR)|(ps>=PIXEL_NEAR)).mean():.1%}'])
        rows = md_table(['pairs', 'n', 'features: min', '5th percentile', 'median', 'found at FEATURE_NEAR', 'tiny images: min', 'median',
                         'found at PIXEL_NEAR', 'found by either'], cells).rstrip('\n').splitlines()

        fig, axs = plt.subplots(1, 2, figsize=(13, 4.5))
        for ax, k, thr, what in ((axs[0], 0, FEATURE_NEAR, 'features (MobileNetV2, cosine)'), (axs[1], 1, PIXEL_NEAR, 'tiny images (16x16 grey, cosine)')):
            bins = np.linspace(min(distinct[k].min(), min(v[k].min() for v in sims.values())), 1, 60)
            ax.hist(distinct[k], bins, color='grey', alpha=.6, label='distinct photo and its most similar other')
            for name, v in sims.items(): ax.hist(v[k], bins, histtype='step', lw=1.5, label=name)
            ax.axvline(thr, color='k', ls='--', label=f'threshold {thr}'); ax.set_title(what); ax.set_xlabel('similarity to the photo'); ax.set_yscale('log')
        axs[0].legend(fontsize=7, loc='upper left')
        fig.suptitle(f'{n_photos} photos of the 20% data set and their copies, beside all {len(files)} distinct photos'); fig.tight_layout()
        fig.savefig(png, dpi=80)

        # outliers: imagenette photos and a screenshot among the food photos
        inet = get_data(shared_data()/'imagenette_mini.zip', quiet=True)
        strangers = sorted(read_layout(inet).items['train'])[::25][:16]
        extra = [f for f,_ in strangers] + [screenshot(tmp/'screenshot.png')]
        ef, _ = describe(extra, body=body)
        z = outlier_scores(np.concatenate([feats, ef]))
        zf, ze = z[:len(files)], z[len(files):]
        out_rows = [f'- food photos: largest z {zf.max():.2f}, {(zf>OUTLIER_Z).sum()} of {len(zf)} above OUTLIER_Z = {OUTLIER_Z}',
                    f'- imagenette photos (16, one in 25 of its training folders): z {", ".join(f"{v:.1f}" for v in sorted(ze[:-1]))}; {(ze[:-1]>OUTLIER_Z).sum()} above {OUTLIER_Z}',
                    f'- the drawn screenshot: z {ze[-1]:.1f}']

        # the label head's C
        c_cells = []
        d10 = get_data(shared_data()/'pizza_steak_sushi.zip', quiet=True)
        for name, (fe, yy) in (('10%', (describe(files_of(d10)[0], body=body)[0], files_of(d10)[1])), ('20%', (feats, y))):
            for C in (0.1, 1, 10, 100):
                t = time.time(); p = oof_probs(fe, yy, C=C); dt = time.time()-t
                ll = -np.log(np.clip(p[np.arange(len(yy)), yy], 1e-15, 1)).mean()
                c_cells.append([name, C, f'{(p.argmax(1)==yy).mean():.1%}', f'{ll:.3f}', f'{dt:.1f}'])
        c_rows = md_table(['data', 'C', 'out-of-fold accuracy', 'log loss', 'seconds'], c_cells).rstrip('\n').splitlines()

        out.write_text(f"""# The audit's thresholds (`bench/audit_threshold.py`)

`FOODVISION_SHARED=../shared/data .venv/bin/python bench/audit_threshold.py` on {date.today()}, {time.time()-t0:.0f} s.
FEATURE_NEAR = {FEATURE_NEAR}, PIXEL_NEAR = {PIXEL_NEAR}, OUTLIER_Z = {OUTLIER_Z}.

## Near duplicates

{n_photos} photos of the 20% data set (seed {seed}), each copied seven ways and compared with its photo; the last row
compares each of the {len(files)} distinct photos with its most similar other photo (false alarms). Picture:
nbs/images/audit_threshold.png.

{chr(10).join(rows)}

## Outliers

Robust z-score of the distance (1 - mean cosine similarity of the features) to the 5 nearest photos, among the
{len(files)} photos of the 20% data set with {len(extra)} strangers mixed in:

{chr(10).join(out_rows)}

## The label head's weight decay

Out-of-fold probabilities (5 folds, seed 42) of a logistic-regression head on the features of every photo (train and
test) of each data set:

{chr(10).join(c_rows)}
""")
        print(out.read_text())
    finally: shutil.rmtree(tmp, ignore_errors=True)

@call_parse
def cli(n_photos:int=150, # Photos of the 20% data set to copy seven ways
        out:str=str(REPO/'bench'/'audit_threshold.md'), # The Markdown report
        png:str=str(REPO/'nbs'/'images'/'audit_threshold.png')): # The picture of the similarities
    main(n_photos, out=Path(out), png=Path(png))
