"""PyTorch side of the PINN comparison: the set-up of
`cargo run --release -p retrograd-nn --example pinn_poisson` (crates/retrograd-nn/src/pinn/poisson.rs).

-u'' = pi^2 sin(pi x) on [-1, 1], u(+-1) = 0 (DeepXDE's Poisson_Dirichlet_1d): a 1-50-50-50-1 tanh
network with Glorot-uniform weights and zero biases, 64 uniform random collocation points plus the
two boundary points in one batch, loss = mean squared residual + mean squared boundary value, f64,
u'' by grad-of-grad (torch.autograd.grad with create_graph), Adam lr 1e-3 then torch.optim.LBFGS with
the settings of PoissonConfig::default, relative L2 error on 100 equally spaced test points.

Prints one JSON object (the same names as the example's --json).

Usage: python pinn_poisson.py [--threads N] [--quick] [--adam N] [--lbfgs N]"""
import argparse
import json
import math
import time

import torch

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=1)
p.add_argument("--quick", action="store_true")
p.add_argument("--adam", type=int, default=5000)
p.add_argument("--lbfgs", type=int, default=15000)
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.set_num_interop_threads(1)
torch.manual_seed(a.seed)
torch.set_default_dtype(torch.float64)
widths, n = ([1, 20, 20, 1], 32) if a.quick else ([1, 50, 50, 50, 1], 64)
adam_steps, lbfgs_iters = (1000, 500) if a.quick else (a.adam, a.lbfgs)

layers = []
for i, (fan_in, fan_out) in enumerate(zip(widths, widths[1:])):
    lin = torch.nn.Linear(fan_in, fan_out)
    torch.nn.init.xavier_uniform_(lin.weight)
    torch.nn.init.zeros_(lin.bias)
    layers.append(lin)
    if i + 2 < len(widths):
        layers.append(torch.nn.Tanh())
net = torch.nn.Sequential(*layers)

x_col = 2 * torch.rand(n, 1) - 1
forcing = math.pi**2 * torch.sin(math.pi * x_col)
points = torch.cat([x_col, torch.tensor([[-1.0], [1.0]])]).requires_grad_(True)


def loss_fn():
    u = net(points)
    (du,) = torch.autograd.grad(u, points, torch.ones_like(u), create_graph=True)
    (d2u,) = torch.autograd.grad(du, points, torch.ones_like(du), create_graph=True)
    residual = -d2u[:n] - forcing
    return residual.square().mean() + u[n:].square().mean()


opt = torch.optim.Adam(net.parameters(), lr=1e-3)
start = time.perf_counter()
cpu_start = time.process_time()
for _ in range(adam_steps):
    opt.zero_grad()
    loss = loss_fn()
    loss.backward()
    opt.step()
adam_loss = loss.item()
adam_seconds = time.perf_counter() - start
adam_cpu_seconds = time.process_time() - cpu_start

lbfgs = torch.optim.LBFGS(
    net.parameters(),
    lr=1.0,
    max_iter=lbfgs_iters,
    history_size=10,
    tolerance_grad=1e-10,
    tolerance_change=1e-16,
    line_search_fn="strong_wolfe",
)
evaluations = 0


def closure():
    global evaluations
    evaluations += 1
    lbfgs.zero_grad()
    loss = loss_fn()
    loss.backward()
    return loss


start = time.perf_counter()
lbfgs.step(closure)
lbfgs_seconds = time.perf_counter() - start
final_loss = loss_fn().item()

x = torch.linspace(-1, 1, 100).reshape(-1, 1)
with torch.no_grad():
    pred = net(x)
exact = torch.sin(math.pi * x)
rel = (torch.linalg.norm(pred - exact) / torch.linalg.norm(exact)).item()
print(json.dumps({
    "impl": f"torch {torch.__version__}",
    "threads": a.threads,
    "rel_l2_error": rel,
    "ms_per_adam_step": 1e3 * adam_seconds / max(adam_steps, 1),
    "cpu_ms_per_adam_step": 1e3 * adam_cpu_seconds / max(adam_steps, 1),
    "adam_steps": adam_steps,
    "adam_seconds": adam_seconds,
    "adam_loss": adam_loss,
    "lbfgs_iterations": lbfgs.state[lbfgs._params[0]]["n_iter"],
    "lbfgs_evaluations": evaluations,
    "lbfgs_seconds": lbfgs_seconds,
    "final_loss": final_loss,
    "total_seconds": adam_seconds + lbfgs_seconds,
}))
