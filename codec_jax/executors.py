"""Where embarrassingly parallel work runs: a local process pool, or any
``concurrent.futures.Executor`` -- a Dask cluster's, submitit's, a process pool.

codec_jax never schedules work itself: library functions that spread independent tasks (the
seeded chunks of :func:`codec_jax.data.generate.generate_to_file`) take ``executor=`` and submit
to it; the command line builds one from ``--dask ADDRESS`` with :func:`dask_executor`:
``ADDRESS`` is a running scheduler (``tcp://host:8786``, e.g. started by dask-jobqueue's
``SLURMCluster`` / ``HTCondorCluster``) or ``local:N`` for a ``LocalCluster`` of N single-threaded
worker processes on this machine. Dask is optional (``pip install 'codec_jax[scale]'``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import Executor

from codec_jax.errors import ConfigError

__all__ = ["dask_executor"]


@contextlib.contextmanager
def dask_executor(address: str | None) -> Iterator[Executor | None]:
    """A ``concurrent.futures.Executor`` backed by Dask at ``address`` (None: yields None, the
    caller's local pool is used); a ``local:N`` cluster is shut down on exit.

    Raises:
        ConfigError: Dask is not installed, or ``local:N`` has no positive N.
    """
    if address is None:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("--dask needs dask and distributed: pip install 'codec_jax[scale]'") from None
    if address.startswith("local:"):
        count = address.split(":", 1)[1]
        if not count.isdigit() or int(count) < 1:
            raise ConfigError(f"--dask {address!r}: expected local:N with N >= 1 workers")
        with LocalCluster(n_workers=int(count), threads_per_worker=1, processes=True) as cluster:
            with Client(cluster) as client:
                yield client.get_executor()
        return
    with Client(address) as client:
        yield client.get_executor()
