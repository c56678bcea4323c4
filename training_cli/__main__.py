"""`composer-train` / `python -m training_cli`: prepare data, train, evaluate, generate,
list models. Exit codes: 0 success, 2 user error (one `error: ...` line on stderr, no
traceback), 130 interrupted by Ctrl-C or SIGTERM (training saves a checkpoint first)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ml_core.interrupts import terminate_as_interrupt
from ml_core.options import DEFAULT_MOTIF, MOTIF_MODES
from training_cli import commands

# (module, name) of every exception that means "the user gave something unusable"
_USER_ERRORS = [
    ("ml_core.data", "DataError"), ("ml_core.midi_io", "MidiFileError"),
    ("ml_core.bundle", "BundleError"), ("ml_core.tokenizers", "TokenizerError"),
    ("ml_core.models", "ModelConfigError"), ("ml_core.generation", "GenerationError"),
    ("ml_core.checkpoint", "CheckpointError"), ("ml_core.chain", "InitError"),
]


def _user_error_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [ValueError, OSError, FloatingPointError]
    for module_name, name in _USER_ERRORS:
        module = sys.modules.get(module_name)
        if module is None:   # never imported, so it raised nothing (importing torch takes seconds)
            continue
        error_type = getattr(module, name, None)
        if isinstance(error_type, type) and issubclass(error_type, BaseException):
            types.append(error_type)
    return tuple(types)


def _one_line(error: BaseException) -> str:
    if isinstance(error, FileNotFoundError) and error.filename:
        return f"no such file or folder: {error.filename}"
    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"{error.filename}: {error.strerror}"
    text = " ".join(str(error).split())
    return text or type(error).__name__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="composer-train", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    prepare = sub.add_parser("prepare", help="tokenize MIDI/notation files into a training dataset")
    prepare.add_argument("sources", nargs="+", metavar="SOURCE",
                         help="a file, a folder (searched recursively) or music21:<query> "
                         "(music21:bach)")
    prepare.add_argument("--tokenizer", required=True,
                         help="tokenizer or frame representation name")
    prepare.add_argument("--opt", action="append", metavar="KEY=VALUE",
                         help="tokenizer option (repeatable)")
    prepare.add_argument("--out", required=True, help="dataset folder to write")
    prepare.add_argument("--val-fraction", type=float, default=0.1,
                         help="share of FILES for validation")
    prepare.add_argument("--val-source", action="append", metavar="SOURCE",
                         help="a given validation (test) split: these files or folders are the "
                         "validation split and SOURCEs all training (repeatable; "
                         "--val-fraction unused)")
    prepare.add_argument("--seed", type=int, default=0)
    prepare.add_argument("--workers", type=int, default=0,
                         help="parallel processes (default: all cores)")
    prepare.add_argument("--transpose", action="store_true",
                         help="add training copies transposed -6..+5")
    prepare.add_argument("--normalize-key", action="store_true",
                         help="move pieces to C major / A minor")
    prepare.add_argument("--augment", action="append", choices=["performance"], default=[],
                         help="performance: replace a share of the training variants by performed "
                              "renditions (dynamics, articulation, onset jitter, tempo changes; "
                              "docs/DYNAMICS.md)")
    prepare.add_argument("--performance-share", type=float, default=0.5,
                         help="with --augment performance: share of training variants performed "
                         "(default 0.5)")
    prepare.add_argument("--limit", type=int, help="use at most N files")
    prepare.add_argument("--score-cache", metavar="DIR",
                         help="the parsed-file cache to read (and add missing files to); "
                         "default <out>/score_cache: another tokenizer re-uses a dataset's "
                         "parsing without writing over its shards")
    prepare.set_defaults(run=commands.prepare)

    train = sub.add_parser("train", help="train a model on a prepared dataset")
    train.add_argument("--data", required=True, help="prepared dataset folder")
    train.add_argument("--model", help="architecture name")
    train.add_argument("--preset", help="a preset: architecture + hyper-parameters + recipe")
    train.add_argument("--hparam", action="append", metavar="KEY=VALUE",
                       help="model hyper-parameter (repeatable)")
    train.add_argument("--out", required=True,
                       help="model name (user models folder) or a folder path")
    train.add_argument("--description", help="one line for the model card")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--optimizer", choices=["adamax", "adam", "adamw", "rmsprop"])
    train.add_argument("--schedule", choices=["constant", "exp-decay"])
    train.add_argument("--decay", type=float, help="learning-rate factor per epoch with exp-decay")
    train.add_argument("--window", type=int, help="input positions per training window")
    train.add_argument("--epoch-fraction", type=float,
                       help="share of all windows that makes an epoch")
    train.add_argument("--loss",
                       choices=["ce", "weighted-ce", "focal", "last-n", "bce"], default="ce")
    train.add_argument("--last-n", type=int, default=1)
    train.add_argument("--focal-gamma", type=float, default=2.0)
    train.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    train.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                       help="auto: time a few steps in fp32 and, where the CPU (AMX, AVX-512 BF16) "
                       "or GPU "
                            "multiplies bf16 natively, in bf16 autocast, and train in the faster; "
                            "weights, "
                            "loss and optimizer state stay fp32")
    train.add_argument("--compile", default="auto", choices=["auto", "on", "off"],
                       help="torch.compile the training step (auto: on a GPU, and on a CPU for "
                       "runs "
                            "of 3000+ steps); falls back to eager mode if compiling fails")
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--patience", type=int, help="stop after N epochs without improvement")
    train.add_argument("--checkpoint-every", type=int, default=100, metavar="N")
    train.add_argument("--max-steps", type=int)
    train.add_argument("--num-workers", type=int, default=0, help="threads preparing batches ahead")
    train.add_argument("--threads", type=int, metavar="N",
                       help="CPU threads for the model (default: all cores; fewer leaves room for "
                       "other work)")
    train.add_argument("--balance", default="none", choices=["none", "collections"],
                       help="collections: each collection of the dataset gets an equal share of "
                       "the windows")
    train.add_argument("--balance-weights", metavar="NAME=W,...",
                       help="share per collection (unnamed: 1, 0 leaves one out); implies "
                       "--balance")
    train.add_argument("--infill-rate", type=float, default=0.0, metavar="R",
                       help="share of windows trained as bar infilling (REMI; lets `generate "
                       "--fill-bars` work)")
    train.add_argument("--init-from", metavar="BUNDLE",
                       help="start from this bundle's weights (fresh optimizer, short warm-up); "
                       "the model may "
                            "grow its vocabulary, ff_size or layers; alone it also takes the "
                            "bundle's recipe")
    train.add_argument("--warmup-steps", type=int, metavar="N",
                       help="linear learning-rate warm-up (default: 200 steps with --init-from, "
                       "else none)")
    train.set_defaults(run=commands.train)

    evaluate = sub.add_parser("evaluate",
                              help="test NLL, accuracy, F1, grammar errors, sample statistics")
    evaluate.add_argument("model", metavar="MODEL", help="bundle name or folder")
    evaluate.add_argument("--data", required=True,
                          help="prepared dataset folder (its validation split)")
    evaluate.add_argument("--json", action="store_true")
    evaluate.add_argument("--samples", type=int, default=4)
    evaluate.add_argument("--sample-tokens", type=int, default=128)
    evaluate.add_argument("--window", type=int, default=256)
    evaluate.add_argument("--max-windows", type=int, default=256)
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    evaluate.set_defaults(run=commands.evaluate)

    generate = sub.add_parser("generate", help="continue a MIDI prompt (headless Continue)")
    generate.add_argument("--prompt", required=True, help="MIDI or notation file")
    generate.add_argument("--bars", metavar="N",
                          help="bars to continue (default 8); with --add-part, A:B: the new "
                          "part's bars (1-based, B excluded; default the whole piece)")
    generate.add_argument("--out", required=True,
                          help="output .mid (out-1.mid ... with variations)")
    generate.add_argument("--model", help="a bundle name or folder (default: the app's "
                          "default model, default-next)")
    generate.add_argument("--temperature", type=float, default=1.0)
    generate.add_argument("--top-k", type=int, default=0)
    generate.add_argument("--top-p", type=float, default=0.95,
                          help="nucleus sampling, 1 = off (default 0.95)")
    generate.add_argument("--variations", type=int, default=1)
    generate.add_argument("--seed", type=int)
    generate.add_argument("--stay-in-key", action="store_true")
    generate.add_argument("--key", help='e.g. "D minor" (implies --stay-in-key)')
    generate.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    generate.add_argument("--json", action="store_true")
    generate.add_argument("--fill-bars", metavar="A:B",
                          help="regenerate bars A..B-1 of the prompt (1-based, B exclusive) "
                          "instead of continuing; with --track N, only that track's, given the "
                          "others (a model with the remi_tracks tokenizer)")
    generate.add_argument("--texture", default="auto",
                          help="new bars' notes per onset: auto (follow the prompt), any, 1-4")
    generate.add_argument("--density", default="auto",
                          help="onsets per beat: auto, any or a number (2 = eighths in 4/4)")
    generate.add_argument("--register", default="auto",
                          help="median pitch of new bars: auto, any, a MIDI number or C5")
    generate.add_argument("--motif", choices=MOTIF_MODES, default=DEFAULT_MOTIF,
                          help="lean on the prompt's own rhythms, figures and bass: repeat, "
                          "develop (the default) or free (the model alone); REMI models")
    generate.add_argument("--tracks", choices=("active", "all"),
                          help="continue every pitched track, each as itself (all: the default "
                          "for a multi-track prompt) or only --track (active: the default when "
                          "--track is given)")
    generate.add_argument("--track", type=int, metavar="N",
                          help="the active track (from 0): continued from its own end (with "
                          "--fill-bars: the track whose bars are rewritten)")
    generate.add_argument("--add-part", metavar="ROLE",
                          choices=("melody", "counter", "harmony", "bass", "drums"),
                          help="write a new track playing ROLE (melody, counter, harmony, bass, "
                          "drums) given the others (a model with the remi_tracks tokenizer)")
    generate.add_argument("--program", type=int, metavar="P",
                          help="with --add-part: the new track's General MIDI program (0-127)")
    generate.add_argument("--voicing", type=float, default=1.0, metavar="S",
                          help="with --tracks, --add-part or --fill-bars --track and a model "
                          "that knows tracks: the strength of the voice leading against the "
                          "other parts (parts kept in order, consonant on beats, in their "
                          "register and rate); 0 = off, 1 = default")
    generate.set_defaults(run=commands.generate)

    export = sub.add_parser("export", help="copy a model bundle under a new name, weights in "
                            "fp32, bf16 or fp16")
    export.add_argument("model", metavar="MODEL", help="bundle name or folder")
    export.add_argument("--out", required=True, help="bundle folder to write")
    export.add_argument("--name", help="the new bundle's name (default: the folder's name)")
    export.add_argument("--description", help="a new description for its model card")
    export.add_argument("--weights", default="fp32", choices=["fp32", "bf16", "fp16"],
                        help="how to store the weights (bf16/fp16: half the size; loading gives "
                        "fp32)")
    export.set_defaults(run=commands.export)

    listing = sub.add_parser("models", help="list bundled and user model bundles")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=commands.models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with terminate_as_interrupt():
            return args.run(args)
    except KeyboardInterrupt:
        commands.eprint("error: interrupted")
        return 130
    except Exception as error:
        training = sys.modules.get("ml_core.training")
        if training is not None and isinstance(error, training.TrainingInterrupted):
            commands.eprint(f"error: {error}")
            return 130
        if isinstance(error, _user_error_types()):
            commands.eprint(f"error: {_one_line(error)}")
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
