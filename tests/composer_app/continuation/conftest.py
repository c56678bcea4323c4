"""Fixtures of the Continue panel tests: the steerable bundle (see continuation_helpers)."""

from __future__ import annotations

import shutil

import pytest
from continuation_helpers import train_steerable_bundle


@pytest.fixture(scope="session")
def steerable_bundle_source(tmp_path_factory):
    """The steerable bundle, trained once per session."""
    return train_steerable_bundle(tmp_path_factory.mktemp("steerable"))


@pytest.fixture
def steerable_bundle(steerable_bundle_source):
    """The steerable bundle in this test's user model folder, named "steerable"."""
    from ml_core import paths

    destination = paths.user_models_dir() / "steerable"
    shutil.copytree(steerable_bundle_source, destination)
    return destination
