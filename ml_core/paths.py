"""Where user data lives: the user model folder (composer-train writes there, the app
lists it), the app data folder (autosave/recovery). Overridable with environment
variables so tests and portable installs can redirect them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "ComposerAssistant"


def user_data_dir() -> Path:
    override = os.environ.get("COMPOSER_ASSISTANT_DATA_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / APP_NAME


def user_models_dir() -> Path:
    override = os.environ.get("COMPOSER_ASSISTANT_MODELS_DIR")
    return Path(override) if override else user_data_dir() / "models"


def bundled_models_dir() -> Path:
    from resources import MODELS_DIR

    return MODELS_DIR
