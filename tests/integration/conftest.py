"""Pytest fixtures: every service a test starts is stopped when the test ends."""
import os
import shutil
import tempfile

import pytest

import harness


@pytest.fixture
def redis():
    r = harness.Redis().start()
    yield r
    r.close()


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="mxe-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def spawn():
    """spawn(kind, ...) starts a Standin or an Exporter and closes it at teardown."""
    started = []

    def _spawn(cls, *args, **kwargs):
        obj = cls(*args, **kwargs)
        started.append(obj)
        return obj

    yield _spawn
    for obj in reversed(started):
        obj.close()


def pytest_configure(config):
    assert os.path.exists(harness.BIN), "build the exporter first: %s" % harness.BIN
