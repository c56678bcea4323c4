"""Model bundles: a folder `<name>/` holding `model.safetensors` (weights) and
`config.json` (what the model is, how to rebuild it and its tokenizer, how it was trained).

    save(folder, model, tokenizer.to_dict(), name="my-model", metrics={"test_nll": 1.3})
    bundle = load(resolve("default"))          # validated; model in eval mode
    bundle.model, bundle.tokenizer, bundle.config

Weights are read only through safetensors, never pickle, so a bundle cannot run code.
Saving is atomic: everything is written into a temporary folder next to the destination,
which then replaces the destination, so a crash never leaves half a bundle. Every problem
with a bundle is a BundleError with a one-line message saying what is wrong.
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ml_core import paths
from ml_core.files import atomic_write_text, replace_folder
from ml_core.models import ModelConfigError, build_model, count_parameters, model_names

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
DEFAULT_NAME = "default"
# The bundled model the app selects at first start (where it is installed; else DEFAULT_NAME):
# the default chain's model since it met issue 43's criteria (README, "What the models are").
APP_DEFAULT_NAME = "default-next"
MAX_CONFIG_BYTES = 16 * 1024 * 1024
# field -> accepted types (required fields of config.json)
_REQUIRED: dict[str, tuple[type, ...]] = {
    "format_version": (int,), "name": (str,), "arch": (str,), "hparams": (dict,),
    "tokenizer": (dict,),
}
_OPTIONAL: dict[str, tuple[type, ...]] = {
    "description": (str,), "training": (dict,), "metrics": (dict,), "created": (str,),
    "parameter_count": (int,), "kind": (str,), "weights_dtype": (str,),
}
# how `save` may store floating-point weights (loading always gives the model's own fp32)
WEIGHT_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class BundleError(Exception):
    """A model bundle that cannot be saved, found or loaded (one-line message)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


@dataclass
class Bundle:
    name: str
    path: Path
    config: dict[str, Any]
    model: torch.nn.Module
    tokenizer: Any

    @property
    def arch(self) -> str:
        return self.config["arch"]

    @property
    def metrics(self) -> dict[str, Any]:
        return self.config.get("metrics") or {}


@dataclass(frozen=True)
class BundleInfo:
    """What a model list shows, read from config.json only (no weights)."""

    name: str
    path: Path
    source: str                 # "bundled" | "user"
    config: dict[str, Any]

    @property
    def description(self) -> str:
        return self.config.get("description", "")

    @property
    def arch(self) -> str:
        return self.config["arch"]

    @property
    def parameter_count(self) -> int | None:
        return self.config.get("parameter_count")


# ------------------------------------------------------------------------ saving
def save(path: str | Path, model: torch.nn.Module, tokenizer_dict: dict[str, Any], *, name: str,
         description: str = "", training: dict[str, Any] | None = None,
         metrics: dict[str, Any] | None = None, weights_dtype: str = "fp32",
         extra_files: tuple[Path, ...] = ()) -> Path:
    """Write `model` as a bundle folder at `path` (replacing one that is there) and return
    the folder. The model must come from `build_model` (it needs `arch` and `config`).
    `weights_dtype` bf16 or fp16 stores floating-point weights at half the size (loading
    casts them back to the model's fp32); `extra_files` (a loss curve, a metrics log) are
    copied in beside them."""
    if weights_dtype not in WEIGHT_DTYPES:
        raise BundleError(f"unknown weights dtype '{weights_dtype}' (choose "
                          f"{', '.join(WEIGHT_DTYPES)})")
    destination = Path(path)
    if not isinstance(name, str) or not name.strip():
        raise BundleError("a bundle needs a non-empty name")
    if not isinstance(tokenizer_dict, dict) or "name" not in tokenizer_dict:
        raise BundleError("the tokenizer description must be a dict with a 'name'")
    arch, model_config = getattr(model, "arch", None), getattr(model, "config", None)
    if arch not in model_names() or model_config is None:
        raise BundleError("only models made by ml_core.models.build_model can be saved")
    config = {
        "format_version": FORMAT_VERSION, "name": name, "description": description,
        "arch": arch, "kind": model.kind, "hparams": asdict(model_config),
        "tokenizer": tokenizer_dict, "training": training or {}, "metrics": metrics or {},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "parameter_count": count_parameters(model),
    }
    if weights_dtype != "fp32":
        config["weights_dtype"] = weights_dtype
    try:
        config_text = json.dumps(config, indent=2, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise BundleError(f"bundle config is not plain JSON data: {error}") from None
    # Clones: shared (tied) tensors are stored as separate copies, all contiguous on CPU.
    stored = WEIGHT_DTYPES[weights_dtype]
    tensors = {key: value.detach().to("cpu", stored if value.is_floating_point() else value.dtype)
               .contiguous().clone() for key, value in model.state_dict().items()}

    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.parent / f".{destination.name}.saving-{uuid.uuid4().hex[:8]}"
    try:
        temporary.mkdir()
        save_file(tensors, str(temporary / WEIGHTS_FILE), metadata={"format": "pt"})
        atomic_write_text(temporary / CONFIG_FILE, config_text)
        for extra in extra_files:
            shutil.copyfile(extra, temporary / Path(extra).name)
        replace_folder(temporary, destination)
    except (OSError, SafetensorError, ValueError, RuntimeError) as error:
        raise BundleError(f"could not save the bundle to {destination}: {error}") from None
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)
    return destination


# ------------------------------------------------------------------------ reading
def read_config(path: str | Path) -> dict[str, Any]:
    """The validated config.json of the bundle at `path` (weights are not read)."""
    folder = Path(path)
    if not folder.is_dir():
        raise BundleError(f"no model bundle at {folder} (not a folder)")
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise BundleError(f"{folder} is not a model bundle: {CONFIG_FILE} is missing")
    try:
        if config_path.stat().st_size > MAX_CONFIG_BYTES:
            raise BundleError(f"{config_path} is too large to be a bundle config")
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(f"{config_path} is not valid JSON: {error}") from None
    except OSError as error:
        raise BundleError(f"cannot read {config_path}: {error}") from None
    _validate_config(config, config_path)
    return config


def record_metrics(path: str | Path, name: str, figures: dict[str, Any]) -> None:
    """Put `figures` under metrics[`name`] of the bundle's model card (config.json),
    replacing what a previous run recorded there; written atomically."""
    folder = Path(path)
    config = read_config(folder)
    config.setdefault("metrics", {})[name] = figures
    atomic_write_text(folder / CONFIG_FILE, json.dumps(config, indent=2, allow_nan=False))


def _validate_config(config: Any, where: Path) -> None:
    if not isinstance(config, dict):
        raise BundleError(f"{where} must hold a JSON object")
    for fields, required in ((_REQUIRED, True), (_OPTIONAL, False)):
        for key, types in fields.items():
            if key not in config:
                if required:
                    raise BundleError(f"{where} has no '{key}' field")
                continue
            value = config[key]
            if not isinstance(value, types) or (types == (int,) and isinstance(value, bool)):
                raise BundleError(f"{where}: '{key}' must be {_type_name(types)}, "
                                  f"got {type(value).__name__}")
    if config["format_version"] != FORMAT_VERSION:
        raise BundleError(f"{where}: format_version {config['format_version']} is not supported "
                          f"(this version reads {FORMAT_VERSION})")
    if config["arch"] not in model_names():
        raise BundleError(f"{where}: unknown model architecture '{config['arch']}' "
                          f"(known: {', '.join(model_names())})")
    if "name" not in config["tokenizer"]:
        raise BundleError(f"{where}: 'tokenizer' has no 'name'")


def _type_name(types: tuple[type, ...]) -> str:
    return {int: "an integer", str: "a string", dict: "an object"}[types[0]]


def load(path: str | Path, device: str | torch.device = "cpu") -> Bundle:
    """Load and validate the bundle at `path`; the model is in eval mode on `device`."""
    folder = Path(path)
    config = read_config(folder)
    try:
        model = build_model(config["arch"], **config["hparams"])
    except ModelConfigError as error:
        raise BundleError(f"{folder / CONFIG_FILE}: bad hparams: {error}") from None
    tensors = _read_weights(folder / WEIGHTS_FILE)
    _check_weights(model, tensors, folder / WEIGHTS_FILE)
    model.load_state_dict(tensors, strict=True)
    expected = config.get("parameter_count")
    actual = count_parameters(model)
    if expected is not None and expected != actual:
        raise BundleError(f"{folder}: config says {expected} parameters, the weights have {actual}")
    tokenizer = _rebuild_tokenizer(config["tokenizer"], folder)
    if hasattr(tokenizer, "learn_taught"):   # remi_tracks: the parts its training taught
        tokenizer.learn_taught(config)
    vocab_size = config["hparams"].get("vocab_size")
    if model.kind == "token" and getattr(tokenizer, "vocab_size", vocab_size) != vocab_size:
        raise BundleError(f"{folder}: the model has {vocab_size} tokens, its tokenizer "
                          f"{tokenizer.vocab_size}")
    try:
        model.to(device)
    except (RuntimeError, AssertionError) as error:  # e.g. CUDA not available
        raise BundleError(f"cannot move the model to device '{device}': {error}") from None
    model.eval()
    _limit_to_trained_window(model, config)
    return Bundle(config["name"], folder, config, model, tokenizer)


def _limit_to_trained_window(model: Any, config: dict[str, Any]) -> None:
    """A Transformer trained on windows shorter than its context generates from at most
    that many tokens (`TransformerModel.max_context`): the card's `training.recipe.window`."""
    if not hasattr(model, "trained_window"):
        return
    recipe = (config.get("training") or {}).get("recipe") or {}
    window = recipe.get("window") if isinstance(recipe, dict) else None
    if isinstance(window, int) and not isinstance(window, bool) and window > 0:
        model.trained_window = window


def export(source: str | Path, destination: str | Path, *, name: str | None = None,
           description: str | None = None, weights_dtype: str = "fp32") -> Path:
    """Copy the bundle at `source` to `destination` under a new name/description, its
    weights stored as `weights_dtype`, its card, metrics log and loss curve kept."""
    loaded = load(source)
    destination = Path(destination)
    if destination.resolve() == loaded.path.resolve():
        raise BundleError("export needs another folder than the bundle's own")
    extras = tuple(loaded.path / f for f in ("metrics.jsonl", "loss_curve.png")
                   if (loaded.path / f).is_file())
    return save(destination, loaded.model, loaded.config["tokenizer"],
                name=name or destination.name,
                description=loaded.config.get("description", "") if description is None
                else description,
                training=loaded.config.get("training"), metrics=loaded.config.get("metrics"),
                weights_dtype=weights_dtype, extra_files=extras)


def _read_weights(weights_path: Path) -> dict[str, torch.Tensor]:
    if not weights_path.is_file():
        raise BundleError(f"{weights_path.parent} is not a complete bundle: {WEIGHTS_FILE} is "
                          f"missing")
    try:
        tensors = {}
        with safe_open(str(weights_path), framework="pt", device="cpu") as handle:
            for key in handle.keys():  # noqa: SIM118 (safe_open is not a dict)
                tensors[key] = handle.get_tensor(key)
        return tensors
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise BundleError(f"{weights_path} is not a valid safetensors file (truncated or "
                          f"corrupt): {first_line}") from None


def _check_weights(model: torch.nn.Module, tensors: dict[str, torch.Tensor], where: Path) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing:
        raise BundleError(f"{where} does not fit the config: missing weights "
                          f"{_few(missing)}")
    if unexpected:
        raise BundleError(f"{where} does not fit the config: unexpected weights "
                          f"{_few(unexpected)}")
    for key, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise BundleError(f"{where} does not fit the config: '{key}' has shape "
                              f"{tuple(tensor.shape)}, the model needs "
                              f"{tuple(expected[key].shape)}")
        if tensor.dtype.is_floating_point != expected[key].dtype.is_floating_point:
            raise BundleError(f"{where}: '{key}' has dtype {tensor.dtype}, "
                              f"the model needs {expected[key].dtype}")


def _few(names: list[str]) -> str:
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _rebuild_tokenizer(description: dict[str, Any], folder: Path) -> Any:
    from ml_core.tokenizers import TokenizerError, from_dict

    try:
        return from_dict(description)
    except (TokenizerError, TypeError, KeyError, ValueError) as error:
        raise BundleError(f"{folder}: cannot rebuild its tokenizer: {error}") from None


# ------------------------------------------------------------------------ finding
def _roots() -> list[tuple[str, Path]]:
    return [("bundled", Path(paths.bundled_models_dir())), ("user", Path(paths.user_models_dir()))]


def find_bundles(problems: list[str] | None = None) -> list[BundleInfo]:
    """Every readable bundle in the bundled and the user model folders (bundled first,
    each sorted by name). Unreadable ones are skipped; their messages are appended to
    `problems` when a list is given."""
    found: list[BundleInfo] = []
    for source, root in _roots():
        if not root.is_dir():
            continue
        for folder in sorted(root.iterdir()):
            if not folder.is_dir() or folder.name.startswith((".", "_")):
                continue
            try:
                config = read_config(folder)
            except BundleError as error:
                if problems is not None:
                    problems.append(str(error))
                continue
            found.append(BundleInfo(config["name"], folder, source, config))
    return found


def app_default(bundles: list[BundleInfo] | None = None) -> str:
    """The name of the model the app and `composer-train generate` use unless told
    otherwise: APP_DEFAULT_NAME where it is among the bundled models (of `bundles`, else of
    find_bundles()), else DEFAULT_NAME."""
    found = find_bundles() if bundles is None else bundles
    bundled = {info.name for info in found if info.source == "bundled"}
    return APP_DEFAULT_NAME if APP_DEFAULT_NAME in bundled else DEFAULT_NAME


def resolve(name_or_path: str | Path) -> Path:
    """The folder of a bundle given as a folder path, `default` or `default-next` (the
    bundled ones) or a bundle's folder name in the user or bundled model folder (user
    first, except for those two). BundleError listing the known bundles when nothing matches."""
    text = str(name_or_path)
    if not text.strip():
        raise BundleError("no model given")
    candidate = Path(text).expanduser()
    if (candidate / CONFIG_FILE).is_file():
        return candidate
    looks_like_name = "/" not in text and "\\" not in text and text not in (".", "..")
    if looks_like_name:
        roots = _roots() if text in (DEFAULT_NAME, APP_DEFAULT_NAME) else list(reversed(_roots()))
        for _, root in roots:
            folder = root / text
            if folder.is_dir() and (folder / CONFIG_FILE).is_file():
                return folder
    known = sorted({folder.name for _, root in _roots() if root.is_dir()
                    for folder in root.iterdir() if (folder / CONFIG_FILE).is_file()})
    listing = ", ".join(known) if known else "none installed"
    if candidate.is_dir():
        raise BundleError(f"{candidate} is not a model bundle: {CONFIG_FILE} is missing")
    raise BundleError(f"no model named '{text}' (available: {listing})")
