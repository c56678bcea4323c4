"""Datasets for training: from music files to tokenized shards, and windows back out.

`prepare_dataset` turns MIDI/notation files, folders and `music21:<query>` corpus
selections into a dataset folder:

    manifest.json        sources, tokenizer (fitted vocab included), split counts,
                         skipped files with reasons, augmentation, cache key, and the
                         collection of every file (a music21 corpus folder such as
                         `essenFolksong`, or the name of the user's folder)
    train_data.npy       all training pieces concatenated: int32 token ids
                         (or a (steps, features) frame array for frame representations)
    train_offsets.npy    int64 piece boundaries: piece i is data[offsets[i]:offsets[i+1]]
    val_data.npy, val_offsets.npy   the same for the validation split
    train_collections.npy, val_collections.npy   int32 per piece: its index in
                         manifest["collections"]
    score_cache/         every source file read once, as JSON (tokenizer-independent), so
                         preparing again with another tokenizer or option skips the parsing

The split is by FILE (seeded), so no piece leaks between splits; transposition
augmentation touches the training split only. Re-running with the same files (paths,
sizes, mtimes) and options reuses the shards.

`load_dataset` reads them back (memory-mapped) and `WindowSampler` draws fixed-length
windows that never cross a piece boundary (short pieces are padded), optionally
balanced so that each collection gets its share of the windows whatever its size.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ml_core.files import atomic_path, atomic_write_text
from ml_core.score_codec import score_from_dict, score_to_dict

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SPLITS = ("train", "val")
TRANSPOSE_SHIFTS = tuple(range(-6, 6))  # -6..+5: every key once, none moved more than a tritone
MUSIC21_PREFIX = "music21:"
READER_VERSION = 3   # bump when reading a file gives other notes: invalidates score caches
PREPARE_VERSION = 3  # bump when the same scores give other shards: invalidates datasets only
SCORE_CACHE_LAYOUT = 2   # the score cache's pieces are `ml_core.score_codec` data (1: its own)


class DataError(ValueError):
    """A dataset that cannot be built or read (one-line message for a person)."""


# ---------------------------------------------------------------- encoders


def describe_encoder(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """Validate a tokenizer / frame-representation name and return its to_dict()."""
    encoder = build_encoder({"name": name, "config": dict(config)}, fresh=True)
    return _encoder_to_dict(encoder, name, dict(config))


def encoder_kind(encoder: Any) -> str:
    return getattr(encoder, "kind", "token")


def build_encoder(description: dict[str, Any], *, fresh: bool = False) -> Any:
    """A tokenizer (kind 'token') or frame representation (kind 'frame') from its dict."""
    from ml_core.tokenizers import TokenizerError, from_dict, get_tokenizer, tokenizer_names

    name = description.get("name")
    config = description.get("config", {}) or {}
    if name in tokenizer_names():
        return get_tokenizer(name, **config) if fresh else from_dict(description)
    try:
        from ml_core.tokenizers import frames
    except ImportError:
        frames = None
    if frames is not None:
        try:
            return frames.get_representation(name, **config)
        except (KeyError, ValueError, TokenizerError):
            pass
    names = tokenizer_names() + (list(getattr(frames, "representation_names", list)())
                                 if frames else [])
    raise DataError(f"unknown tokenizer '{name}' (choose from {', '.join(sorted(names))})")


def _encoder_to_dict(encoder: Any, name: str, config: dict[str, Any]) -> dict[str, Any]:
    if hasattr(encoder, "to_dict"):
        return encoder.to_dict()
    return {"name": name, "config": config, "kind": encoder_kind(encoder)}


# ---------------------------------------------------------------- sources


def _supported_extensions() -> tuple[str, ...]:
    from ml_core.midi_io import SUPPORTED_EXTENSIONS

    return tuple(ext.lower() for ext in SUPPORTED_EXTENSIONS)


def _music21_root() -> Path:
    from music21 import corpus

    return Path(corpus.__file__).resolve().parent


def music21_collection(path: Path) -> str:
    """The corpus folder a music21 corpus file sits in (`bach`, `essenFolksong`...)."""
    return Path(path).resolve().relative_to(_music21_root()).parts[0]


def _music21_paths(query: str) -> list[Path]:
    """The corpus files for `all`, a collection folder name, a composer, or a path fragment
    (only formats we read: the corpus's roman-numeral analyses are left out)."""
    from music21 import corpus

    query = query.strip()
    if not query:
        raise DataError("empty music21 query (try music21:bach or music21:all)")
    extensions = _supported_extensions()
    every = [Path(p) for p in corpus.getPaths() if str(p).lower().endswith(extensions)]
    if query == "all":
        paths = every
    else:
        root = _music21_root()
        paths = ([p for p in every if p.resolve().relative_to(root).parts[0] == query]
                 or [Path(p) for p in corpus.getComposer(query)
                     if str(p).lower().endswith(extensions)]
                 or [p for p in every if query in str(p)])
    if not paths:
        raise DataError(f"the music21 corpus has no pieces for '{query}'")
    return sorted(paths)


def resolve_collections(sources: Sequence[str], limit: int | None = None) -> dict[Path, str]:
    """Every music file named by `sources` (files, folders searched recursively,
    `music21:<query>`), sorted and de-duplicated, at most `limit` of them, each with its
    collection: the music21 corpus folder it comes from, the name of the folder given,
    or for a file given alone the name of its folder."""
    if not sources:
        raise DataError("no sources given")
    extensions = _supported_extensions()
    found: dict[Path, str] = {}
    for source in sources:
        if source.startswith(MUSIC21_PREFIX):
            for path in _music21_paths(source[len(MUSIC21_PREFIX):]):
                found.setdefault(path.resolve(), music21_collection(path))
            continue
        path = Path(source).expanduser()
        if path.is_dir():
            name = path.resolve().name or "files"
            for file in sorted(p for p in path.rglob("*") if p.is_file()
                               and p.name.lower().endswith(extensions)):
                found.setdefault(file.resolve(), name)
        elif path.is_file():
            found.setdefault(path.resolve(), path.resolve().parent.name or "files")
        else:
            raise DataError(f"no such file or folder: {source}")
    if not found:
        raise DataError(f"no music files ({', '.join(extensions)}) found in {', '.join(sources)}")
    unique = sorted(found)
    if limit is not None:
        if limit < 1:
            raise DataError("--limit must be at least 1")
        unique = unique[:limit]
    return {path: found[path] for path in unique}


def resolve_sources(sources: Sequence[str], limit: int | None = None) -> list[Path]:
    """The files of resolve_collections, without their collections."""
    return list(resolve_collections(sources, limit))


def split_files(files: Sequence[Path], val_fraction: float,
                seed: int) -> tuple[list[Path], list[Path]]:
    """Seeded split by file: (train, val). Keeps at least one training file, and at least
    one validation file when there are two or more files and val_fraction > 0."""
    if not 0.0 <= val_fraction < 1.0:
        raise DataError("--val-fraction must be in [0, 1)")
    ordered = sorted(files)
    count = len(ordered)
    val_count = int(round(count * val_fraction))
    if val_fraction > 0 and count >= 2:
        val_count = max(1, val_count)
    val_count = min(val_count, count - 1) if count else 0
    order = np.random.default_rng(seed).permutation(count)
    val_set = {ordered[i] for i in order[:val_count]}
    return [p for p in ordered if p not in val_set], [p for p in ordered if p in val_set]


def split_by_source(sources: Sequence[str], collection_of: dict[Path, str], val_fraction: float,
                    seed: int) -> tuple[list[Path], list[Path]]:
    """`split_files` on each source's files alone (a file named by two sources counts for
    the first), so a source's validation files are the same whatever other sources join
    it: `music21:all` plus another folder holds out exactly the files `music21:all` alone
    does (those the shipped models never saw, and the benches' held-out pieces)."""
    if len(sources) <= 1:
        return split_files(list(collection_of), val_fraction, seed)
    train: list[Path] = []
    val: list[Path] = []
    seen: set[Path] = set()
    for source in sources:
        mine = [path for path in resolve_collections([source]) if path in collection_of
                and path not in seen]
        seen.update(mine)
        if mine:
            source_train, source_val = split_files(mine, val_fraction, seed)
            train += source_train
            val += source_val
    return sorted(train), sorted(val)


# ---------------------------------------------------------------- per-file work


@dataclass(frozen=True)
class Augmentation:
    transpose: bool = False       # train split only: every shift in TRANSPOSE_SHIFTS
    normalize_key: bool = False   # move each piece to C major / A minor first
    # train split: share of variants played in (tokenizers.performance)
    performance: float = 0.0
    seed: int = 0                 # draws of those renditions

    def __post_init__(self) -> None:
        if not 0 <= self.performance <= 1:
            raise DataError(f"--performance-share must lie between 0 and 1, got {self.performance}")

    def shifts(self, split: str) -> tuple[int, ...]:
        return TRANSPOSE_SHIFTS if self.transpose and split == "train" else (0,)


_worker_encoder: Any = None
_worker_score_cache: Path | None = None


def _init_worker(description: dict[str, Any], score_cache: Path | None = None) -> None:
    global _worker_encoder, _worker_score_cache
    _worker_encoder = build_encoder(description)
    _worker_score_cache = score_cache


def _file_key(path: Path) -> list[Any]:
    stat = path.stat()
    return [str(path), stat.st_size, stat.st_mtime_ns, READER_VERSION, SCORE_CACHE_LAYOUT]


def read_pieces(path: str, cache: Path | None = None) -> list[Any]:
    """Every piece in a music file (each tune of an ABC collection), through a per-file cache
    of the parsed scores (or of the reason the file is unreadable) when `cache` is a folder."""
    from ml_core.midi_io import read_scores

    key = _file_key(Path(path))
    entry = (cache / (hashlib.sha256(json.dumps(key).encode()).hexdigest()[:32] + ".json")
             if cache else None)
    stored = _cached_pieces(entry, key) if entry is not None else None
    if stored is not None:
        if isinstance(stored, str):
            raise DataError(stored)
        return stored
    try:
        scores, error_text = read_scores(path), None
    except Exception as error:  # remembered so that a bad file is not parsed again either
        scores, error_text = [], _error_text(error)
    if entry is not None:
        payload = {"key": key, "error": error_text, "pieces": [score_to_dict(s) for s in scores]}
        entry.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(entry, json.dumps(payload, separators=(",", ":")))
    if error_text is not None:
        raise DataError(error_text)
    return scores


def _cached_pieces(entry: Path, key: list[Any]) -> list[Any] | str | None:
    """The cached scores, the cached reason the file is unreadable, or None (no usable entry)."""
    try:
        stored = json.loads(entry.read_text(encoding="utf-8"))
        if stored.get("key") != key:
            return None
        return stored["error"] or [score_from_dict(piece) for piece in stored["pieces"]]
    except (OSError, ValueError, KeyError, TypeError):   # missing or damaged: read the file again
        return None


def _read_variants(path: str, augmentation: Augmentation, split: str,
                   pickups: list[int] | None = None) -> list[Any]:
    """The file's pieces as augmented variants; `pickups` (when given) gets the number of
    pieces that open with a pickup appended."""
    variants = []
    pieces = read_pieces(path, _worker_score_cache)
    if pickups is not None:
        pickups.append(sum(1 for score in pieces if score.pickup_ticks and not score.is_empty))
    for score in pieces:
        variants.extend(_augmented(score, augmentation, split))
    if not variants:
        raise DataError("no notes")
    return variants


def _augmented(score: Any, augmentation: Augmentation, split: str) -> list[Any]:
    if score.is_empty:
        return []
    if augmentation.normalize_key:
        from ml_core.tokenizers.augment import normalize_key

        normalized = normalize_key(score)
        score = normalized[0] if isinstance(normalized, tuple) else normalized
    shifts = augmentation.shifts(split)
    if shifts == (0,):
        return _performed([score], augmentation, split)
    from ml_core.tokenizers.augment import transpositions

    pitch_range = getattr(_worker_encoder, "pitch_range", None)
    variants = (transpositions(score, list(shifts), tuple(pitch_range)) if pitch_range
                else transpositions(score, list(shifts)))
    return _performed([v[1] if isinstance(v, tuple) else v for v in variants], augmentation, split)


def _performed(variants: list[Any], augmentation: Augmentation, split: str) -> list[Any]:
    """`--augment performance`: a share of the training variants as performed renditions."""
    if not augmentation.performance or split != "train":
        return variants
    from ml_core.tokenizers.performance import performed_variants

    return performed_variants(variants, augmentation.performance, augmentation.seed)


def _error_text(error: BaseException) -> str:
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    ours = type(error).__module__.startswith("ml_core")
    if message and (ours or isinstance(error, (ValueError, OSError))):
        return message
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _encode_job(job: tuple[str, Augmentation, str]) -> tuple[str, list[np.ndarray] | None,
                                                             str | None, int]:
    """Worker: (path, encoded variants, None, pickups), (path, None, reason, 0), or for a
    collection with some pieces the tokenizer cannot take (one tune of an ABC book in 9/4):
    (path, the other pieces' variants, "N of M pieces left out: reason", pickups); `pickups`
    counts the file's pieces that open with a pickup."""
    path, augmentation, split = job
    pickups: list[int] = []
    try:
        variants = _read_variants(path, augmentation, split, pickups)
    except Exception as error:  # any unreadable file is listed and skipped, never fatal
        return path, None, _error_text(error), 0
    arrays, reason = _encoded(variants)
    return path, arrays, reason, pickups[0] if arrays is not None else 0


def _encoded(variants: list[Any]) -> tuple[list[np.ndarray] | None, str | None]:
    """(encoded variants, None), (None, reason) or (some of them, what was left out)."""
    arrays, failures = [], []
    for score in variants:
        try:   # a scheme may write training pieces its own way (remi_tracks shuffles parts)
            encoded = getattr(_worker_encoder, "encode_for_training", _worker_encoder.encode)(score)
        except Exception as error:
            failures.append(_error_text(error))
            continue
        array = (np.asarray(encoded, dtype=np.int32) if encoder_kind(_worker_encoder) == "token"
                 else np.asarray(encoded))
        if len(array) >= 2:
            arrays.append(array)
    if failures and not arrays:
        return None, failures[0]
    if not arrays:
        return None, "nothing left after tokenizing"
    if failures:
        return arrays, f"{len(failures)} of {len(variants)} pieces left out: {failures[0]}"
    return arrays, None


def _scores_job(job: tuple[str, Augmentation, str]) -> tuple[str, list[Any] | None, str | None]:
    path, augmentation, split = job
    try:
        return path, _read_variants(path, augmentation, split), None
    except Exception as error:
        return path, None, _error_text(error)


def _run_jobs(function: Callable, jobs: list, description: dict[str, Any], workers: int,
              label: str, score_cache: Path | None = None) -> Iterable:
    """Results in job order, with a progress bar on an interactive stderr."""
    from tqdm import tqdm

    bar_options = {"total": len(jobs), "desc": label, "unit": "file", "disable": None,
                   "leave": False}
    if workers <= 1 or len(jobs) <= 1:
        _init_worker(description, score_cache)
        yield from tqdm(map(function, jobs), **bar_options)
        return
    # "spawn", never "fork": a forked child of a process with live threads (torch, Qt, a
    # worker thread) can inherit a held lock and hang for ever.
    context = multiprocessing.get_context("spawn")
    # the biggest files first, so that a slow one does not start last and leave a core idle
    order = sorted(range(len(jobs)), key=lambda i: -_job_size(jobs[i]))
    results: dict[int, Any] = {}
    position = 0
    with context.Pool(min(workers, len(jobs)), initializer=_init_worker,
                      initargs=(description, score_cache)) as pool:
        done = pool.imap(function, [jobs[i] for i in order], chunksize=1)
        for index, result in tqdm(zip(order, done, strict=True), **bar_options):
            results[index] = result
            while position in results:   # hand results back in job order as they complete
                yield results.pop(position)
                position += 1


def _job_size(job: tuple) -> int:
    try:
        return os.stat(job[0]).st_size
    except OSError:
        return 0


# ---------------------------------------------------------------- prepare


@dataclass(frozen=True)
class PrepareOptions:
    tokenizer: str
    tokenizer_config: dict[str, Any] = field(default_factory=dict)
    val_fraction: float = 0.1
    seed: int = 0
    augmentation: Augmentation = Augmentation()
    limit: int | None = None
    workers: int = 1
    score_cache: Path | None = None   # parsed files kept here; None: <out>/score_cache
    # a given split: these sources are the validation (test) split, `sources` all training
    # (val_fraction is then unused), as a paper's own train/test folders
    val_sources: tuple[str, ...] = ()


@dataclass
class PrepareResult:
    directory: Path
    manifest: dict[str, Any]
    reused: bool


def _cache_key(files: dict[Path, str], options: PrepareOptions) -> str:
    entries = []
    for path, collection in files.items():
        stat = path.stat()
        entries.append([str(path), stat.st_size, stat.st_mtime_ns, collection])
    payload = {
        "format": FORMAT_VERSION, "reader": READER_VERSION, "prepare": PREPARE_VERSION,
        "files": entries, "tokenizer": options.tokenizer,
        "config": options.tokenizer_config, "val_fraction": options.val_fraction,
        "seed": options.seed, "transpose": options.augmentation.transpose,
        **({"val_sources": list(options.val_sources)} if options.val_sources else {}),
        "normalize_key": options.augmentation.normalize_key,
        **({"performance": options.augmentation.performance}
           if options.augmentation.performance else {}),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _cached_manifest(directory: Path, key: str) -> dict[str, Any] | None:
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("cache_key") != key:
        return None
    if not all((directory / f"{s}_{kind}.npy").is_file() for s in SPLITS
               for kind in ("data", "offsets")):
        return None
    return manifest


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path, suffix=".npy") as temporary:
        np.save(temporary, array)


def _stack(arrays: list[np.ndarray], kind: str,
           feature_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(a) for a in arrays])
    if kind == "token":
        data = np.concatenate(arrays).astype(np.int32) if arrays else np.zeros(0, np.int32)
    else:
        data = np.concatenate(arrays) if arrays else np.zeros((0, *feature_shape), np.uint8)
        if data.dtype == bool:
            data = data.astype(np.uint8)
    return data, offsets


def prepare_dataset(sources: Sequence[str], out_dir: Path, options: PrepareOptions,
                    log: Callable[[str], None] = lambda message: None) -> PrepareResult:
    """Build (or reuse) a tokenized dataset in `out_dir`. Raises DataError when nothing usable."""
    out_dir = Path(out_dir)
    collection_of = resolve_collections(sources, options.limit)
    given_train = list(collection_of)
    if options.val_sources:   # a file named by both stays a training file
        collection_of = {**resolve_collections(options.val_sources, options.limit),
                         **collection_of}
    files = list(collection_of)
    score_cache = Path(options.score_cache) if options.score_cache else out_dir / "score_cache"
    description = describe_encoder(options.tokenizer, options.tokenizer_config)
    key = _cache_key(collection_of, options)
    cached = _cached_manifest(out_dir, key)
    if cached is not None:
        return PrepareResult(out_dir, cached, reused=True)

    if options.val_sources:
        train_files = sorted(given_train)
        val_files = sorted(set(collection_of) - set(given_train))
    else:
        train_files, val_files = split_by_source(sources, collection_of,
                                                 options.val_fraction, options.seed)
    augmentation = options.augmentation
    skipped: dict[str, str] = {}
    encoder = build_encoder(description)
    if hasattr(encoder, "fit"):  # learned vocabulary (chord words): fit on the training split only
        fit_jobs = [(str(p), augmentation, "train") for p in train_files]
        scores = []
        for path, variants, error in _run_jobs(_scores_job, fit_jobs, description,
                                               options.workers, "reading",
                                                score_cache):
            if error:
                skipped[path] = error
            else:
                scores.extend(variants)
        if not scores:
            raise DataError(_nothing_readable(len(train_files), skipped))
        encoder.fit(scores)
        description = _encoder_to_dict(encoder, options.tokenizer, options.tokenizer_config)

    jobs = ([(str(p), augmentation, "train") for p in train_files if str(p) not in skipped]
            + [(str(p), augmentation, "val") for p in val_files])
    arrays: dict[str, list[np.ndarray]] = {"train": [], "val": []}
    used: dict[str, list[str]] = {"train": [], "val": []}
    piece_collections: dict[str, list[str]] = {"train": [], "val": []}
    left_out: dict[str, str] = {}   # files used in part: reason some of their pieces are not
    pickups = {"train": 0, "val": 0}   # pieces opening with a pickup (kept at the end of bar 0)
    for (path, variants, error, pickup_count), job in zip(
            _run_jobs(_encode_job, jobs, description, options.workers, "tokenizing", score_cache),
            jobs, strict=True):
        if variants is None:
            skipped[path] = error
            continue
        if error:
            left_out[path] = error
        arrays[job[2]].extend(variants)
        pickups[job[2]] += pickup_count
        used[job[2]].append(path)
        piece_collections[job[2]].extend([collection_of[Path(path)]] * len(variants))
    if not arrays["train"]:
        raise DataError(_nothing_readable(len(files), skipped))

    kind = encoder_kind(encoder)
    feature_shape = tuple(arrays["train"][0].shape[1:])
    out_dir.mkdir(parents=True, exist_ok=True)
    # the manifest is written last: it marks completion
    (out_dir / MANIFEST).unlink(missing_ok=True)
    split_summary = {}
    collections = sorted(set(collection_of.values()))
    for split in SPLITS:
        data, offsets = _stack(arrays[split], kind, feature_shape)
        _save_npy(out_dir / f"{split}_data.npy", data)
        _save_npy(out_dir / f"{split}_offsets.npy", offsets)
        ids = np.asarray([collections.index(c) for c in piece_collections[split]], dtype=np.int32)
        _save_npy(out_dir / f"{split}_collections.npy", ids)
        lengths = np.diff(offsets)
        split_summary[split] = {
            "files": len(used[split]), "pieces": len(arrays[split]), "tokens": int(len(data)),
            "pieces_with_pickup": pickups[split],
            "file_list": used[split],
            "file_collections": [collection_of[Path(path)] for path in used[split]],
            "collections": {name: {"pieces": int((ids == number).sum()),
                                   "tokens": int(lengths[ids == number].sum())}
                            for number, name in enumerate(collections) if (ids == number).any()}}
    vocab_size = getattr(encoder, "vocab_size", None)
    manifest = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cache_key": key,
        "sources": list(sources),
        "tokenizer": description,
        "vocab_size": vocab_size,
        "pad_id": _pad_id(encoder) if kind == "token" else None,
        "feature_shape": list(feature_shape),
        "split": ({"val_sources": list(options.val_sources), "by": "given"}
                  if options.val_sources else
                  {"val_fraction": options.val_fraction, "seed": options.seed, "by": "file"}),
        "augmentation": {"transpose": list(augmentation.shifts("train"))
                         if augmentation.transpose else [],
                         "normalize_key": augmentation.normalize_key, "applies_to": "train",
                         "performance": augmentation.performance},
        "limit": options.limit,
        "collections": collections,
        "splits": split_summary,
        "skipped": [{"path": p, "reason": r} for p, r in sorted(skipped.items())],
        "pieces_left_out": [{"path": p, "reason": r} for p, r in sorted(left_out.items())],
    }
    if kind == "token":
        counts = np.bincount(np.load(out_dir / "train_data.npy"), minlength=vocab_size or 0)
        _save_npy(out_dir / "train_token_counts.npy", counts.astype(np.int64))
    atomic_write_text(out_dir / MANIFEST, json.dumps(manifest, indent=1))
    return PrepareResult(out_dir, manifest, reused=False)


def _pad_id(encoder: Any) -> int | None:
    """The scheme's PAD id, or None for schemes without one (windows then pad inputs with 0;
    padded targets are ignored by the losses either way)."""
    try:
        return int(encoder.pad_id)
    except (AttributeError, KeyError, ValueError):
        return None


def _nothing_readable(count: int, skipped: dict[str, str]) -> str:
    if not skipped:
        return f"none of the {count} file(s) gave any training data"
    path, reason = next(iter(skipped.items()))
    named = reason if reason.startswith(f"{Path(path).name}: ") else f"{Path(path).name}: {reason}"
    return f"none of the {count} file(s) could be used (e.g. {named})"


# ---------------------------------------------------------------- loading and windows


@dataclass
class Split:
    data: np.ndarray      # (N,) int32 tokens or (N, *features) frames
    offsets: np.ndarray   # (pieces + 1,) int64
    collections: np.ndarray | None = None   # (pieces,) int32 index into the dataset's names

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def pieces(self) -> int:
        return len(self.offsets) - 1

    def piece(self, index: int) -> np.ndarray:
        return self.data[self.offsets[index]:self.offsets[index + 1]]


@dataclass
class Dataset:
    directory: Path
    manifest: dict[str, Any]
    train: Split
    val: Split

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    @property
    def pad_id(self) -> int:
        """Value padded windows are filled with (the scheme's PAD, else 0: never a target)."""
        return int(self.manifest.get("pad_id") or 0)

    @property
    def vocab_size(self) -> int | None:
        return self.manifest.get("vocab_size")

    def encoder(self) -> Any:
        """The tokenizer / frame representation the shards were made with."""
        return build_encoder(self.manifest["tokenizer"])

    @property
    def collection_names(self) -> list[str]:
        """The collections pieces come from (a dataset prepared before they were recorded: one)."""
        return list(self.manifest.get("collections") or ["all"])

    def token_counts(self) -> np.ndarray:
        """How often each token id occurs in the training split (for class weights)."""
        path = self.directory / "train_token_counts.npy"
        if path.is_file():
            return np.load(path)
        return np.bincount(np.asarray(self.train.data), minlength=self.vocab_size or 0)


def load_dataset(directory: Path) -> Dataset:
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"no such dataset folder: {directory}")
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{directory} is not a prepared dataset (no {MANIFEST}; run "
                        f"`composer-train prepare`)") from None
    except (OSError, ValueError) as error:
        raise DataError(f"{directory / MANIFEST} is unreadable: {error}") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise DataError(f"{directory} was prepared by an incompatible version; prepare it again")
    splits = {}
    try:
        for split in SPLITS:
            offsets = np.load(directory / f"{split}_offsets.npy")
            labels = directory / f"{split}_collections.npy"
            collections = (np.load(labels) if labels.is_file()
                           else np.zeros(len(offsets) - 1, dtype=np.int32))
            if len(collections) != len(offsets) - 1:
                raise ValueError(f"{labels.name} does not match the pieces")
            splits[split] = Split(np.load(directory / f"{split}_data.npy", mmap_mode="r"), offsets,
                                  collections)
    except (OSError, ValueError) as error:
        raise DataError(f"dataset shards in {directory} are unreadable: {error}") from None
    if splits["train"].pieces == 0 or len(splits["train"].data) < 2:
        raise DataError(f"dataset {directory} has no training data")
    return Dataset(directory, manifest, splits["train"], splits["val"])


def window_counts(lengths: np.ndarray, window: int) -> np.ndarray:
    """Windows of window+1 items each piece offers: every start that fits, or one padded
    window for a piece shorter than that (pieces under 2 items offer none)."""
    span = window + 1
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.where(lengths >= span, lengths - span + 1, np.where(lengths >= 2, 1, 0))


BALANCE_MODES = ("none", "collections")


def collection_weights(dataset: Dataset, balance: str = "none",
                       weights: dict[str, float] | None = None) -> np.ndarray | None:
    """Per-collection shares of the sampled windows, or None for plain uniform windows.

    `balance="collections"` gives every collection the same share; `weights` (collection ->
    weight, implies balancing) scales them, unnamed collections keeping weight 1 and weight 0
    leaving a collection out."""
    if balance not in BALANCE_MODES:
        raise DataError(f"unknown --balance '{balance}' (choose from {', '.join(BALANCE_MODES)})")
    if balance == "none" and not weights:
        return None
    names = dataset.collection_names
    unknown = sorted(set(weights or {}) - set(names))
    if unknown:
        raise DataError(f"the dataset has no collection {', '.join(unknown)} "
                        f"(it has {', '.join(names)})")
    shares = np.asarray([float((weights or {}).get(name, 1.0)) for name in names])
    if not np.all(np.isfinite(shares)) or (shares < 0).any() or shares.sum() <= 0:
        raise DataError("collection weights must be 0 or more, and not all 0")
    return shares


def parse_collection_weights(text: str) -> dict[str, float]:
    """'folk=3,bach=0.5' -> {'folk': 3.0, 'bach': 0.5}."""
    weights: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = (part.strip() for part in item.rpartition("="))
        try:
            weight = float(value)
        except ValueError:
            weight = float("nan")
        if not name or not weight >= 0:   # also refuses nan
            raise DataError(f"--balance-weights expects name=weight with a weight of 0 or more, "
                            f"got '{item}'")
        weights[name] = weight
    if not weights:
        raise DataError("--balance-weights expects name=weight,... (e.g. essenFolksong=3,bach=1)")
    return weights


@dataclass
class Batch:
    items: np.ndarray   # (B, window + 1) token ids, or (B, window + 1, *features) frames
    valid: np.ndarray   # (B, window + 1) bool: False on padding
    # (B, preceding) ids just before each window in its piece, -1 where the piece had not
    # begun: only from a sampler asked for them (fixed-window models, see `context_window`)
    preceding: np.ndarray | None = None
    # (B, window + 1) bool: the items that count as targets, where a training objective
    # reads some it does not score (a dropped control); None: every valid one
    scored: np.ndarray | None = None


class WindowSampler:
    """Random windows of `window + 1` items inside pieces (never across a boundary): uniform
    over all windows, or with `collection_weights` (one weight per collection id) a
    collection is drawn first in proportion to its weight, then a window uniformly in it."""

    def __init__(self, split: Split, window: int, pad_value: int = 0,
                 collection_weights: np.ndarray | None = None, preceding: int = 0) -> None:
        if window < 1:
            raise DataError("--window must be at least 1")
        self.split = split
        self.window = window
        self.pad_value = pad_value
        self.preceding = preceding   # ids before each window that `gather` also returns
        self.counts = window_counts(split.lengths, window)
        self.cumulative = np.cumsum(self.counts)
        self.balanced_cumulative: np.ndarray | None = None   # of each piece's probability
        if collection_weights is not None:
            labels = (split.collections if split.collections is not None
                      else np.zeros(split.pieces, dtype=np.int32))
            windows = np.bincount(labels, weights=self.counts, minlength=len(collection_weights))
            shares = np.where(windows > 0, np.asarray(collection_weights, dtype=np.float64), 0.0)
            if shares.sum() <= 0:
                raise DataError("the balance weights leave no collection with a window to sample")
            per_window = shares / np.maximum(windows, 1) / shares.sum()
            self.balanced_cumulative = np.cumsum(self.counts * per_window[labels])

    @property
    def total_windows(self) -> int:
        return int(self.cumulative[-1]) if len(self.cumulative) else 0

    def positions(self, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
        """(piece index, start) of `count` windows drawn uniformly over all windows."""
        if self.total_windows == 0:
            raise DataError("the dataset has no piece long enough for a window")
        if self.balanced_cumulative is not None:
            draws = rng.random(count) * self.balanced_cumulative[-1]
            pieces = np.minimum(np.searchsorted(self.balanced_cumulative, draws, side="right"),
                                len(self.counts) - 1)
            return pieces, (rng.random(count) * self.counts[pieces]).astype(np.int64)
        flat = rng.integers(0, self.total_windows, size=count)
        pieces = np.searchsorted(self.cumulative, flat, side="right")
        before = np.where(pieces > 0, self.cumulative[pieces - 1], 0)
        return pieces, flat - before

    def gather(self, pieces: np.ndarray, starts: np.ndarray) -> Batch:
        span = self.window + 1
        feature_shape = self.split.data.shape[1:]
        items = np.full((len(pieces), span, *feature_shape), self.pad_value,
                        dtype=np.int64 if not feature_shape else np.float32)
        valid = np.zeros((len(pieces), span), dtype=bool)
        for row, (piece, start) in enumerate(zip(pieces.tolist(), starts.tolist(), strict=True)):
            begin = int(self.split.offsets[piece]) + start
            end = min(begin + span, int(self.split.offsets[piece + 1]))
            items[row, :end - begin] = self.split.data[begin:end]
            valid[row, :end - begin] = True
        return Batch(items, valid, self._preceding(pieces, starts) if self.preceding else None)

    def _preceding(self, pieces: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """(B, preceding) ids before each window start inside its piece, -1 before the piece."""
        before = np.full((len(pieces), self.preceding), -1, dtype=np.int64)
        for row, (piece, start) in enumerate(zip(pieces.tolist(), starts.tolist(), strict=True)):
            available = min(int(start), self.preceding)
            if available:
                end = int(self.split.offsets[piece]) + int(start)
                before[row, self.preceding - available:] = self.split.data[end - available:end]
        return before

    def sample(self, rng: np.random.Generator, batch_size: int) -> Batch:
        return self.gather(*self.positions(rng, batch_size))

    def validation_positions(self, max_windows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Deterministic windows tiling each piece with stride `window`, so each target
        position is scored exactly once; thinned evenly to at most `max_windows`."""
        pieces, starts = [], []
        for piece, length in enumerate(self.split.lengths.tolist()):
            if length < 2:
                continue
            for start in range(0, length - 1, self.window):  # the last one may be padded
                pieces.append(piece)
                starts.append(start)
        pieces_array, starts_array = np.asarray(pieces, np.int64), np.asarray(starts, np.int64)
        if max_windows is not None and len(pieces_array) > max_windows:
            keep = np.linspace(0, len(pieces_array) - 1, max_windows).round().astype(np.int64)
            pieces_array, starts_array = pieces_array[keep], starts_array[keep]
        return pieces_array, starts_array
