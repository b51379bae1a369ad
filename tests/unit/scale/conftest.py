"""Fixtures shared by the out-of-core tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def dask_client():
    """A two-worker in-process Dask cluster (skipped without dask[distributed])."""
    distributed = pytest.importorskip("distributed", reason="dask[distributed] not installed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=":0")
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()
