# ruff: noqa: F403, F405  (the book's `from fastai.vision.all import *`)
"""Train on a folder of photos as the fastai book does it (chapter 5, "Image classification": presizing, `vision_learner`,
`fine_tune`), for `bench/own_data.py` to time as a whole command beside `foodvision_train`.

    python bench/fastai_book.py DATA [--csv Training_set.csv --folder train [--split_col split]] [--seed 1]

DATA with `train/` and `val/` folders (one folder per class) is read with `ImageDataLoaders.from_folder`; with `--csv`, a
CSV of `filename,label` rows (as Kaggle ships them) with `ImageDataLoaders.from_csv`, 20% of its rows validating. The
columns are named: fastai's default `fn_col=0` fails with the pandas we pin (3.1.1: `KeyError: 0`, a row's `r[0]` is no longer taken as
a position).
The book uses resnet34, whose weights cannot be downloaded here: this uses torchvision's MobileNetV2 (the weights come
from `$TORCH_HOME/hub/checkpoints`, which `bench/own_data.py` fills from the project's offline copy). fastai's
`model_meta` does not know MobileNetV2, so the script tells it where its body ends (the last child, its classifier, is cut
off), how to split it for `freeze`, and that it wants ImageNet's statistics (fastai then normalizes the batches itself).
The last line printed is `accuracy <fraction>` on the validation photos after the last epoch."""
from fastai.vision.all import *
from fastcore.script import call_parse
from torchvision.models import mobilenet_v2

@call_parse
def main(data:str, # Data folder
         csv:str=None, # A CSV of file names and labels in `data` (`from_csv`), else `train/` and `val/` folders (`from_folder`)
         folder:str='train', # With `csv`: the folder under `data` that holds the photos
         fn_col:str='filename', # With `csv`: the column of file names
         label_col:str='label', # With `csv`: the column of labels
         split_col:str=None, # With `csv`: a column saying `valid` for the rows to validate on (else a random 20%)
         seed:int=1, # Random seed
         epochs:int=3): # Epochs after the frozen one (`fine_tune`)
    set_seed(seed, reproducible=True)
    path = Path(data)
    model_meta[mobilenet_v2] = dict(cut=-1, split=default_split, stats=imagenet_stats)
    tfms = dict(item_tfms=Resize(460), batch_tfms=aug_transforms(size=224, min_scale=0.75))
    if csv and split_col:  # `from_csv` is `from_df(pd.read_csv(...))`; fastai's `valid_col` wants booleans
        df = pd.read_csv(path/csv)
        dls = ImageDataLoaders.from_df(df.assign(is_valid=df[split_col]=='valid'), path, folder=folder, fn_col=fn_col, label_col=label_col,
                                       valid_col='is_valid', seed=seed, **tfms)
    elif csv: dls = ImageDataLoaders.from_csv(path, csv, folder=folder, fn_col=fn_col, label_col=label_col, valid_pct=0.2, seed=seed, **tfms)
    else: dls = ImageDataLoaders.from_folder(path, train='train', valid='val', seed=seed, **tfms)
    learn = vision_learner(dls, mobilenet_v2, metrics=accuracy)
    learn.fine_tune(epochs)
    print(f'accuracy {learn.recorder.values[-1][-1]:.4f}')
