"""The subcommands of `composer-train`: thin wrappers that turn parsed arguments into
calls on ml_core.data / ml_core.training / ml_core.evaluation / ml_core.generation and
print the outcome. Heavy imports (torch) happen inside each command, so `--help` and
argument errors stay instant."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ml_core.pitch import parse_pitch, parse_pitch_class


def parse_assignments(pairs: list[str] | None, flag: str) -> dict[str, Any]:
    """['key=value', ...] -> dict; values read as JSON when they parse (4, 0.5, true, [1,2])."""
    result: dict[str, Any] = {}
    for pair in pairs or []:
        key, separator, text = pair.partition("=")
        if not separator or not key.strip():
            raise ValueError(f"{flag} expects key=value, got '{pair}'")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        result[key.strip().replace("-", "_")] = value
    return result


def parse_key(text: str | None) -> tuple[int, str] | None:
    """'D minor' / 'F# major' / 'Bb' -> (pitch class, mode)."""
    if not text:
        return None
    parts = text.replace("-", " ").split()
    mode = parts[1].lower() if len(parts) > 1 else "major"
    name = parts[0] if parts else ""
    if mode not in ("major", "minor") or len(parts) > 2:
        raise ValueError(f"cannot read key '{text}' (try \"D minor\" or \"F# major\")")
    try:
        tonic = parse_pitch_class(name.replace("♭", "b"))
    except ValueError:
        raise ValueError(f"cannot read key '{text}' (try \"D minor\" or \"F# major\")") from None
    return tonic % 12, mode


def _say(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------- prepare


def prepare(args: argparse.Namespace) -> int:
    from ml_core.data import Augmentation, PrepareOptions, prepare_dataset

    options = PrepareOptions(
        tokenizer=args.tokenizer, tokenizer_config=parse_assignments(args.opt, "--opt"),
        val_fraction=args.val_fraction, seed=args.seed,
        augmentation=Augmentation(transpose=args.transpose, normalize_key=args.normalize_key,
                                  performance=args.performance_share
                                  if "performance" in args.augment else 0.0,
                                  seed=args.seed),
        limit=args.limit, workers=max(1, args.workers or os.cpu_count() or 1),
        score_cache=Path(args.score_cache) if getattr(args, "score_cache", None) else None,
        val_sources=tuple(getattr(args, "val_source", None) or ()))
    result = prepare_dataset(args.sources, Path(args.out), options)
    manifest = result.manifest
    splits = manifest["splits"]
    if result.reused:
        _say(f"{result.directory}: up to date, reusing the cached dataset (same files and options)")
    for path_reason in manifest["skipped"][:10]:
        _say(f"skipped {path_reason['path']}: {path_reason['reason']}")
    if len(manifest["skipped"]) > 10:
        _say(f"... and {len(manifest['skipped']) - 10} more skipped (see manifest.json)")
    unit = "tokens" if manifest["kind"] == "token" else "frames"
    collections = splits["train"].get("collections") or {}
    if len(collections) > 1:
        _say("collections (train): " + ", ".join(
            f"{name} {entry['pieces']} pieces / {entry['tokens']} {unit}"
            for name, entry in collections.items()))
    _say(f"dataset {result.directory}: train {splits['train']['files']} files / "
         f"{splits['train']['tokens']} {unit}, validation {splits['val']['files']} files / "
         f"{splits['val']['tokens']} {unit}, {len(manifest['skipped'])} skipped")
    # datasets prepared before pickups were kept lack it
    if "pieces_with_pickup" in splits["train"]:
        pickups = splits["train"]["pieces_with_pickup"] + splits["val"]["pieces_with_pickup"]
        _say(f"{pickups} pieces open with a pickup (kept in its metrical place, at the end of bar "
             f"0)")
    return 0


# ---------------------------------------------------------------- train


def _balance_weights(args: argparse.Namespace) -> dict[str, float]:
    from ml_core.data import parse_collection_weights

    text = getattr(args, "balance_weights", None)
    return parse_collection_weights(text) if text else {}


def train(args: argparse.Namespace) -> int:
    from ml_core.training import TrainOptions
    from ml_core.training import train as run_training

    if not args.model and not args.preset and not args.init_from:
        raise ValueError("give --model ARCH, --preset NAME or --init-from BUNDLE")
    options = TrainOptions(
        data=Path(args.data), out=args.out, arch=args.model, preset=args.preset,
        hparams=parse_assignments(args.hparam, "--hparam"), epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer, schedule=args.schedule,
        decay=args.decay, window=args.window, epoch_fraction=args.epoch_fraction, loss=args.loss,
        last_n=args.last_n, focal_gamma=args.focal_gamma, device=args.device,
        precision=args.precision, compile=args.compile, resume=args.resume, seed=args.seed,
        patience=args.patience,
        checkpoint_every=args.checkpoint_every, max_steps=args.max_steps,
        infill_rate=args.infill_rate,
        num_workers=args.num_workers, threads=args.threads, description=args.description or "",
        balance=args.balance, balance_weights=_balance_weights(args), init_from=args.init_from,
        warmup_steps=args.warmup_steps)
    result = run_training(options, log=_say)
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 alone reports
        return 0
    nll = f"{result.best_val_nll:.4f}" if result.best_val_nll is not None else "n/a"
    _say(f"saved the best model (validation NLL {nll}, {result.steps} steps, {result.epochs} "
         f"epochs, "
         f"{result.tokens_seen} tokens) to {result.bundle_path}")
    return 0


# ---------------------------------------------------------------- evaluate


def _load_bundle(name: str | None, device_name: str):
    """The bundle `name` (None: the app's default model) on the device."""
    from ml_core import bundle
    from ml_core.generation import resolve_device

    return bundle.load(bundle.resolve(name or bundle.app_default()), resolve_device(device_name))


def evaluate(args: argparse.Namespace) -> int:
    from ml_core.data import load_dataset
    from ml_core.evaluation import evaluate as run_evaluation
    from ml_core.evaluation import format_report

    dataset = load_dataset(Path(args.data))
    loaded = _load_bundle(args.model, args.device)
    report = run_evaluation(loaded, dataset, samples=args.samples, sample_tokens=args.sample_tokens,
                            window=args.window, max_windows=args.max_windows, seed=args.seed)
    _say(json.dumps(report) if args.json else format_report(report))
    return 0


# ---------------------------------------------------------------- generate


def output_paths(out: Path, variations: int) -> list[Path]:
    if variations == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{index}{out.suffix or '.mid'}")
            for index in range(1, variations + 1)]


def parse_fill_bars(text: str | None, flag: str = "--fill-bars") -> tuple[int, int] | None:
    """'3:5' (1-based, end exclusive) -> (2, 4), the 0-based bars ml_core.generation.fill takes."""
    if not text:
        return None
    first, separator, end = text.partition(":")
    try:
        start_bar, end_bar = int(first), int(end)
    except ValueError:
        start_bar = end_bar = 0
    if not separator or start_bar < 1 or end_bar <= start_bar:
        raise ValueError(f"{flag} expects A:B with 1 <= A < B (bars A..B-1), got '{text}'")
    return start_bar - 1, end_bar - 1


def parse_bars(text: str | None, adding: bool) -> tuple[int, tuple[int, int] | None]:
    """(bars to continue, the bars of a part to add): `--bars N`, or with --add-part `A:B`
    (1-based, end exclusive; default: the whole piece)."""
    if text is None:
        return 8, None
    if adding and ":" in text:
        return 8, parse_fill_bars(text, "--bars")
    try:
        return int(text), None
    except ValueError:
        also = " (or A:B with --add-part)" if adding else ""
        raise ValueError(f"--bars expects a number of bars{also}, got '{text}'") from None


def needs_tracks(loaded, what: str) -> None:
    """Refuse `what` with a model that reads one stream of notes, naming the models that
    know tracks (the remi_tracks tokenizer)."""
    from ml_core import multitrack
    from ml_core.bundle import find_bundles

    if multitrack.knows_tracks(loaded.tokenizer):
        return
    aware = [info.name for info in find_bundles()
             if (info.config.get("tokenizer") or {}).get("name") == "remi_tracks"]
    which = f"--model {' or '.join(aware[:3])}" if aware else \
        "train one with composer-train prepare --tokenizer remi_tracks"
    raise ValueError(f"model '{getattr(loaded, 'name', '?')}' reads one stream of notes: {what} "
                     f"needs a model that knows tracks (the remi_tracks tokenizer): {which}")


def _multitrack(args: argparse.Namespace, loaded, prompt, options, tracks: str | None,
                bars: tuple[int, int] | None):
    """The result of --add-part (over `bars`), of --fill-bars with --track (`bars`), or of
    --tracks with a model that knows tracks (the other tracks read as context); None for a
    single-stream model's continuation."""
    from ml_core import multitrack
    from ml_core.tracks import pitched_tracks

    if args.add_part:
        needs_tracks(loaded, "--add-part")
        return multitrack.add_part(loaded, prompt, args.add_part, program=args.program,
                                   bars=bars, options=options, voicing=args.voicing)
    if tracks == "fill":
        assert bars is not None
        needs_tracks(loaded, "--fill-bars with --track")
        return multitrack.fill_track(loaded, prompt, args.track, *bars, options,
                                     voicing=args.voicing)
    if not multitrack.knows_tracks(loaded.tokenizer) or tracks is None:
        return None
    if tracks == "all":
        return multitrack.continue_all(loaded, prompt, pitched_tracks(prompt), options,
                                       voicing=args.voicing)
    index = args.track if args.track is not None else next(iter(pitched_tracks(prompt)), 0)
    return multitrack.continue_active(loaded, prompt, index, options, voicing=args.voicing)


def parse_control(text: str, flag: str, *, pitch: bool = False) -> int | float | str | None:
    """auto -> None (follow the prompt), any -> 'any', a number (or, with `pitch`, a note
    name such as C5 or F#3) -> that value."""
    value = text.strip().lower()
    if value == "auto":
        return None
    if value == "any":
        return "any"
    try:
        return float(value) if "." in value else int(value)
    except ValueError:
        pass
    if pitch:  # C4 = 60
        try:
            return parse_pitch(value)
        except ValueError:
            pass
    raise ValueError(f"{flag} expects auto, any or a number, got '{text}'")


def fill_mode(args: argparse.Namespace, prompt, fill_bars: tuple[int, int]) -> str | None:
    """"fill" (--track N: that track's bars rewritten given the others), or None (the
    whole prompt's bars rewritten as one stream)."""
    if args.track is None:
        if args.tracks:
            raise ValueError("--tracks applies to a continuation; with --fill-bars, --track N "
                             "picks the track to fill")
        return None
    if args.tracks == "all":
        raise ValueError("--fill-bars with --track N rewrites one track: leave out --tracks all")
    count = len(prompt.tracks)
    if not 0 <= args.track < count:
        raise ValueError(f"--track {args.track}: the prompt's tracks are 0..{count - 1}")
    bars = len(prompt.bar_starts())
    if not prompt.notes() or fill_bars[0] >= bars:
        raise ValueError(f"--fill-bars {args.fill_bars}: no bars of the prompt there (it has "
                         f"{bars if prompt.notes() else 0} bars)")
    return "fill"


def track_mode(args: argparse.Namespace, prompt, fill_bars: tuple[int, int] | None
               ) -> str | None:
    """"active", "all", "fill" (--fill-bars with --track), or None (one pitched track: the
    prompt continued, or filled, as before)."""
    from ml_core.tracks import pitched_tracks

    if fill_bars is not None:
        return fill_mode(args, prompt, fill_bars)
    mode = args.tracks or ("active" if args.track is not None else None)
    if args.track is not None:
        if mode == "all":
            raise ValueError("--track N continues one track: use --tracks active (or leave "
                             "--tracks out)")
        count = len(prompt.tracks)
        if not 0 <= args.track < count or prompt.tracks[args.track].is_drum \
                or not prompt.tracks[args.track].notes:
            raise ValueError(f"--track {args.track}: the prompt's tracks with notes to "
                             f"continue are {pitched_tracks(prompt)} (from 0, of {count})")
    if mode is None and len(pitched_tracks(prompt)) > 1:
        return "all"
    return mode


def generate(args: argparse.Namespace) -> int:
    from ml_core.midi_io import read_score, write_midi

    out = Path(args.out)
    if out.parent and not out.parent.is_dir():
        raise FileNotFoundError(f"output folder {out.parent} does not exist")
    key = parse_key(args.key)
    prompt = read_score(args.prompt)   # before torch is imported: a bad file is refused at once
    from ml_core.generation import GenerationOptions, continue_score, fill_score
    from ml_core.tracks import continue_track, continue_tracks, pitched_tracks

    bars, part_bars = parse_bars(args.bars, bool(args.add_part))
    if args.program is not None and not args.add_part:
        raise ValueError("--program applies to --add-part")
    options = GenerationOptions(bars=bars, temperature=args.temperature, top_k=args.top_k,
                                top_p=args.top_p, seed=args.seed, variations=args.variations,
                                stay_in_key=args.stay_in_key or key is not None, key=key,
                                device=args.device,
                                texture=parse_control(args.texture, "--texture"),
                                density=parse_control(args.density, "--density"),
                                register=parse_control(args.register, "--register",
                                                       pitch=True),
                                motif=args.motif).validated()
    fill_bars = parse_fill_bars(args.fill_bars)
    if args.add_part and (fill_bars is not None or args.tracks or args.track is not None):
        raise ValueError("--add-part writes a new track: leave out --fill-bars, --tracks and "
                         "--track")
    tracks = None if args.add_part else track_mode(args, prompt, fill_bars)
    loaded = _load_bundle(args.model, args.device)
    result = _multitrack(args, loaded, prompt, options, tracks, part_bars or fill_bars)
    if result is not None:
        pass   # a part added, a track filled, or parts continued given the others
    elif fill_bars is not None:
        result = fill_score(loaded, prompt, *fill_bars, options)
    elif tracks == "all":
        result = continue_tracks(loaded, prompt, None, options)
    elif tracks == "active":
        index = args.track if args.track is not None else next(iter(pitched_tracks(prompt)), 0)
        result = continue_track(loaded, prompt, index, options)
    else:
        result = continue_score(loaded, prompt, options)
    paths = output_paths(out, len(result.scores))
    for score, path in zip(result.scores, paths, strict=True):
        write_midi(score, path)
    tokens_per_s = result.tokens_generated * len(result.scores) / max(result.seconds, 1e-9)
    if args.json:
        _say(json.dumps({"tokens": result.tokens_generated, "seconds": result.seconds,
                         "tokens_per_s": tokens_per_s, "variations": len(result.scores),
                         "seed": getattr(result, "seed", args.seed),
                         "outputs": [str(p) for p in paths]}))
    else:
        _say(f"wrote {', '.join(str(p) for p in paths)} ({result.tokens_generated} tokens in "
             f"{result.seconds:.2f} s, {tokens_per_s:.0f} tokens/s)")
    return 0


# ---------------------------------------------------------------- export


def export(args: argparse.Namespace) -> int:
    from ml_core import bundle

    folder = bundle.export(bundle.resolve(args.model), Path(args.out), name=args.name,
                           description=args.description, weights_dtype=args.weights)
    size = (folder / bundle.WEIGHTS_FILE).stat().st_size
    _say(f"exported {args.model} to {folder} ({args.weights} weights, {size / 1e6:.1f} MB)")
    return 0


# ---------------------------------------------------------------- models


def _bundle_row(entry: Any) -> dict[str, Any]:
    from ml_core import bundle

    path = Path(getattr(entry, "path", entry))
    config = getattr(entry, "config", None) or bundle.read_config(path)
    model = config.get("model", {}) if isinstance(config.get("model"), dict) else {}
    metrics = config.get("metrics") or {}
    tokenizer = config.get("tokenizer") or {}
    return {
        "name": config.get("name", path.name),
        "arch": model.get("arch") or config.get("arch") or config.get("architecture"),
        "parameters": config.get("parameter_count") or config.get("parameters")
        or model.get("parameters"),
        "tokenizer": tokenizer.get("name") if isinstance(tokenizer, dict) else tokenizer,
        "test_nll": metrics.get("test_nll"),
        "location": str(path),
    }


def models(args: argparse.Namespace) -> int:
    from ml_core import bundle

    rows = [_bundle_row(entry) for entry in bundle.find_bundles()]
    if args.json:
        _say(json.dumps(rows))
        return 0
    if not rows:
        _say("no model bundles found")
        return 0
    columns = ("name", "arch", "parameters", "tokenizer", "test_nll", "location")
    cells = [[("-" if row[c] is None else f"{row[c]:.3f}" if isinstance(row[c], float)
               else str(row[c]))
              for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    _say("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        _say("  ".join(value.ljust(w) for value, w in zip(row, widths, strict=True)))
    return 0


def eprint(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
