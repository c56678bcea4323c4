"""Shared test set-up: headless Qt, user folders redirected into a temp dir; scripts
outside the packages (bench/, docs/) imported by path."""

import importlib.util
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """No test touches the real user data / model folders."""
    base = tmp_path_factory.mktemp("userdata")
    monkeypatch.setenv("COMPOSER_ASSISTANT_DATA_DIR", str(base))
    monkeypatch.setenv("COMPOSER_ASSISTANT_MODELS_DIR", str(base / "models"))
    yield


@pytest.fixture(scope="session")
def load_script():
    """`load(path, name)`: import a script that is not in a package (bench/, docs/) as
    module `name`, registered in sys.modules while the session runs (dataclasses look their
    module up while being created)."""
    loaded: list[str] = []

    def load(path, name: str):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        loaded.append(name)
        spec.loader.exec_module(module)
        return module

    yield load
    for name in loaded:
        sys.modules.pop(name, None)
