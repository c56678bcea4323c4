"""Bar infilling: `fill` regenerates exactly the span's bars and nothing else; a model
trained without infilling refuses; the training transform builds well-formed examples."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ml_core import objectives
from ml_core.generation import GenerationError, GenerationOptions, fill, fill_score
from ml_core.models import build_model
from ml_core.music import Note, Score, Track, bar_ticks
from ml_core.tokenizers.remi import RemiConfig, RemiTokenizer


class RecordingRemi(RemiTokenizer):
    """REMI that remembers every sequence it decoded."""

    def decode(self, ids):
        self.__dict__.setdefault("seen", []).append(list(ids))
        return super().decode(ids)


def infill_bundle(tokenizer, infill_rate=0.5):
    torch.manual_seed(0)
    model = build_model("transformer", vocab_size=tokenizer.vocab_size, d_model=32, num_layers=2,
                        num_heads=2, ff_size=64, context=256).eval()
    config = {"training": {"objectives": {"infill_rate": infill_rate}}}
    return SimpleNamespace(model=model, tokenizer=tokenizer, name="tiny", config=config)


def piece(meter: tuple[int, int], bars: int = 7) -> Score:
    length = bar_ticks(meter)
    rng = np.random.default_rng(length)
    melody = [Note(int(rng.integers(60, 80)), bar * length + step * 240, 240,
                   int(rng.integers(40, 110)))
              for bar in range(bars) for step in range(length // 240)]
    bass = [Note(36 + bar % 5, bar * length, length, 60) for bar in range(bars)]
    return Score([Track("melody", 0, False, melody), Track("bass", 32, False, bass)],
                 tempo_bpm=90, time_signature=meter)


@pytest.mark.parametrize("meter", [(4, 4), (3, 4), (6, 8)])
def test_fill_changes_only_the_span_and_fills_exactly_its_bars(meter) -> None:
    tokenizer = RecordingRemi(RemiConfig())
    score = piece(meter)
    length = bar_ticks(meter)
    start_bar, end_bar = 2, 5
    span = range(start_bar * length, end_bar * length)
    result = fill_score(infill_bundle(tokenizer), score, start_bar, end_bar,
                        GenerationOptions(seed=4, variations=2))
    assert not result.cancelled and len(result.scores) == 2
    for filled, new in zip(result.scores, result.new_notes, strict=True):
        for before, after in zip(score.tracks, filled.tracks, strict=True):
            outside = [(n.pitch, n.start, n.duration, n.velocity) for n in before.notes
                       if n.start not in span]
            kept = [(n.pitch, n.start, n.duration, n.velocity) for n in after.notes
                    if n.start not in span]
            assert kept == outside
        assert new and all(n.start in span and n.end <= span.stop for n in new)
        assert sorted(n for t in filled.tracks for n in t.notes if n.start in span) == sorted(new)
        assert filled.time_signature == meter and filled.tempo_bpm == score.tempo_bpm
    # The sampled fill has exactly the span's bars: its last decoded form has 3 bar lines,
    # and its state reached the span's end (the next bar line ended it).
    last = tokenizer.seen[-1]
    assert tokenizer.tokens_to_strings(last).count("Bar") == end_bar - start_bar


def test_fill_at_the_start_and_the_end_of_a_piece() -> None:
    score = piece((4, 4), bars=3)
    bundle = infill_bundle(RemiTokenizer())
    for start_bar, end_bar in ((0, 1), (2, 3)):
        result = fill_score(bundle, score, start_bar, end_bar, GenerationOptions(seed=1))
        span = range(start_bar * 1920, end_bar * 1920)
        outside = sorted(n for t in score.tracks for n in t.notes if n.start not in span)
        assert sorted(n for t in result.scores[0].tracks for n in t.notes
                      if n.start not in span) == outside


def test_fill_streams_and_cancels() -> None:
    cancel = threading.Event()
    updates = fill(infill_bundle(RemiTokenizer()), piece((4, 4)), 1, 6,
                   GenerationOptions(seed=2), cancel, update_interval=0.0)
    first = next(updates)
    assert not first.done
    cancel.set()
    last = list(updates)[-1]
    assert last.done and last.cancelled


def test_a_model_trained_without_infilling_refuses_clearly() -> None:
    with pytest.raises(GenerationError, match="not trained to fill"):
        list(fill(infill_bundle(RemiTokenizer(), infill_rate=0.0), piece((4, 4)), 1, 2))
    with pytest.raises(GenerationError, match="not trained to fill"):
        list(fill(infill_bundle(RemiTokenizer(RemiConfig(use_infill=False))), piece((4, 4)), 1, 2))


def test_training_transform_builds_infilling_rows_and_drops_controls() -> None:
    tokenizer = RemiTokenizer()
    transform = objectives.for_training(tokenizer.to_dict(), infill_rate=1.0, control_dropout=0.5)
    ids = np.array(tokenizer.encode(piece((3, 4), bars=24)))
    window = 129
    items = np.stack([ids[i:i + window] for i in (5, 40, 90)])
    valid = np.ones_like(items, dtype=bool)
    out, out_valid, scored = transform(items, valid, np.random.default_rng(0))
    assert out.shape == items.shape and out_valid.all()
    # a control shown as "any" is read, never a target; every other token is a target
    # (this piece has no empty bar, so every "any" here is a dropped control)
    dropped = np.isin(out, [ids[-1] for ids in tokenizer.control_ids.values()])
    assert dropped.any() and np.array_equal(scored, out_valid & ~dropped)
    hole, fill_start, fill_end = tokenizer.infill_ids
    strings = [tokenizer.tokens_to_strings(row.tolist()) for row in out]
    for row in out:
        row = row.tolist()
        assert row.count(hole) == row.count(fill_start) == row.count(fill_end) == 1
        assert row.index(hole) < row.index(fill_start) < row.index(fill_end) == len(row) - 1
        fill_part = row[row.index(fill_start) + 1:-1]
        assert fill_part[0] == tokenizer.bar_id
        # the missing bars are whole bars taken from the window, in order
        assert 1 <= fill_part.count(tokenizer.bar_id) <= objectives.DEFAULT_MAX_FILL_BARS
    assert any(s.endswith("_any") for row in strings for s in row)
    assert transform.describe()["infill_rate"] == 1.0
    assert transform.describe()["dropped_controls_scored"] is False


def test_no_transform_for_old_tokenizers_and_a_clear_error_for_infilling() -> None:
    old = RemiTokenizer(RemiConfig(use_controls=False, use_infill=False))
    assert objectives.for_training(old.to_dict()) is None
    with pytest.raises(ValueError, match="infilling tokens"):
        objectives.for_training(old.to_dict(), infill_rate=0.3)


def test_a_fill_follows_the_bars_on_both_sides_of_it() -> None:
    """Low notes before the span, high notes after it: the forced Register of the new bars
    is the register of both neighbouring bars together (median 62: Register_3), not of
    the bars before alone (Register_0); the span's old notes and far bars do not count."""
    tokenizer = RecordingRemi(RemiConfig())
    length = bar_ticks((4, 4))
    # bar 0: far away
    notes = ([Note(43, step * 480, 480, 80) for step in range(4)]
             # bar 1: before
             + [Note(40, length + step * 480, 480, 80) for step in range(4)]
             # bars 2-3: the span
             + [Note(100, 2 * length + step * 480, 480, 80) for step in range(8)]
             # bar 4: after
             + [Note(84, 4 * length + step * 480, 480, 80) for step in range(4)])
    score = Score([Track("line", 0, False, notes)])
    fill_score(infill_bundle(tokenizer), score, 2, 4, GenerationOptions(seed=1))
    generated = [tokenizer.vocab.string(t) for t in tokenizer.seen[-1]]
    registers = [t for t in generated if t.startswith("Register_")]
    assert registers and set(registers) == {"Register_3"}
    assert set(t for t in generated if t.startswith("Texture_")) == {"Texture_1"}


def test_a_fill_stays_within_the_range_of_the_bars_around_it() -> None:
    """Even a random model fills between two phrases within their pitch range (two bars
    each side), widened by FILL_RANGE_MARGIN semitones."""
    from ml_core.generation import FILL_RANGE_MARGIN

    length = bar_ticks((4, 4))
    notes = [Note(60 + (step % 5), bar * length + step * 480, 480, 80) for bar in range(6)
             for step in range(4)]
    score = Score([Track("line", 0, False, notes)])
    result = fill_score(infill_bundle(RemiTokenizer(RemiConfig())), score, 2, 4,
                        GenerationOptions(seed=2, variations=3))
    for new in result.new_notes:
        assert new and all(60 - FILL_RANGE_MARGIN <= n.pitch <= 64 + FILL_RANGE_MARGIN for n in new)


def test_a_fill_between_bars_with_double_stops_may_have_them_too() -> None:
    """Texture 1 also names a melody with a few double stops (under 1.5 notes an onset):
    followed from such bars, a fill may strike two notes at an onset, never three (as
    Continue); followed from a plain line, or asked for, one."""
    length = bar_ticks((4, 4))
    line = [Note(72 + step % 4, bar * length + step * 480, 480, 80) for bar in range(6)
            for step in range(4)]
    stops = line + [Note(60, bar * length, 480, 80) for bar in range(6)]  # one each bar
    tokenizer = RemiTokenizer(RemiConfig())
    assert tokenizer.controls_of(Score([Track("p", 0, False, stops)])).texture == 1

    def chords(notes: list[Note], texture: int | None = None) -> int:
        together = 0
        for seed in range(4):
            result = fill_score(infill_bundle(tokenizer), Score([Track("p", 0, False, notes)]),
                                2, 4, GenerationOptions(seed=seed, variations=3,
                                                        texture=texture))
            for new in result.new_notes:
                starts = [n.start for n in new]
                together += len(starts) - len(set(starts))
                assert max((starts.count(s) for s in starts), default=0) <= 2
        return together

    assert chords(stops) > 0                 # the untrained model strikes several at once
    assert chords(line) == 0                 # ... but not after a plain line
    assert chords(stops, texture=1) == 0     # ... nor when a single line is asked for


def _keeper_tokenizer():
    names = ["Bar"] + [f"Position_{p}" for p in range(16)] + ["Pitch_60", "Pitch_62", "Dur_1"]
    return SimpleNamespace(vocab=SimpleNamespace(tokens=names), ticks_per_position=120)


def test_the_density_keeper_leans_toward_the_surroundings_pace() -> None:
    """Behind the pace of the bars around a fill, Pitch tokens gain and nearer onsets gain
    over farther ones; ahead of it, the reverse; within the slack, or before the pace asks
    for MIN_NOTES notes, nothing moves. Notes at the current onset count from the next."""
    from ml_core.sampling_rules import DensityKeeper, OnsetTokens

    tokenizer = _keeper_tokenizer()
    names = tokenizer.vocab.tokens
    pitch, near, far = names.index("Pitch_60"), names.index("Position_5"), \
        names.index("Position_12")
    keeper = DensityKeeper(OnsetTokens.for_tokenizer(tokenizer), tokenizer, 2 / 480, 0,
                           rows=3)                                # 2 notes a quarter
    here = SimpleNamespace(tick=4 * 480, position=4, bar_positions=16)   # 8 notes asked
    for row, notes in enumerate((4, 8, 12)):                      # behind, on pace, ahead
        for _ in range(notes):
            keeper.advance([pitch if r == row else names.index("Dur_1") for r in range(3)],
                           [here] * 3, [False] * 3)
    assert keeper.made == [0, 0, 0] and keeper.current == [4, 8, 12]   # all at this onset
    keeper.advance([names.index("Position_4")] * 3, [here] * 3, [False] * 3)
    assert keeper.made == [4, 8, 12] and keeper.current == [0, 0, 0]
    logits = np.zeros((3, len(names)), np.float32)
    masks = np.ones_like(logits, dtype=bool)
    out = keeper.adjust(logits, [here] * 3, [False] * 3, masks)
    assert out[0, pitch] > 0 and out[0, near] > out[0, far]            # behind: more, sooner
    assert np.all(out[1] == 0)                                         # on pace
    assert out[2, pitch] < 0 and out[2, near] < out[2, far]            # ahead: fewer, later
    assert out[0, names.index("Bar")] < out[0, near]                   # Bar: the bar's end
    early = SimpleNamespace(tick=480, position=4, bar_positions=16)    # 2 notes asked
    assert np.all(keeper.adjust(logits, [early] * 3, [False] * 3, masks) == 0)
    assert np.all(keeper.adjust(logits, [here] * 3, [True] * 3, masks) == 0)   # finished


def test_the_density_keeper_reads_the_pace_of_the_bar_each_side() -> None:
    from ml_core.sampling_rules import DensityKeeper

    length = bar_ticks((4, 4))
    before = [Note(60, length + step * 240, 240, 80) for step in range(8)]      # 8 a bar
    span = [Note(60, 2 * length + step * 960, 960, 80) for step in range(2)]    # not read
    after = [Note(60 + k, 3 * length + step * 480, 480, 80) for step in range(4)
             for k in (0, 4)]                                                   # 8 a bar
    far = [Note(60, 5 * length + step * 120, 120, 80) for step in range(16)]    # not read
    score = Score([Track("p", 0, False, before + span + after + far)])
    keeper = DensityKeeper.for_fill(_keeper_tokenizer(), score, 2, 3, rows=2, start_tick=0)
    assert keeper.rate == pytest.approx(16 / (2 * length)) and keeper.made == [0, 0]
    silent = Score([Track("p", 0, False, span)])
    assert DensityKeeper.for_fill(_keeper_tokenizer(), silent, 2, 3, 1, 0) is None


def test_a_fill_keeps_the_pace_of_the_bars_around_it(monkeypatch) -> None:
    """Even an untrained model fills between bars of eight notes nearer their pace with the
    keeper than without it (mean |log(notes / 16)| over 9 takes)."""
    from ml_core.sampling_rules import DensityKeeper

    length = bar_ticks((4, 4))
    notes = [Note(60 + (step % 5), bar * length + step * 240, 240, 80) for bar in range(6)
             for step in range(8)]
    score = Score([Track("line", 0, False, notes)])
    bundle = infill_bundle(RemiTokenizer(RemiConfig()))

    def miss() -> float:
        counts = [len(new) for seed in range(3)
                  for new in fill_score(bundle, score, 2, 4, GenerationOptions(
                      seed=seed, variations=3)).new_notes]
        return float(np.mean([abs(np.log(max(c, 1) / 16)) for c in counts]))

    kept = miss()
    monkeypatch.setattr(DensityKeeper, "STRENGTH", 0.0)
    free = miss()
    assert kept < 0.6 * free, (kept, free)       # measured 0.62 against 1.48


def test_the_pace_is_kept_only_where_density_and_texture_follow() -> None:
    """A density or texture the musician chose (or left to the model) is not pulled back
    toward the surroundings' pace."""
    from ml_core.generation import _fill_plan
    from ml_core.sampling_rules import DensityKeeper

    tokenizer = RemiTokenizer(RemiConfig())
    score = piece((4, 4))

    def keepers(**chosen) -> list:
        plan = _fill_plan(tokenizer, score, 2, 4, GenerationOptions(**chosen))
        return [h for h in plan.motif.hooks if isinstance(h, DensityKeeper)]

    assert len(keepers()) == 1 and keepers()[0].rate > 0
    assert keepers(density=2.0) == [] and keepers(density="any") == []
    assert keepers(texture=1) == []
