__version__ = "0.1.0"

from .train import train_foodvision, TrainResult
from .predict import predict
from .models import load_model
