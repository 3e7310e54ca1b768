"""PyTorch side of the mixed-precision comparison (`cargo bench -p retrograd-nn --bench
mixed_precision`): one training step of the 784-256-256-10 MLP (batch 128) and of the CNN
that `retrograd train --model cnn` builds for 28×28 images (batch 32), in f32 and under
torch.autocast(device_type="cpu", dtype=torch.bfloat16 / torch.float16), with Adam on f32
master weights and a GradScaler for f16. Step time is the median over the timed steps;
activation memory is the bytes of the tensors the autograd graph saves for backward
(torch.autograd.graph.saved_tensors_hooks, counted once per storage), leaving out the
parameters and the input, which exist before the forward pass: the Rust side measures the
growth of live storage over the forward pass (the same saved tensors, plus the logits and
the loss).

Usage: python mixed_precision.py [--threads N] [--quick]"""
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from peercommon import args

threads, quick, _ = args()
torch.set_num_threads(threads)
torch.set_num_interop_threads(1)
torch.manual_seed(0)
STEPS = 4 if quick else 40


def model_of(kind):
    if kind == "mlp":
        net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
        return net, torch.randn(128, 784)
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
    return net, torch.randn(32, 1, 28, 28)


def bench(kind, precision):
    net, x = model_of(kind)
    y = torch.arange(x.shape[0]) % 10
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    dtype = {"bf16": torch.bfloat16, "f16": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler("cpu") if precision == "f16" else None
    saved = {}
    before = {p.untyped_storage().data_ptr() for p in net.parameters()} | {x.untyped_storage().data_ptr()}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in before:
            saved[ptr] = t.untyped_storage().nbytes()
        return t

    times, activation = [], 0
    for _ in range(STEPS):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        saved.clear()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            with torch.autocast(device_type="cpu", dtype=dtype, enabled=dtype is not None):
                loss = F.cross_entropy(net(x), y)
        activation = sum(saved.values())
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        loss.item()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times[1:]), activation


for kind in ["mlp", "cnn"]:
    for precision in ["f32", "bf16", "f16"]:
        ms, nbytes = bench(kind, precision)
        print(f"MP model={kind} precision={precision} impl=pytorch step_ms={ms:.3f} activation_bytes={nbytes}", flush=True)
