"""Plain-PyTorch reference: the setup of "Learn PyTorch for Deep Learning", chapter 06 (transfer learning).

It is the yardstick `bench/run.py` compares `foodvision_fastai` against, so it follows the course as closely
as it can: torchvision `ImageFolder` with Resize((224,224)) + ToTensor + Normalize(ImageNet stats), DataLoaders
of batch 32 with `num_workers=os.cpu_count()` (the course's NUM_WORKERS), a pretrained model whose `features`
are frozen and whose head is Dropout(0.2) + Linear, Adam at 1e-3, CrossEntropyLoss, and the course's
`train_step`/`test_step` loop. The course uses EfficientNet-B0; we use MobileNetV2, the package's default arch,
so that both sides train the same network.

One deliberate difference: the course averages accuracy per *batch*, which over-weights the last, smaller
batch (75 test images = 32 + 32 + 11). We count correct images instead, as fastai's `accuracy` does, so the
two sides' numbers mean the same thing.
"""
from __future__ import annotations
import os, time
from pathlib import Path

import torch
from torch import nn
from PIL import Image
from torchvision import datasets, transforms
from torchvision.models import mobilenet_v2, MobileNet_V2_Weights

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def make_transform(size:int=224):
    "The course's manual transform (06, 'Creating a transform for torchvision.models'): used for train, test and prediction."
    return transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor(),
                               transforms.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD)])


def create_dataloaders(data_dir, transform, batch_size:int=32, num_workers:int|None=None):
    "going_modular's `data_setup.create_dataloaders`: (train_dl, test_dl, class_names)."
    data_dir, num_workers = Path(data_dir), os.cpu_count() if num_workers is None else num_workers
    pin = torch.cuda.is_available()  # the course always pins; on a CPU-only machine that only prints a warning
    train_data = datasets.ImageFolder(data_dir/'train', transform=transform)
    test_data = datasets.ImageFolder(data_dir/'test', transform=transform)
    train_dl = torch.utils.data.DataLoader(train_data, batch_size=batch_size, shuffle=True, num_workers=num_workers, pin_memory=pin)
    test_dl = torch.utils.data.DataLoader(test_data, batch_size=batch_size, shuffle=False, num_workers=num_workers, pin_memory=pin)
    return train_dl, test_dl, train_data.classes


def create_model(n_classes:int, device, seed:int=42)->nn.Module:
    "Pretrained MobileNetV2 with a frozen body and a new head, seeded as the course seeds it."
    model = mobilenet_v2(weights=MobileNet_V2_Weights.IMAGENET1K_V1)
    for p in model.features.parameters(): p.requires_grad = False  # feature extraction: only the head learns
    torch.manual_seed(seed); torch.cuda.manual_seed(seed)          # the course seeds right before the new head
    model.classifier = nn.Sequential(nn.Dropout(p=0.2, inplace=True), nn.Linear(1280, n_classes))
    return model.to(device)


def train_step(model, dl, loss_fn, optimizer, device):
    "One pass over the training data; (mean batch loss, per-image accuracy)."
    model.train()
    loss_sum, correct, n = 0., 0, 0
    for X, y in dl:
        X, y = X.to(device), y.to(device)
        logits = model(X)
        loss = loss_fn(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_sum += loss.item()
        correct += (logits.argmax(1)==y).sum().item(); n += len(y)
    return loss_sum/len(dl), correct/n


def test_step(model, dl, loss_fn, device):
    "One pass over the test data without gradients; (mean batch loss, per-image accuracy, images right)."
    model.eval()
    loss_sum, correct, n = 0., 0, 0
    with torch.inference_mode():
        for X, y in dl:
            X, y = X.to(device), y.to(device)
            logits = model(X)
            loss_sum += loss_fn(logits, y).item()
            correct += (logits.argmax(1)==y).sum().item(); n += len(y)
    return loss_sum/len(dl), correct/n, correct


def train(data_dir, epochs:int=5, lr:float=1e-3, bs:int=32, seed:int=42, device=None, num_workers:int|None=None, size:int=224)->dict:
    """Train as the course does; returns history (per epoch: losses, test accuracy, seconds), total seconds,
    the model, the class names and the transform. An epoch's seconds cover its train step and its test step,
    as a fastai epoch covers training and validation."""
    device = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    transform = make_transform(size)
    train_dl, test_dl, classes = create_dataloaders(data_dir, transform, bs, num_workers)
    model = create_model(len(classes), device, seed)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    torch.manual_seed(seed); torch.cuda.manual_seed(seed)  # the course seeds again right before `engine.train`
    history, t0 = [], time.perf_counter()
    for epoch in range(epochs):
        te = time.perf_counter()
        train_loss, train_acc = train_step(model, train_dl, loss_fn, optimizer, device)
        test_loss, test_acc, n_correct = test_step(model, test_dl, loss_fn, device)
        history.append(dict(epoch=epoch+1, train_loss=train_loss, train_acc=train_acc, test_loss=test_loss,
                            accuracy=test_acc, n_correct=n_correct, seconds=time.perf_counter()-te))
    return dict(history=history, total_seconds=time.perf_counter()-t0, model=model, classes=classes, transform=transform,
                n_train=len(train_dl.dataset), n_test=len(test_dl.dataset))


@torch.inference_mode()
def predict_image(model, path, transform, device=None)->torch.Tensor:
    "The course's `pred_and_plot_image` without the plot: PIL open -> transform -> model -> softmax probabilities."
    device = device or next(model.parameters()).device
    model.eval()
    x = transform(Image.open(path)).unsqueeze(0)
    return torch.softmax(model(x.to(device)), dim=1).cpu()


@torch.inference_mode()
def predict_batch(model, paths, transform, device=None)->torch.Tensor:
    "The same pipeline for many images in one batch (for throughput)."
    device = device or next(model.parameters()).device
    model.eval()
    x = torch.stack([transform(Image.open(p)) for p in paths])
    return torch.softmax(model(x.to(device)), dim=1).cpu()


def save_model(model, classes, path):
    "The course's `utils.save_model` (a state dict), plus the class names needed to rebuild the head."
    torch.save(dict(state_dict=model.state_dict(), classes=list(classes)), path)


def load_model(path, device='cpu'):
    "(model in eval mode, class names) from `save_model`'s file; no download: the weights are all in the file."
    ck = torch.load(path, map_location='cpu', weights_only=True)
    model = mobilenet_v2()
    model.classifier = nn.Sequential(nn.Dropout(p=0.2, inplace=True), nn.Linear(1280, len(ck['classes'])))
    model.load_state_dict(ck['state_dict'])
    return model.to(device).eval(), ck['classes']
