"""PyTorch side of the training-throughput comparison: the models, batch size, optimizer and
schedule that `retrograd train --model mlp|cnn` uses (crates/retrograd-nn/src/train/), on the
same data, timed the same way as `cargo bench -p retrograd-nn --bench peer_training`:
from the start of an epoch to the end of its last mini-batch (shuffle, batch gather, forward,
backward, loss.item(), Adam step); samples/s is the median over epochs after the first.

Usage: python torch_train.py --threads N [--quick] [digits-mlp] [digits-cnn] [fashion-mlp] [fashion-cnn]"""
import csv
import gzip
import math
import os
import statistics
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from peercommon import args, emit

threads, quick, groups = args()
want = lambda g: not groups or g in groups  # noqa: E731
torch.set_num_threads(threads)
torch.set_num_interop_threads(1)
torch.manual_seed(0)
HERE = os.path.dirname(os.path.abspath(__file__))
FASHION = "/usr/share/datasets/fashion-mnist"
SPLIT_TEST_FRACTION = 0.2


def digits():
    """The bundled digits with the size of retrograd's stratified 80/20 training split."""
    with gzip.open(os.path.join(HERE, "..", "..", "data", "digits.csv.gz"), "rt") as f:
        rows = np.array([[float(v) for v in r] for r in csv.reader(f) if r], dtype=np.float32)
    x, y = rows[:, :-1], rows[:, -1].astype(np.int64)
    rng = np.random.default_rng(0)
    train = []
    for c in range(10):
        members = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(len(members) * SPLIT_TEST_FRACTION + 1e-9))
        train.extend(members[n_test:])
    train = np.sort(np.array(train))
    return x[train].reshape(-1, 1, 8, 8), y[train]


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion(limit):
    x = idx(os.path.join(FASHION, "train-images-idx3-ubyte.gz")).astype(np.float32)
    y = idx(os.path.join(FASHION, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    if limit:
        x, y = x[:limit], y[:limit]
    return x.reshape(-1, 1, 28, 28), y


def model(kind, shape):
    c, h, w = shape
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 128), nn.ReLU(), nn.Linear(128, 10))
    return nn.Sequential(
        nn.Conv2d(c, 16, 3, padding=1), nn.BatchNorm2d(16), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(32 * (h // 4) * (w // 4), 10))


def run(name, x, y, kind, epochs, batch=32):
    x = (x - x.mean()) / x.std()  # global normalisation, fitted on the training images
    x, y = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)
    net = model(kind, x.shape[1:])
    net.train()
    lr = 1e-3 if kind == "mlp" else 3e-3
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    n = len(y)
    per_epoch = math.ceil(n / batch)
    total = epochs * per_epoch
    times, steps = [], []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        prev = t0
        perm = torch.randperm(n)
        for i in range(per_epoch):
            sel = perm[i * batch:(i + 1) * batch]
            xb, yb = x[sel], y[sel]
            for g in opt.param_groups:  # cosine schedule over all steps, as in retrograd
                g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * min((epoch * per_epoch + i) / total, 1.0)))
            opt.zero_grad()
            loss = F.cross_entropy(net(xb), yb)
            loss.backward()
            if not math.isfinite(loss.item()):
                raise SystemExit(f"{name}: the loss diverged")
            opt.step()
            now = time.perf_counter()
            steps.append(now - prev)
            prev = now
        times.append(prev - t0)
    epoch_s = statistics.median(times[1:] if len(times) > 1 else times)
    emit(f"train_{name}", "torch", threads, n / epoch_s, "samples/s", samples=n, batch=batch, epochs=epochs,
         epoch_s=epoch_s, step_us=statistics.median(steps) * 1e6)


e_digits, e_fashion = (2, 2) if quick else (8, 3)
print(f"torch {torch.__version__} threads={torch.get_num_threads()}", flush=True)
if want("digits-mlp") or want("digits-cnn"):
    dx, dy = digits()
    if want("digits-mlp"):
        run("digits_mlp", dx, dy, "mlp", e_digits)
    if want("digits-cnn"):
        run("digits_cnn", dx, dy, "cnn", e_digits)
if os.path.isdir(FASHION):
    if want("fashion-mlp"):
        run("fashion_mlp", *fashion(5000 if quick else None), "mlp", e_fashion)
    if want("fashion-cnn"):
        run("fashion_cnn", *fashion(5000 if quick else 10000), "cnn", e_fashion)
