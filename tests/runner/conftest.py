"""Shared fixtures of the runner tests: real 2-worker pools, one per test module."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest


@pytest.fixture(scope="module")
def process_pool():
    with ProcessPoolExecutor(max_workers=2) as ex:
        yield ex


@pytest.fixture(scope="module")
def thread_pool():
    with ThreadPoolExecutor(max_workers=2) as ex:
        yield ex
