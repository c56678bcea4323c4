"""ml_core.motif: the figures of issue 41 on hand-made scores, and the Motif bias."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from ml_core.generation import GenerationError, GenerationOptions, continue_score, target_tick
from ml_core.motif import MotifBias, bars_of, figures, motif_figures, onset_groups, top_line
from ml_core.music import Note, Score, Track
from ml_core.tokenizers.remi import RemiConfig, RemiTokenizer
from ml_core.tokenizers.remi_tracks import RemiTracksConfig, RemiTracksTokenizer

Q = 480          # ticks per quarter
BAR = 4 * Q      # 4/4


def score_of(notes: list[Note]) -> Score:
    return Score([Track("t", 0, False, sorted(notes))], 120.0, (4, 4), Q)


def line(pitches: list[int], start: int, step: int = Q) -> list[Note]:
    return [Note(p, start + i * step, step) for i, p in enumerate(pitches)]


def test_onsets_a_few_milliseconds_apart_are_one_onset() -> None:
    # At 120 BPM a quarter is 0.5 s: 20 ticks ~ 21 ms (a chord played in), 100 ticks ~ 104 ms.
    played_chord = [Note(60, 0, Q), Note(64, 20, Q), Note(67, 30, Q)]
    score = score_of(played_chord)
    assert len(onset_groups(played_chord, score)) == 1
    apart = [Note(60, 0, Q), Note(64, 100, Q)]
    assert len(onset_groups(apart, score)) == 2


def test_top_line_and_figures() -> None:
    notes = [Note(48, 0, Q), Note(64, 0, Q), Note(67, Q, Q), Note(50, 2 * Q, Q), Note(65, 2 * Q, Q)]
    score = score_of(notes)
    assert top_line(notes, score) == [64, 67, 65]
    assert figures([60, 62, 64, 65, 67]) == [(2, 2, 1), (2, 1, 2)]
    assert figures([60, 62]) == []


def test_bars_hold_grid_positions_and_pitches() -> None:
    notes = line([60, 62, 64, 65], 0) + [Note(67, BAR + Q // 2, Q)]
    bars = bars_of(notes, score_of(notes), 0, 2 * BAR)
    assert [b.rhythm for b in bars] == [(16, (0, 4, 8, 12)), (16, (2,))]
    assert bars[0].onsets[1] == (4, (62,)) and bars[1].lowest == 67


def test_rhythm_reuse_and_verbatim_repeats() -> None:
    prompt = line([60, 62, 64, 65], 0) + line([67, 65, 64, 62, 60, 62, 64, 62], BAR, Q // 2)
    new = (line([62, 64, 65, 67], 2 * BAR)            # bar 0's rhythm, other pitches
           + line([60, 62, 64, 65], 3 * BAR)          # bar 0 note for note
           + line([60, 67], 4 * BAR, 2 * Q))          # half notes: a rhythm of its own
    score = score_of(prompt + new)
    result = motif_figures(prompt, new, score, 2 * BAR, 5 * BAR)
    assert result["rhythm_reuse"] == pytest.approx(2 / 3)
    assert result["verbatim_share"] == pytest.approx(1 / 3)


def test_figure_reuse_counts_transposed_figures() -> None:
    prompt = line([60, 62, 64, 65, 67, 65, 64, 62], 0)
    transposed = line([62, 64, 66, 67], 2 * BAR)          # (2, 2, 1): a figure of the prompt
    score = score_of(prompt + transposed)
    assert motif_figures(prompt, transposed, score, 2 * BAR, 3 * BAR)["figure_reuse"] == 1.0
    leaps = line([60, 67, 55, 72], 2 * BAR)
    assert (motif_figures(prompt, leaps, score_of(prompt + leaps), 2 * BAR,
                          3 * BAR)["figure_reuse"] == 0.0)


def test_bass_kept_only_for_polyphonic_prompts() -> None:
    melody = line([72, 74, 76, 77], 0)
    prompt = melody + [Note(48, 0, 2 * Q), Note(48, 2 * Q, 2 * Q)]
    near = line([72, 71, 72, 74], BAR) + [Note(52, BAR, 2 * Q)]
    far = line([72, 71, 72, 74], BAR) + [Note(36, BAR, 2 * Q)]
    assert motif_figures(prompt, near, score_of(prompt + near), BAR, 2 * BAR)["bass_kept"] == 1.0
    assert motif_figures(prompt, far, score_of(prompt + far), BAR, 2 * BAR)["bass_kept"] == 0.0
    single = motif_figures(melody, near, score_of(melody + near), BAR, 2 * BAR)["bass_kept"]
    assert math.isnan(single)


def _tokens(tokenizer: RemiTokenizer, names: list[str]) -> list[int]:
    return [tokenizer.vocab[name] for name in names]


@pytest.mark.parametrize("make", [
    lambda: RemiTokenizer(RemiConfig(use_velocity=False)),
    lambda: RemiTracksTokenizer(RemiTracksConfig(use_velocity=False))], ids=["remi", "remi_tracks"])
def test_the_bias_favours_the_model_bars_rhythm_and_figure(make: Callable) -> None:
    tokenizer = make()
    # A one-bar prompt: C D E on beats 1, 2 and 4 (positions 0, 4, 12).
    prompt = score_of([Note(60, 0, Q), Note(62, Q, Q), Note(64, 3 * Q, Q)])
    bias = MotifBias.for_prompt(tokenizer, prompt, "repeat", 1, (0, "major"))
    assert bias is not None
    assert MotifBias.for_prompt(tokenizer, prompt, "free", 1, None) is None
    grammar = tokenizer.grammar()
    state = grammar.start()
    for token in tokenizer.encode(prompt):
        state = grammar.advance(state, token)
    def take(name: str) -> None:
        nonlocal state
        token = tokenizer.vocab[name]
        state = grammar.advance(state, token)
        bias.advance([token], [state], [False])

    for name in ("Bar", "Texture_1", "Density_2", "Register_2"):
        take(name)
    added = bias.logits([state], [False])[0]
    assert added[tokenizer.vocab["Position_0"]] > 0 and added[tokenizer.vocab["Position_4"]] == 0
    take("Position_0")
    take("Pitch_65")   # the figure moved up a fourth: the next note continues it (+2: G)
    take("Duration_4")
    added = bias.logits([state], [False])[0]
    assert added[tokenizer.vocab["Position_4"]] > 0
    take("Position_4")
    added = bias.logits([state], [False])[0]
    assert int(np.argmax(added)) == tokenizer.vocab["Pitch_67"]


def test_adjust_moves_probability_within_each_groups_allowed_tokens(monkeypatch) -> None:
    # adjust() reads each group's allowed ids; written out over the whole vocabulary
    # (boolean masks) it gives the very same logits, and each group keeps its mass
    tokenizer = RemiTokenizer(RemiConfig(use_velocity=False))
    prompt = score_of([Note(60, 0, Q), Note(62, Q, Q), Note(64, 3 * Q, Q)])
    bias = MotifBias.for_prompt(tokenizer, prompt, "repeat", 3, (0, "major"))
    rng = np.random.default_rng(2)
    vocab = tokenizer.vocab_size
    for case in range(20):
        added = np.where(rng.random((3, vocab)) < 0.05, rng.normal(0, 4, (3, vocab)), 0.0)
        added = added.astype(np.float32)
        added[case % 3] = 0.0                                   # a row left alone
        move_on = rng.choice([0.0, 4.0, -4.0], 3).astype(np.float32) * (case % 2)
        monkeypatch.setattr(bias, "logits", lambda states, finished, a=added, m=move_on:
                            (setattr(bias, "_move_on", m), a)[1])
        logits = rng.normal(0, 2, (3, vocab)).astype(np.float32)
        masks = rng.random((3, vocab)) < 0.6
        out = bias.adjust(logits, [None] * 3, [False] * 3, masks)
        expected = logits.copy()
        expected[:, bias.move_ids] += move_on[:, None]
        for group in (bias.pitch_ids, bias.move_ids):
            for r in range(3):
                members = group & masks[r]
                if not added[r, group].any() or not members.any():
                    continue
                before = np.logaddexp.reduce(expected[r, members].astype(np.float64))
                expected[r, members] += added[r, members]
                after = np.logaddexp.reduce(expected[r, members].astype(np.float64))
                expected[r, members] -= np.float32(after - before)
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)
        if not move_on.any():
            mass = [np.logaddexp.reduce(x[r, bias.pitch_ids & masks[r]].astype(np.float64))
                    for x in (logits, out) for r in range(3)]
            np.testing.assert_allclose(mass[:3], mass[3:], atol=1e-5)


def test_an_unknown_motif_mode_is_refused() -> None:
    with pytest.raises(GenerationError, match="motif"):
        GenerationOptions(motif="loop").validated()


def test_repeat_reuses_more_of_the_prompts_rhythms_than_free() -> None:
    from ml_core.bundle import load
    from ml_core.midi_io import read_midi
    from ml_core.quality import pitched_notes, prompt_bar_end
    from resources import EXAMPLES_DIR, MODELS_DIR

    bundle = load(MODELS_DIR / "default")
    reuse = {"repeat": [], "free": []}
    for path in sorted(EXAMPLES_DIR.glob("*.mid")):
        prompt = read_midi(path)
        if prompt.ticks_per_quarter != Q:
            prompt = prompt.resampled(Q)
        end = target_tick(prompt, 4)
        for mode in reuse:
            for seed in (0, 1):
                new = (continue_score(bundle, prompt,
                                      GenerationOptions(bars=4, seed=seed,
                                                        motif=mode)).new_notes[0])
                figures_ = motif_figures(pitched_notes(prompt), new, prompt,
                                         prompt_bar_end(prompt), end)
                reuse[mode].append(figures_["rhythm_reuse"])
    assert np.nanmean(reuse["repeat"]) > np.nanmean(reuse["free"]) + 0.15


def test_generate_takes_a_motif_mode(tmp_path) -> None:
    from resources import EXAMPLES_DIR
    from training_cli.__main__ import main

    out = tmp_path / "out.mid"
    prompt = EXAMPLES_DIR / "c_major_4-4.mid"
    assert main(["generate", "--prompt", str(prompt), "--out", str(out), "--bars", "2",
                 "--seed", "0",
                 "--motif", "repeat"]) == 0
    assert out.is_file()
    with pytest.raises(SystemExit):
        main(["generate", "--prompt", str(prompt), "--out", str(out), "--motif", "loop"])


def test_a_chord_played_in_is_one_onset_for_texture_and_density() -> None:
    from ml_core.quality import notes_per_onset, onset_window

    # Four chords, each played in over 30 ticks (31 ms at 120 BPM), across a 16th line.
    played = [Note(p, c * Q + 50 + i * 10, Q) for c in range(4)
              for i, p in enumerate((48, 55, 60, 64))]
    score = score_of(played)
    assert notes_per_onset(played) == 1.0
    assert notes_per_onset(played, onset_window(score, 0)) == 4.0
    tokenizer = RemiTokenizer(RemiConfig(use_velocity=False))
    grid = [Note(p, c * Q, Q) for c in range(4) for p in (48, 55, 60, 64)]
    assert tokenizer.controls_of(score) == tokenizer.controls_of(score_of(grid))


def test_develop_never_moves_a_bars_bass_away_from_the_prompts() -> None:
    """A polyphonic prompt (a low C under E-G, then under F-A): the first note of a new
    bar is favoured only where the moved model bar keeps its bass within BASS_BOUND of the
    prompt's, never unmoved; a bar on every degree of the scale still gets a move."""
    tokenizer = RemiTokenizer(RemiConfig(use_velocity=False))
    chords = [Note(p, beat * Q, Q) for beat in range(4) for p in (48, 64 + beat % 2, 67)]
    bias = MotifBias.for_prompt(tokenizer, score_of(chords), "develop", 1, (0, "major"))
    assert bias is not None and bias.bass == 48
    grammar = tokenizer.grammar()
    state = grammar.start()
    for token in tokenizer.encode(score_of(chords)):
        state = grammar.advance(state, token)
    for name in ("Bar", "Texture_3", "Density_3", "Register_3", "Position_0"):
        state = grammar.advance(state, tokenizer.vocab[name])
        bias.advance([tokenizer.vocab[name]], [state], [False])
    added = bias.logits([state], [False])[0]
    favoured = {tokenizer.values[t] for t in np.flatnonzero(added >= bias.strength.figure)}
    assert favoured and all(abs(p - 48) <= 5 and p != 48 for p in favoured)
    every_degree = [60, 62, 64, 65, 67, 69, 71]
    assert bias._shifts(every_degree, unmoved=True) == [0]
    moves = bias._shifts(every_degree, unmoved=False)
    assert moves and 0 not in moves


def test_density_counts_the_prompt_from_its_first_beat_and_its_end_holds_the_pedal() -> None:
    from ml_core.music import PedalSpan
    from ml_core.quality import continuation_figures, prompt_end

    # An upbeat: two eighths at the end of bar 0, then a bar of quarters (6 notes over 5
    # beats, not 8); the continuation plays 6 notes in its 5 beats.
    upbeat = [Note(67, 3 * Q, Q // 2), Note(69, 3 * Q + Q // 2, Q // 2)]
    prompt = score_of(upbeat + line([72, 71, 69, 67], BAR))
    new = line([65, 64, 62, 60, 62, 64], 2 * BAR, Q * 4 // 6)
    figures = continuation_figures(prompt, new, 3 * BAR)
    assert figures["density_ratio"] == pytest.approx((6 / 4) / (6 / 5))
    pedalled = Score([Track("t", 0, False, line([60, 64, 67], 0), [], [PedalSpan(2 * Q, 6 * Q)])],
                     120.0, (4, 4), Q)
    assert prompt_end(pedalled.tracks[0].notes) == 3 * Q
    assert prompt_end(pedalled.tracks[0].notes, pedalled) == 6 * Q



class _NoTasteModel:
    """A stub token model with no preference but 4/4: the same logits at every step (every
    token allowed there equally likely, other meters never), so what the Motif bias favours
    decides the music."""

    def __init__(self, tokenizer: RemiTokenizer) -> None:
        import torch

        self.preference = torch.zeros(tokenizer.vocab_size)
        for token in range(tokenizer.vocab_size):
            name = tokenizer.vocab.string(token)
            if name.startswith("TimeSig_") and name != "TimeSig_4_4":
                self.preference[token] = -30.0
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def parameters(self):
        return iter([self.weight])

    def to(self, device):
        return self

    def eval(self):
        return self

    def __call__(self, tokens, state):
        return self.preference.expand(tokens.shape[0], tokens.shape[1], -1), state

    def select_state(self, state, rows):
        return state


def _copied_bars_and_rhythm_reuse(mode: str, seeds: range) -> tuple[list[int], float]:
    """(prompt bars copied note for note per continuation, mean rhythm reuse) of 8 bars
    continued by the no-taste stub from a 3-bar C major prompt."""
    from types import SimpleNamespace

    tokenizer = RemiTokenizer(RemiConfig(use_velocity=False))
    stub = SimpleNamespace(model=_NoTasteModel(tokenizer), tokenizer=tokenizer, name="stub",
                           config={})
    notes = line([60, 62, 64, 67], 0) + line([65, 64, 62, 60], BAR) + line([60, 64], 2 * BAR, 2 * Q)
    prompt = score_of(notes)
    copied, rhythms = [], []
    for seed in seeds:
        new = continue_score(stub, prompt, GenerationOptions(bars=8, seed=seed, motif=mode,
                                                             engine="torch")).new_notes[0]
        figures_ = motif_figures(notes, new, score_of(notes + new), 3 * BAR, 11 * BAR)
        played = len([b for b in bars_of(new, prompt, 3 * BAR, 11 * BAR) if b.onsets])
        copied.append(round(figures_["verbatim_share"] * played))
        rhythms.append(figures_["rhythm_reuse"])
    return copied, float(np.nanmean(rhythms))


def test_repeat_restates_the_motif_without_looping_the_prompt_bar_after_bar() -> None:
    """Under "repeat" the bias restates the prompt's bars, but once one new bar has copied
    a prompt bar note for note it favours no unmoved bar any more (a bar that starts unmoved
    keeps its model's rhythm, not its pitches): copies stay rare, the rhythms keep coming."""
    copied, rhythm_reuse = _copied_bars_and_rhythm_reuse("repeat", range(6))
    assert max(copied) <= 1                     # at most the one restatement "repeat" allows
    free_copied, free_rhythm_reuse = _copied_bars_and_rhythm_reuse("free", range(6))
    assert rhythm_reuse >= free_rhythm_reuse + 0.3
