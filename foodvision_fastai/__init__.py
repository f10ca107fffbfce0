__version__ = "0.1.0"

from . import core  # first: its warning filters must be in place before fastai is imported
from .train import train_foodvision, TrainResult
from .predict import predict
from .models import load_model
