"""Shared test set-up: headless Qt, user folders redirected into a temp dir. The benches
and doc scripts are packages (`bench`, `docs`), imported like any other module."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """No test touches the real user data / model folders."""
    base = tmp_path_factory.mktemp("userdata")
    monkeypatch.setenv("COMPOSER_ASSISTANT_DATA_DIR", str(base))
    monkeypatch.setenv("COMPOSER_ASSISTANT_MODELS_DIR", str(base / "models"))
    yield
