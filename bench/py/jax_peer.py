"""JAX (CPU, jit) side of the comparison: (1) vectorised f1/f2 primal and value_and_grad in
float64, (2) the jitted MLP SGD step in f32. Same definitions as torch_peer.py.

XLA has no dependable intra-op thread count setting; bench/compare.sh runs this with
XLA_FLAGS and, for one thread, under `taskset` on one CPU. --threads only labels the output.
Usage: python jax_peer.py --threads N [--quick] [scalar] [mlp]"""
import jax
import jax.numpy as jnp

from peercommon import args, emit, reps, timeit

threads, quick, groups = args()
want = lambda g: not groups or g in groups  # noqa: E731
jax.config.update("jax_enable_x64", True)
print(f"jax {jax.__version__} devices={jax.devices()}", flush=True)


def f1(x):
    return jnp.sum(jnp.sin(x) * x * x + jnp.exp(-x))


def f2(x):
    a, b = x[0::2], x[1::2]
    return jnp.sum(100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2)


if want("scalar"):
    for name, f, n, r in (("scalar_f1", f1, 1_000_000, 15), ("scalar_f2", f2, 100_000, 101)):
        x0 = 0.5 + 0.4 * jnp.sin(0.001 * jnp.arange(n, dtype=jnp.float64))
        fp, fg = jax.jit(f), jax.jit(jax.value_and_grad(f))
        p = timeit(lambda: fp(x0).block_until_ready(), reps(quick, r))[0]
        g = timeit(lambda: fg(x0)[1].block_until_ready(), reps(quick, r))[0]
        emit(name, "jax-jit-vectorised", threads, g / p, "ratio", primal_ms=p * 1e3, grad_ms=g * 1e3)


def mlp(dims, batch, r):
    key = jax.random.PRNGKey(0)
    x = jax.random.normal(key, (batch, dims[0]), dtype=jnp.float32)
    y = jnp.arange(batch) % dims[-1]
    ps = []
    for a, b in zip(dims[:-1], dims[1:]):
        key, k = jax.random.split(key)
        ps += [jax.random.normal(k, (a, b), dtype=jnp.float32) / a ** 0.5, jnp.zeros(b, jnp.float32)]

    def loss(ps, x, y):
        h, layers = x, len(ps) // 2
        for l in range(layers):
            h = h @ ps[2 * l] + ps[2 * l + 1]
            if l + 1 < layers:
                h = jax.nn.relu(h)
        lse = jax.nn.logsumexp(h, axis=1)
        return jnp.mean(lse - jnp.take_along_axis(h, y[:, None], axis=1)[:, 0])

    @jax.jit
    def step(ps, x, y):
        l, g = jax.value_and_grad(loss)(ps, x, y)
        return [p - 0.01 * gi for p, gi in zip(ps, g)], l

    state = [ps]

    def run():
        state[0], l = step(state[0], x, y)
        l.block_until_ready()

    med, mn = timeit(run, r, warm=20)
    emit(f"mlp_step_{'-'.join(map(str, dims))}_b{batch}", "jax-jit", threads, med * 1e6, "us", best_us=mn * 1e6)


if want("mlp"):
    mlp([64, 128, 10], 64, reps(quick, 500))
    mlp([64, 128, 10], 256, reps(quick, 500))
    mlp([784, 256, 256, 10], 128, reps(quick, 200))
