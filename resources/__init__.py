"""Bundled data: model bundles (models/), example motifs (examples/), icons."""
from pathlib import Path

RESOURCES_DIR = Path(__file__).resolve().parent
MODELS_DIR = RESOURCES_DIR / "models"
EXAMPLES_DIR = RESOURCES_DIR / "examples"
