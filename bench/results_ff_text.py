"""The docs/RESULTS.md section of the paper's-own-data runs (issue 44), drawn from their
record (docs/results/ff-piano.json): the paper's table beside ours, the ordering as far as
the runs support it, the learning curves (docs/results/curve-ff-piano.png), the Demise
prompt's motif figures and what differs from the paper's setup.

The section sits between two markers, so `python -m bench.results_ff_piano report` rewrites
it in place and `bench/results.py` keeps it when it regenerates the page.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import results_ff_record as records

START, END = "<!-- ff-piano: start -->", "<!-- ff-piano: end -->"
CURVE = "curve-ff-piano.png"
LABELS = {"transformer": "Transformer (4.3M)", "lstm": "LSTM (4.4M)"}


def _number(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def model_rows(models: dict[str, dict[str, Any]], label: str) -> list[str]:
    rows = []
    for name in records.PRESETS:
        paper, entry = records.PAPER["models"][name], models.get(name)
        if not entry:
            rows.append(f"| {LABELS[name]} | {paper['best_test_nll']} ({paper['best_epoch']}) "
                        f"| not run yet | | | | | |")
            continue
        state = entry["stopped_by"] if entry["stopped_by"] != "in progress" else (
            f"**in progress** ({label})")
        nll = entry.get("best_test_nll")
        ratio = "–" if nll is None else f"{nll / paper['best_test_nll'] - 1:+.1%}"
        rows.append(f"| {LABELS[name]} | {paper['best_test_nll']} ({paper['best_epoch']}) | "
                    f"{_number(nll)} ({entry.get('best_epoch') or '–'}) | {ratio} | "
                    f"{entry.get('epochs_run', 0)} of {entry.get('cap_epochs', '–')} | {state} | "
                    f"{_number(entry.get('bits_per_note'), 2)} | "
                    f"{_number(entry.get('tokens_per_s'), 0)} |")
    return rows


def section(record: dict[str, Any], curve: str | None) -> str:
    """The section's Markdown (between the markers)."""
    lines = [START, "## The LSTM-vs-Transformer table on the paper's own data (issue 44)", ""]
    paper = records.PAPER
    difference = record.get("window_difference") or {}
    if "train_windows" in record:
        lines += ["Data: the paper's own split (`../shared/data/ff-piano`: 214 training and 24 "
                  "test files of Final Fantasy piano arrangements), in its 153-token "
                  "representation (`bar_offset`), read by our MIDI reader; windows of 257 "
                  "tokens counted as the paper counts them (every start, stride 1, within a "
                  "file; shorter files give none).", "",
                  "| split | paper's windows | ours | difference |", "|---|---|---|---|"]
        for name in ("train", "test"):
            lines.append(f"| {name} | {paper[f'{name}_windows']:,} | "
                         f"{record[f'{name}_windows']:,} | {difference.get(name, 0):+.2%} |")
        lines += ["", record.get("window_count_explained") or record.get("window_count_note")
                  or "Both within 2 % of the paper's.", ""]
    models = record.get("models") or {}
    lines += ["| model | paper: best test NLL (epoch) | ours: best test NLL (epoch) | ours vs "
              "paper | epochs run | stopped by | bits / note | training tokens/s |",
              "|---|---|---|---|---|---|---|---|", *model_rows(models, "partial"), ""]
    order = records.ordering(models)
    lines.append("Ordering: " + (f"{order} by best test NLL (the paper: transformer < lstm)."
                                 if order else "not yet: both runs need a test NLL."))
    pilot = (record.get("pilot") or {}).get("models")
    if pilot:
        lines += ["", "A pilot (not the paper's schedule: epochs of 0.05 % of the windows, 3 "
                  "epochs, 32 test windows scored, `python -m bench.results_ff_piano pilot`) "
                  "checked the pipeline and the record:", "",
                  "| model | paper | pilot: best test NLL (epoch) | vs paper | epochs | stopped "
                  "by | bits / note | training tokens/s |", "|---|---|---|---|---|---|---|---|",
                  *model_rows(pilot, "pilot")]
        lines += pilot_ordering(pilot)
    speed = record.get("speed") or {}
    if speed:
        first = next(iter(speed.values()))
        lines += ["", f"Speed of a training step at 1 thread (`python -m bench.results_ff_piano "
                  f"speed`, {first['machine']}, load average {first['load_average']:.0f} on its "
                  f"2 cores: the CPU-time rate is nearer what a core of its own would give; "
                  f"both vary with the other work on the machine, see the pilot's rates above) "
                  f"and the wall time of the schedule at that rate:", ""]
        lines += [f"- {LABELS[name]}: {entry['cpu_tokens_per_s']:,.0f} training tokens per "
                  f"CPU-second ({entry['tokens_per_s']:,.0f} by the wall clock; "
                  f"{entry['precision']}), {entry['steps_per_epoch']:,} steps an epoch: "
                  f"{entry['epoch_hours']:.1f} h an epoch, {entry['paper_best_epoch_hours']:.0f} h "
                  f"to the paper's best epoch, {entry['cap_hours']:.0f} h to the cap of "
                  f"{records.CAP_EPOCHS[name]} epochs" for name, entry in speed.items()]
        lines += ["", "Run or resume each (one thread each, side by side; a kill saves a "
                  "checkpoint, and the same command continues it):", "", "```",
                  *[f"OMP_NUM_THREADS=1 nohup nice -n 15 .venv/bin/python -m "
                    f"bench.results_ff_piano train --model {name} --resume "
                    f"> ../data/logs/ff-piano-{name}.log 2>&1 &" for name in records.PRESETS],
                  ".venv/bin/python -m bench.results_ff_piano report   # this section", "```",
                  "", "On a lent GPU machine (no `../shared` there: the prepared tokens, 3 MB, "
                  "travel as an ignored folder of the checkout, and `prepare` reuses them):",
                  "", "```",
                  "mkdir -p data/ff-piano-prep && cp -r ../data/ff-piano-prep/bar_offset "
                  "data/ff-piano-prep/",
                  "# device run, carry [\"data/ff-piano-prep/bar_offset\"]:",
                  "python3 -m bench.results_ff_piano train --model both --device cuda "
                  "--work-dir data/ff-piano-prep; cp docs/results/ff-piano.json $OUT/",
                  "```"]
    if curve:
        lines += ["", f"![test NLL per epoch on the paper's data](results/{curve})"]
    lines += demise_lines(record.get("demise"))
    lines += ["", "What differs from the paper:",
              "- the paper loaded the MIDI files with muspy (ticks rounded to sixteenths with "
              "Python's round-half-to-even, bar lines from muspy's `infer_barlines`); we read "
              "them ourselves (`ml_core.midi_io`, half-up rounding, bar lines from the files' "
              "meters); both streams open with one `Bar` token (the paper's window count "
              "says its did);",
              "- the paper scored random test windows after each epoch (35 % of the test "
              "batches of 256, its repository's README); we score every test token once "
              "(windows tiling each test file);",
              "- the LSTM's rate decays x0.8 an epoch to 5e-5, as the paper's text says; its "
              "code floors the factor at 5e-5 (a rate of 2.5e-8), so from epoch 11 on its rate "
              "went lower than ours; no gradient clipping in either (`--grad-clip`);",
              "- the paper drew each epoch's windows without replacement from a shuffled "
              "loader; ours are drawn at random with replacement (seeded per step);",
              "- the paper trained on a GTX 960; ours run on a CPU at 1 thread.", END]
    return "\n".join(lines)


def pilot_ordering(pilot: dict[str, dict[str, Any]]) -> list[str]:
    """Which model the pilot found lower at each epoch both reached (the same training
    tokens): a pilot's hint, not the table's ordering."""
    curves = [pilot.get(name, {}).get("curve") or [] for name in records.PRESETS]
    shared = min(len(curve) for curve in curves)
    if not shared:
        return []
    lower = {min(records.PRESETS, key=lambda name: pilot[name]["curve"][index]["test_nll"])
             for index in range(shared)}
    if len(lower) > 1:
        return ["", f"In the pilot neither model was lower at all of its {shared} epochs."]
    return ["", f"In the pilot the {lower.pop()}'s test NLL was the lower at each of the "
            f"{shared} epochs (the same training tokens): a hint only, from "
            f"{curves[0][shared - 1]['tokens_seen']:,} training tokens against the paper's "
            f"millions."]


def demise_lines(demise: dict[str, Any] | None) -> list[str]:
    if not demise:
        return []
    lines = ["", f"The paper's conditioning prompt (the first 256 tokens of "
             f"`FF10-2PC_09_Demise`), continued by 768 tokens; the motif figures "
             f"(`ml_core.motif`) of the {demise.get('bars', 8)} bars after the prompt's last "
             f"bar line ({demise.get('source', '')}):", "",
             "| continuation | rhythm reuse | figure reuse | bass kept | bass offset | notes |",
             "|---|---|---|---|---|---|"]
    for label, values in demise.get("rows", {}).items():
        lines.append(f"| {label} | {_number(values.get('rhythm_reuse'), 2)} | "
                     f"{_number(values.get('figure_reuse'), 2)} | "
                     f"{_number(values.get('bass_kept'), 2)} | "
                     f"{_number(values.get('bass_offset'), 1)} | "
                     f"{_number(values.get('new_notes'), 0)} |")
    return lines


def draw_curves(record: dict[str, Any], folder: Path) -> str | None:
    """Test NLL against training tokens for each run (the pilot's where no run has a curve),
    the paper's best as dashed lines: the picture's file name, or None with no curve."""
    from bench.results_plots import draw_learning_curves

    models = record.get("models") or {}
    source, suffix = models, ""
    if not any(entry.get("curve") for entry in models.values()):
        source, suffix = (record.get("pilot") or {}).get("models") or {}, " (pilot)"
    curves = {LABELS[name] + suffix: entry["curve"] for name, entry in source.items()
              if entry.get("curve")}
    if not curves:
        return None
    paper = {LABELS[name] + suffix: records.PAPER["models"][name]["best_test_nll"]
             for name in source}
    draw_learning_curves(curves, folder / CURVE, "LSTM vs Transformer on the paper's own data",
                         paper, y="test_nll", y_label="test NLL (nats/token)")
    return CURVE


def insert_section(page: Path, text: str) -> None:
    """Replace the section between the markers in `page`, or append it."""
    from ml_core.files import atomic_write_text

    current = page.read_text(encoding="utf-8") if page.is_file() else ""
    if START in current and END in current:
        before, rest = current.split(START, 1)
        current = before + text + rest.split(END, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + text + "\n"
    atomic_write_text(page, current)


def keep_section(page: Path, record_path: Path) -> None:
    """After the study regenerates `page`: put the section back (drawn from the record)."""
    record = records.read_record(record_path)
    if record:
        curve = CURVE if (record_path.parent / CURVE).is_file() else None
        insert_section(page, section(record, curve))


def write_report(record: dict[str, Any], out: Path,
                 say: Callable[[str], None]) -> dict[str, Any]:
    if not record:
        raise ValueError("no record yet: run `python -m bench.results_ff_piano prepare` first")
    curve = draw_curves(record, out / "results")
    insert_section(out / "RESULTS.md", section(record, curve))
    say(f"wrote the section of {out / 'RESULTS.md'}" + (f" and {out / 'results' / curve}"
                                                        if curve else ""))
    return {"ordering": records.ordering(record.get("models") or {}), "curve": curve}
