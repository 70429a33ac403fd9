"""Data parallelism: one mesh axis ``"data"``, batches sharded along it, parameters replicated.

The driver builds a mesh with :func:`make_mesh`, places each batch with :func:`put_batch`
(``NamedSharding(mesh, P("data"))`` on the leading axis) and jits the step with replicated state.
XLA (GSPMD) then inserts the gradient all-reduce. Losses that couple the jets of a batch (VICReg
covariance, Barlow cross-correlation, NT-Xent similarities, Sinkhorn) call :func:`gather` on their
inputs first, which makes the all-gather to a replicated layout explicit.

Multi-host (GPU cluster, TPU pod): call :func:`initialize_distributed` before any other JAX call;
every process then iterates over the same seeded global batch order and hands its own slice
(:func:`process_slice`) to :func:`put_batch`, which assembles the global array with
``jax.make_array_from_process_local_data``. The run directory is one shared directory: only
process 0 checks it and writes to it (:func:`is_main_process`); the others wait at a
:func:`barrier` and share its verdict (:func:`main_process_verdict`), so every process raises the
same error or none. Checkpoints are saved and restored by all processes together (Orbax).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from codec_jax import errors
from codec_jax.errors import ConfigError

__all__ = [
    "DATA_AXIS",
    "make_mesh",
    "data_sharding",
    "replicated_sharding",
    "check_batch_size",
    "process_slice",
    "put_batch",
    "replicate",
    "gather",
    "initialize_distributed",
    "is_main_process",
    "barrier",
    "main_process_verdict",
    "main_process_first",
]

DATA_AXIS = "data"


def make_mesh(n_devices: int | None = None) -> Mesh:
    """A 1-d mesh over the first ``n_devices`` devices (all when None or 0), axis ``"data"``.

    The axis is of type ``Auto`` so that XLA propagates shardings through arbitrary model code.
    """
    available = jax.device_count()
    n = available if not n_devices else int(n_devices)
    if n < 1 or n > available:
        raise ConfigError(f"training.devices={n_devices}: this job sees {available} device(s)")
    return jax.make_mesh(
        (n,),
        (DATA_AXIS,),
        axis_types=(jax.sharding.AxisType.Auto,),
        devices=jax.devices()[:n],
    )


def data_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) axis split over ``"data"``; other axes whole."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
    """A full copy on every device (parameters, optimizer state, keys, metrics)."""
    return NamedSharding(mesh, PartitionSpec())


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
    """Raise :class:`ConfigError` unless the global batch divides evenly over the devices."""
    n = mesh.devices.size
    if batch_size < 1 or batch_size % n:
        raise ConfigError(
            f"training.batch_size={batch_size} must be a positive multiple of the number of devices ({n})"
        )


def process_slice(
    global_batch_size: int, process_index: int | None = None, process_count: int | None = None
) -> slice:
    """The rows of a global batch that this process loads (contiguous, equal shares)."""
    index = jax.process_index() if process_index is None else process_index
    count = jax.process_count() if process_count is None else process_count
    if global_batch_size % count:
        raise ConfigError(
            f"batch size {global_batch_size} must be a multiple of the number of processes ({count})"
        )
    share = global_batch_size // count
    return slice(index * share, (index + 1) * share)


def put_batch(
    local_batch: Mapping[str, np.ndarray], mesh: Mesh, global_batch_size: int
) -> dict[str, jax.Array]:
    """Place this process's rows of a batch on the mesh, sharded along ``"data"``.

    Args:
        local_batch: host arrays ``{name: [local_batch, ...]}``; on one process the whole batch.
        mesh: the data-parallel mesh.
        global_batch_size: rows of the assembled global batch (checked against the devices).

    Returns:
        ``{name: jax.Array [global_batch, ...]}`` with :func:`data_sharding`.
    """
    check_batch_size(global_batch_size, mesh)
    sharding = data_sharding(mesh)
    if jax.process_count() == 1:
        return {name: jax.device_put(value, sharding) for name, value in local_batch.items()}
    return {
        name: jax.make_array_from_process_local_data(
            sharding, np.asarray(value), (global_batch_size, *np.shape(value)[1:])
        )
        for name, value in local_batch.items()
    }


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Copy a pytree (parameters, optimizer state) to every device of ``mesh``.

    Always a copy (never an alias of the input), so a jitted step that donates the state cannot
    delete the caller's arrays."""
    # device_put may reuse the source buffer as one of the shards (seen with jax 0.10 on 8 CPU
    # devices even with may_alias=False), so copy first.
    copied = jax.tree.map(lambda leaf: np.array(leaf, copy=True), tree)
    return jax.device_put(copied, replicated_sharding(mesh))


def gather(tree: Any) -> Any:
    """Constrain arrays to a replicated layout inside a jitted function (an all-gather).

    Under ``jax.set_mesh(mesh)`` (as the driver traces its steps) this is
    ``jax.lax.with_sharding_constraint(x, P())``; without a mesh it returns ``tree`` unchanged, so
    steps stay usable on one device and in tests.
    """
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty:
        return tree
    return jax.lax.with_sharding_constraint(tree, PartitionSpec())


def initialize_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    heartbeat_timeout: int = 100,
) -> None:
    """Start multi-host JAX (``jax.distributed.initialize``); call once per process, first.

    With no arguments JAX detects the cluster (SLURM, Open MPI, TPU pods, Kubernetes); pass all
    three on other clusters. After it, ``jax.devices()`` lists the devices of every host. When a
    process dies, the others abort after ``heartbeat_timeout`` seconds (instead of waiting in a
    collective forever); rerun all of them with ``--resume``.
    """
    # Cross-process collectives of the CPU backend (tests, CPU clusters) go through gloo; the
    # setting is ignored by GPU and TPU backends.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    kwargs = {}
    if coordinator_address is not None:
        kwargs = {
            "coordinator_address": coordinator_address,
            "num_processes": num_processes,
            "process_id": process_id,
        }
    jax.distributed.initialize(**kwargs, heartbeat_timeout_seconds=heartbeat_timeout)


def is_main_process() -> bool:
    """True in process 0 (the one process that writes the run directory); always on one host."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process has reached the barrier ``name`` (no-op on one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


_T = TypeVar("_T")
#: Errors whose verdict process 0 shares with the others (index in the broadcast message).
_SHARED_ERRORS = (errors.ConfigError, errors.DataError, errors.CheckpointError, errors.CodecJaxError)
_MESSAGE_BYTES = 4096


def main_process_verdict(check: Callable[[], _T], name: str) -> _T | None:
    """Run ``check`` on process 0 only and give every process its verdict.

    Process 0 calls ``check()``; a :class:`~codec_jax.errors.CodecJaxError` it raises is sent to
    the other processes (type and message, at most 4 kB), which raise the same error, so all exit
    alike instead of some waiting forever in a collective; any other exception reaches them as a
    :class:`~codec_jax.errors.CodecJaxError` naming it (process 0 re-raises the original). Every process passes the barrier
    ``name`` afterwards, i.e. the others start only once process 0 has finished the check (and
    anything it writes in it).

    Returns:
        ``check()``'s value on process 0; None on the others (which must not need it).
    """
    if jax.process_count() == 1:
        return check()
    from jax.experimental import multihost_utils

    value, failure, message, raised = None, -1, b"", None
    if is_main_process():
        try:
            value = check()
        except Exception as error:  # noqa: BLE001 - every failure must reach the other processes
            failure = next((i for i, kind in enumerate(_SHARED_ERRORS) if isinstance(error, kind)), None)
            text = str(error)
            if failure is None:  # not a user error: the others stop with a CodecJaxError naming it
                failure, text = len(_SHARED_ERRORS) - 1, f"process 0 failed: {type(error).__name__}: {error}"
            message, raised = text.encode()[:_MESSAGE_BYTES], error
    packet = np.zeros(_MESSAGE_BYTES + 2, np.int32)
    packet[0], packet[1] = failure, len(message)
    packet[2 : 2 + len(message)] = np.frombuffer(message, np.uint8)
    packet = np.asarray(multihost_utils.broadcast_one_to_all(packet))
    barrier(name)
    if raised is not None:
        raise raised
    if packet[0] >= 0:
        text = bytes(packet[2 : 2 + packet[1]].astype(np.uint8)).decode(errors="replace")
        raise _SHARED_ERRORS[packet[0]](f"{text} (the verdict of process 0)")
    return value


def main_process_first(make: Callable[[], _T], name: str) -> _T:
    """``make()`` on process 0 first, then on the others (after the barrier ``name``).

    For idempotent steps that write a cache -- generating a sample, writing split files: process 0
    writes it, the others then find and read it. Errors of process 0 reach all processes
    (:func:`main_process_verdict`). On one process this is ``make()``."""
    value = main_process_verdict(make, name)
    return value if is_main_process() else make()
