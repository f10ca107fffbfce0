# ruff: noqa: F403, F405  (the book's `from fastai.vision.all import *`)
"""Train on a folder of photos as the fastai book does it (chapter 5, "Image classification": presizing, `vision_learner`,
`fine_tune`), for `bench/own_data.py` to time as a whole command beside `foodvision_train`.

    python bench/fastai_book.py DATA [--csv Training_set.csv --folder train] [--seed 1]

DATA with `train/` and `val/` folders (one folder per class) is read with `ImageDataLoaders.from_folder`; with `--csv`, a
CSV of `filename,label` rows (as Kaggle ships them) with `ImageDataLoaders.from_csv`, 20% of its rows validating.
The book uses resnet34, whose weights cannot be downloaded here: this uses torchvision's MobileNetV2 (the weights come
from `$TORCH_HOME/hub/checkpoints`, which `bench/own_data.py` fills from the project's offline copy). fastai's
`model_meta` does not know MobileNetV2, so the script says where its body ends (`cut=-1`) and adds ImageNet's
normalization itself, as the book does for a model fastai does not know (chapter 7, Imagenette).
The last line printed is `accuracy <fraction>` on the validation photos after the last epoch."""
from fastai.vision.all import *
from fastcore.script import call_parse
from torchvision.models import mobilenet_v2

@call_parse
def main(data:str, # Data folder
         csv:str=None, # A CSV of file names and labels in `data` (`from_csv`), else `train/` and `val/` folders (`from_folder`)
         folder:str='train', # With `csv`: the folder under `data` that holds the photos
         seed:int=1, # Random seed
         epochs:int=3): # Epochs after the frozen one (`fine_tune`)
    set_seed(seed, reproducible=True)
    path = Path(data)
    tfms = dict(item_tfms=Resize(460), batch_tfms=[*aug_transforms(size=224, min_scale=0.75), Normalize.from_stats(*imagenet_stats)])
    if csv: dls = ImageDataLoaders.from_csv(path, csv, folder=folder, valid_pct=0.2, seed=seed, **tfms)
    else: dls = ImageDataLoaders.from_folder(path, train='train', valid='val', seed=seed, **tfms)
    learn = vision_learner(dls, mobilenet_v2, cut=-1, metrics=accuracy)
    learn.fine_tune(epochs)
    print(f'accuracy {learn.recorder.values[-1][-1]:.4f}')
