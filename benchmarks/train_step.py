"""Throughput of a VICReg pretraining step with the Interaction Network: codec_jax vs PyTorch
eager and ``torch.compile``, and the fraction of the machine's matmul roofline it reaches.

The step is the MACK pretraining step: both views of every jet go through the Interaction Network
featurizer (edge 64-32-32, node 64-32-32, jet 128-128-64 -> 64) and the 64-64 projector, VICReg
(25/25/1) on the two projections, one Adam update. codec_jax runs its own step
(:func:`codec_jax.train.steps.make_pretrain_step`, jitted with the state donated); the reference is
a straightforward PyTorch eager implementation written here, which builds ``[B, P, P, 2F]`` pair
tensors by broadcasting. Both see the same synthetic jets (``P`` slots, between ``P/2`` and ``P``
real particles) in the same run; timings alternate between the two (``--repeats`` rounds) and the
median round is reported, so a busy machine disturbs both alike. The same PyTorch model wrapped in
``torch.compile`` (default mode; what a user who wants speed in PyTorch picks) is timed alongside.
The codec_jax step's FLOPs come from XLA's cost analysis; divided by the step time and by the
float32 matmul rate measured in the same run (2048 x 2048), they give the fraction of the
roofline; divided instead by the measured rate of the step's dominant product alone (the edge
MLP's ``[batch * P * P, 64] @ [64, 32]``), the fraction of what its own matmul shape allows. The Deep Sets and ParT encoders'
throughputs (default sizes) are printed for comparison, with their step time relative to the
Interaction Network's at the same batch.

Usage::

    python benchmarks/train_step.py [--batch 1024] [--particles 30] [--steps 5] [--repeats 3]
                                    [--no-torch] [--compare deepsets,part] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from codec_jax.losses import vicreg
from codec_jax.models import build_model
from codec_jax.train.state import create_state
from codec_jax.train.steps import make_pretrain_step

N_FEATURES = 3  # pt_rel, eta_rel, phi_rel


def synthetic_views(seed: int, batch: int, particles: int) -> dict[str, np.ndarray]:
    """Two views ``x_a, x_b [batch, particles, 3]`` with masks; zero in padded slots."""
    rng = np.random.default_rng(seed)
    views = {}
    for side in ("a", "b"):
        n_real = rng.integers(particles // 2, particles + 1, size=batch)
        mask = np.arange(particles)[None, :] < n_real[:, None]
        pt = -np.sort(-rng.exponential(1.0, (batch, particles)), axis=1)
        pt = pt / np.sum(np.where(mask, pt, 0.0), axis=1, keepdims=True)
        x = np.stack([pt, rng.normal(0, 0.3, pt.shape), rng.normal(0, 0.3, pt.shape)], axis=-1)
        views[f"x_{side}"] = np.where(mask[..., None], x, 0.0).astype(np.float32)
        views[f"mask_{side}"] = mask
    return views


# --------------------------------------------------------------------------- codec_jax
def make_jax_step(encoder: str, views: dict[str, np.ndarray]):
    """(jitted step, initial state, device batch, key, compile seconds) for one encoder."""
    model = build_model(encoder, head_dims=None)
    params = jax.jit(model.init)(jax.random.key(0), views["x_a"][:2], views["mask_a"][:2])["params"]
    tx = optax.adam(1e-3)
    step = jax.jit(make_pretrain_step(model.apply, tx, vicreg), donate_argnums=0)
    state = create_state(params, tx)
    batch = jax.device_put(views)
    key = jax.random.key(1)
    start = time.perf_counter()
    compiled = step.lower(state, batch, key).compile()
    compile_seconds = time.perf_counter() - start
    return compiled, state, batch, key, compile_seconds


def step_flops(compiled) -> float | None:
    """Floating-point operations of one compiled step, from XLA's cost analysis (None if absent)."""
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    flops = (analysis or {}).get("flops")
    return float(flops) if flops else None


def matmul_peak(size: int = 2048, repeats: int = 10) -> float:
    """The machine's measured float32 matmul rate (FLOP/s) on large square matrices."""
    return matmul_rate(size, size, size, repeats)


def matmul_rate(rows: int, inner: int, cols: int, repeats: int = 10) -> float:
    """The measured float32 rate (FLOP/s) of one jitted ``[rows, inner] @ [inner, cols]`` product,
    best of ``repeats``."""
    a = jax.random.normal(jax.random.key(0), (rows, inner), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (inner, cols), jnp.float32)
    matmul = jax.jit(jnp.matmul)
    jax.block_until_ready(matmul(a, b))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(matmul(a, b))
        best = min(best, time.perf_counter() - start)
    return 2.0 * rows * inner * cols / best


def time_jax(step, state, batch, key, steps: int):
    """Seconds per step over ``steps`` steps (after one untimed step); returns (seconds, state)."""
    state, metrics = step(state, batch, key)
    jax.block_until_ready(metrics)
    start = time.perf_counter()
    for _ in range(steps):
        state, metrics = step(state, batch, key)
    jax.block_until_ready(metrics)
    seconds = (time.perf_counter() - start) / steps
    if not np.isfinite(float(metrics["loss"])):
        raise FloatingPointError("codec_jax step produced a non-finite loss")
    return seconds, state


def _broadcast_interaction_network(params, x, mask):
    """The straightforward JAX Interaction Network on codec_jax's parameter tree: concatenated
    ``[B, P, P, 2F]`` pair tensors built by broadcasting (the same function, computed naively)."""

    def mlp(layers, h, activate_final=True):
        for index in range(len(layers)):
            h = h @ layers[f"layer_{index}"]["kernel"] + layers[f"layer_{index}"]["bias"]
            h = jax.nn.relu(h) if activate_final or index < len(layers) - 1 else h
        return h

    batch, particles, features = x.shape
    x = jnp.where(mask[..., None], x, 0.0)
    pairs = jnp.concatenate(
        [
            jnp.broadcast_to(x[:, :, None, :], (batch, particles, particles, features)),
            jnp.broadcast_to(x[:, None, :, :], (batch, particles, particles, features)),
        ],
        axis=-1,
    )
    edge = params["edge_network"]
    edges = jax.nn.relu(pairs @ edge["edge_input"]["kernel"] + edge["edge_input"]["bias"])
    edges = mlp(edge["edge_mlp"], edges)
    real_pairs = mask[:, :, None] & mask[:, None, :] & ~jnp.eye(particles, dtype=bool)
    messages = jnp.einsum("bijc,bij->bic", edges, real_pairs.astype(edges.dtype))
    nodes = mlp(params["node_mlp"], jnp.concatenate([x, messages], axis=-1))
    pooled = mlp(params["jet_mlp"], jnp.einsum("bic,bi->bc", nodes, mask.astype(nodes.dtype)))
    return pooled @ params["output"]["kernel"] + params["output"]["bias"]


def make_naive_jax_step(views: dict[str, np.ndarray]):
    """The same step with :func:`_broadcast_interaction_network` as the encoder."""
    model = build_model("interaction", head_dims=None)
    params = jax.jit(model.init)(jax.random.key(0), views["x_a"][:2], views["mask_a"][:2])["params"]

    def apply_fn(variables, x, mask, method=None):
        representation = _broadcast_interaction_network(variables["params"]["encoder"], x, mask)
        return model.apply(variables, representation, method=lambda module, h: module.projector(h))

    tx = optax.adam(1e-3)
    step = jax.jit(make_pretrain_step(apply_fn, tx, vicreg), donate_argnums=0)
    state, batch, key = create_state(params, tx), jax.device_put(views), jax.random.key(1)
    return step.lower(state, batch, key).compile(), state, batch, key


# --------------------------------------------------------------------------- PyTorch eager
def make_torch_step(views: dict[str, np.ndarray], compiled: bool = False):
    """The straightforward PyTorch version of the same step; returns ``step() -> loss``."""
    import torch
    from torch import nn

    torch.manual_seed(0)

    def mlp(widths, activate_final=True):
        layers = []
        for index in range(len(widths) - 1):
            layers.append(nn.Linear(widths[index], widths[index + 1]))
            if activate_final or index < len(widths) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    class InteractionNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.edge = mlp([2 * N_FEATURES, 64, 32, 32])
            self.node = mlp([N_FEATURES + 32, 64, 32, 32])
            self.jet = mlp([32, 128, 128, 64, 64], activate_final=False)
            self.projector = mlp([64, 64, 64], activate_final=False)

        def forward(self, x, mask):
            batch, particles, features = x.shape
            x = x * mask[..., None]
            receivers = x[:, :, None, :].expand(batch, particles, particles, features)
            senders = x[:, None, :, :].expand(batch, particles, particles, features)
            pairs = torch.cat([receivers, senders], dim=-1)  # [B, P, P, 2F]
            distinct = ~torch.eye(particles, dtype=torch.bool)
            real_pairs = (mask[:, :, None] & mask[:, None, :] & distinct).float()
            messages = (self.edge(pairs) * real_pairs[..., None]).sum(dim=2)
            nodes = self.node(torch.cat([x, messages], dim=-1)) * mask[..., None]
            return self.projector(self.jet(nodes.sum(dim=1)))

    def torch_vicreg(z_a, z_b):
        n, dim = z_a.shape
        invariance = ((z_a - z_b) ** 2).sum(dim=1).mean()

        def variance_covariance(z):
            z = z - z.mean(dim=0)
            std = torch.sqrt((z**2).sum(dim=0) / (n - 1) + 1e-4)
            cov = z.T @ z / (n - 1)
            off_diagonal = (cov**2).sum() - (torch.diagonal(cov) ** 2).sum()
            return torch.relu(1 - std).mean(), off_diagonal / dim

        v_a, c_a = variance_covariance(z_a)
        v_b, c_b = variance_covariance(z_b)
        return 25.0 * invariance + 25.0 * (v_a + v_b) + (c_a + c_b)

    model = InteractionNetwork()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    forward = torch.compile(model) if compiled else model  # torch.compile, default mode
    tensors = {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in views.items()}

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = torch_vicreg(
            forward(tensors["x_a"], tensors["mask_a"]), forward(tensors["x_b"], tensors["mask_b"])
        )
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return step


def time_torch(step, steps: int) -> float:
    step()
    start = time.perf_counter()
    for _ in range(steps):
        loss = step()
    seconds = (time.perf_counter() - start) / steps
    if not np.isfinite(loss):
        raise FloatingPointError("PyTorch step produced a non-finite loss")
    return seconds


# --------------------------------------------------------------------------- driver
def _write_json(path: Path, results: dict) -> None:
    """Atomic write: temporary file in the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as handle:
        json.dump(results, handle, indent=2)
    os.replace(handle.name, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=1024, help="jets per step (default 1024)")
    parser.add_argument("--particles", type=int, default=30, help="particle slots per jet (default 30)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round (default 5)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating timing rounds (default 3)")
    parser.add_argument("--no-torch", action="store_true", help="measure codec_jax only")
    parser.add_argument("--no-deepsets", action="store_true", help="skip the Deep Sets comparison")
    parser.add_argument(
        "--compare",
        default="deepsets,part",
        help="other encoders timed on the same views, comma-separated (default: deepsets,part)",
    )
    parser.add_argument(
        "--no-naive-jax", action="store_true", help="skip the straightforward (broadcast-pairs) JAX step"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument(
        "--matmul-precision",
        choices=("default", "float32", "bfloat16"),
        default="default",
        help="JAX matmul precision of every step and of the peak measurement: float32 (full), "
        "bfloat16 (bf16 inputs, float32 accumulation; tensor cores on a GPU), or the backend's "
        "default (float32 on a CPU, TF32 on recent NVIDIA GPUs)",
    )
    args = parser.parse_args()
    if args.matmul_precision != "default":
        jax.config.update(
            "jax_default_matmul_precision", "highest" if args.matmul_precision == "float32" else "bfloat16"
        )

    load_before = os.getloadavg()[0]
    views = synthetic_views(0, args.batch, args.particles)
    device = jax.devices()[0]
    print(
        f"device: {device.platform} ({device.device_kind}), {len(jax.devices())} device(s); "
        f"batch {args.batch}, {args.particles} particles, {args.steps} steps x {args.repeats} rounds; "
        f"matmul precision {args.matmul_precision}"
    )

    torch_step = compiled_torch_step = None
    if not args.no_torch:
        try:
            import torch

            torch_step = make_torch_step(views)
            compiled_torch_step = make_torch_step(views, compiled=True)
            start = time.perf_counter()
            compiled_torch_step()  # torch.compile compiles on the first call
            print(
                f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
                f"torch.compile took {time.perf_counter() - start:.1f} s"
            )
        except ImportError:
            print("torch is not installed: measuring codec_jax only (pip install torch==2.13.0)")

    jax_step, state, batch, key, compile_seconds = make_jax_step("interaction", views)
    naive = None if args.no_naive_jax else list(make_naive_jax_step(views))
    jax_times, torch_times, naive_times, compiled_times = [], [], [], []
    for _ in range(args.repeats):
        seconds, state = time_jax(jax_step, state, batch, key, args.steps)
        jax_times.append(seconds)
        if naive is not None:
            seconds, naive[1] = time_jax(naive[0], *naive[1:], args.steps)
            naive_times.append(seconds)
        if torch_step is not None:
            torch_times.append(time_torch(torch_step, args.steps))
            compiled_times.append(time_torch(compiled_torch_step, args.steps))

    results = {
        "device": f"{device.platform}:{device.device_kind}",
        "matmul_precision": args.matmul_precision,
        "batch": args.batch,
        "particles": args.particles,
        "jax_compile_s": compile_seconds,
        "jax_interaction_jets_per_s": args.batch / statistics.median(jax_times),
    }
    print(
        f"codec_jax Interaction Network: {results['jax_interaction_jets_per_s']:10.1f} jets/s "
        f"(compile {compile_seconds:.1f} s)"
    )
    flops, peak = step_flops(jax_step), matmul_peak()
    # The step's dominant products: the edge MLP's 64 -> 32 layer over every pair of one view.
    edge = matmul_rate(args.batch * args.particles**2, 64, 32, repeats=5)
    results.update(matmul_peak_gflops=peak / 1e9, edge_matmul_gflops=edge / 1e9)
    if flops is not None:
        achieved = flops / statistics.median(jax_times)
        results.update(
            step_gflop=flops / 1e9,
            achieved_gflops=achieved / 1e9,
            roofline_fraction=achieved / peak,
            edge_roofline_fraction=achieved / edge,
        )
        print(
            f"step: {flops / 1e9:.1f} GFLOP (XLA cost analysis), {achieved / 1e9:.1f} GFLOP/s against a "
            f"measured {args.matmul_precision} matmul peak of {peak / 1e9:.1f} GFLOP/s: {achieved / peak:.0%} of the roofline (goal 70%)"
        )
        print(
            f"the step's own matmul shape, [{args.batch * args.particles**2}, 64] @ [64, 32] alone, runs "
            f"{edge / 1e9:.1f} GFLOP/s: the step reaches {achieved / edge:.0%} of that rate"
        )
    if naive_times:
        results["naive_jax_interaction_jets_per_s"] = args.batch / statistics.median(naive_times)
        print(
            f"JAX with broadcast pairs:        {results['naive_jax_interaction_jets_per_s']:10.1f} jets/s "
            f"(codec_jax is {statistics.median(naive_times) / statistics.median(jax_times):.2f}x faster)"
        )
        del naive
    if torch_times:
        results["torch_interaction_jets_per_s"] = args.batch / statistics.median(torch_times)
        results["ratio_jax_over_torch"] = statistics.median(torch_times) / statistics.median(jax_times)
        print(f"PyTorch eager (broadcast pairs): {results['torch_interaction_jets_per_s']:10.1f} jets/s")
        print(f"ratio codec_jax / PyTorch:       {results['ratio_jax_over_torch']:10.2f}x  (goal >= 3x)")
        results["torch_compile_interaction_jets_per_s"] = args.batch / statistics.median(compiled_times)
        results["ratio_jax_over_torch_compile"] = statistics.median(compiled_times) / statistics.median(
            jax_times
        )
        print(
            f"PyTorch torch.compile (default): {results['torch_compile_interaction_jets_per_s']:10.1f} jets/s"
        )
        print(
            f"ratio codec_jax / torch.compile: {results['ratio_jax_over_torch_compile']:10.2f}x  (goal > 1)"
        )

    comparisons = [
        name for name in args.compare.split(",") if name and not (args.no_deepsets and name == "deepsets")
    ]
    if comparisons:
        del state, batch  # free the Interaction Network buffers first
    for name in comparisons:
        other_step, other_state, other_batch, other_key, other_compile = make_jax_step(name, views)
        other_times = []
        for _ in range(args.repeats):
            seconds, other_state = time_jax(other_step, other_state, other_batch, other_key, args.steps)
            other_times.append(seconds)
        del other_state, other_batch
        results[f"jax_{name}_jets_per_s"] = args.batch / statistics.median(other_times)
        results[f"jax_{name}_compile_s"] = other_compile
        ratio = statistics.median(other_times) / statistics.median(jax_times)
        results[f"step_time_{name}_over_interaction"] = ratio
        print(
            f"codec_jax {name} (comparison): {results[f'jax_{name}_jets_per_s']:10.1f} jets/s "
            f"(compile {other_compile:.1f} s); step time {ratio:.2f}x the Interaction Network's"
        )
    results["load_average_1min"] = [load_before, os.getloadavg()[0]]
    print(
        f"1-min load average before/after: {load_before:.1f} / {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} CPUs (other work on the machine distorts the ratio)"
    )
    if args.json:
        _write_json(args.json, results)


if __name__ == "__main__":
    main()
