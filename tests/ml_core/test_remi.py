"""REMI specifics: positions per bar follow the meter, meter/tempo changes, chord tokens,
decoder robustness (consecutive and trailing bars, prefixes cut mid-note)."""

from __future__ import annotations

import numpy as np
import pytest

from ml_core.music import Note, Score, TempoChange, TimeSignatureChange, Track
from ml_core.tokenizers import TokenizerError, get_tokenizer
from ml_core.tokenizers.remi import RemiTokenizer


def remi(**config) -> RemiTokenizer:
    """A REMI tokenizer without control tokens (these tests pin the plain layout; the
    controls and infilling tokens have tests/ml_core/test_remi_controls.py)."""
    config.setdefault("use_controls", False)
    tokenizer = get_tokenizer("remi", **config)
    assert isinstance(tokenizer, RemiTokenizer)
    return tokenizer


def ids_of(tokenizer: RemiTokenizer, text: str) -> list[int]:
    return [tokenizer.vocab[token] for token in text.split()]


def allowed_positions(tokenizer: RemiTokenizer, text: str) -> list[int]:
    grammar = tokenizer.grammar()
    state = grammar.start()
    for token in ids_of(tokenizer, text):
        state = grammar.advance(state, token)
    mask = grammar.allowed(state)
    return [int(s.split("_")[1]) for s in tokenizer.tokens_to_strings(np.flatnonzero(mask).tolist())
            if s.startswith("Position_")]


@pytest.mark.parametrize(("meter", "resolution", "positions"), [
    ((4, 4), 4, 16), ((3, 4), 4, 12), ((6, 8), 4, 12), ((7, 8), 4, 14), ((5, 4), 4, 20),
    ((12, 8), 4, 24), ((2, 2), 4, 16), ((3, 4), 12, 36), ((7, 8), 12, 42),
])
def test_positions_per_bar_follow_the_meter(meter, resolution, positions) -> None:
    tokenizer = remi(beat_resolution=resolution)
    opening = f"BOS Bar TimeSig_{meter[0]}_{meter[1]}"
    assert allowed_positions(tokenizer, opening) == list(range(positions))
    # The next bar starts exactly one bar later.
    grammar, state = tokenizer.grammar(), tokenizer.grammar().start()
    for token in ids_of(tokenizer, opening + " Bar"):
        state = grammar.advance(state, token)
    assert state.tick == meter[0] * 1920 // meter[1]


def test_positions_only_move_forward_within_a_bar() -> None:
    tokenizer = remi()
    after_note = "BOS Bar TimeSig_4_4 Position_4 Pitch_60 Velocity_79 Duration_2"
    assert allowed_positions(tokenizer, after_note) == list(range(5, 16))
    mask = tokenizer.grammar().allowed(tokenizer.grammar().start())
    assert np.flatnonzero(mask).tolist() == [tokenizer.vocab["BOS"]]


def test_first_bar_requires_a_time_signature() -> None:
    tokenizer = remi()
    grammar = tokenizer.grammar()
    state = grammar.start()
    for token in ids_of(tokenizer, "BOS Bar"):
        state = grammar.advance(state, token)
    allowed = tokenizer.tokens_to_strings(np.flatnonzero(grammar.allowed(state)).tolist())
    assert allowed and all(s.startswith("TimeSig_") for s in allowed)


def test_encoding_reads_as_remi_and_carries_meter_and_tempo() -> None:
    tokenizer = remi()
    score = Score([Track("p", 0, False, [Note(60, 0, 480, 79), Note(64, 480 * 3 + 120, 240, 103)])],
                  tempo_bpm=100, time_signature=(3, 4))
    tokens = tokenizer.tokens_to_strings(tokenizer.encode(score))
    assert tokens == ["BOS", "Bar", "TimeSig_3_4", "Position_0", "Tempo_100", "Pitch_60",
                      "Velocity_79",
                      "Duration_4", "Bar", "Position_1", "Pitch_64", "Velocity_103", "Duration_2"]


def test_time_signature_and_tempo_changes_are_preserved() -> None:
    tokenizer = remi()
    score = Score([Track("p", 0, False, [Note(60, i * 480, 480, 79) for i in range(12)])],
                  tempo_bpm=120, time_signature=(4, 4),
                  tempo_changes=[TempoChange(1920 + 960, 80)],
                  time_signature_changes=[TimeSignatureChange(1920, 7, 8),
                                          TimeSignatureChange(1920 + 1680, 5, 4)])
    tokens = tokenizer.tokens_to_strings(tokenizer.encode(score))
    assert tokens.count("TimeSig_7_8") == 1 and tokens.count("TimeSig_5_4") == 1
    decoded = tokenizer.decode(tokenizer.encode(score))
    assert decoded.time_signature == (4, 4)
    assert [(c.tick, c.numerator, c.denominator) for c in decoded.time_signature_changes] == [
        (1920, 7, 8), (3600, 5, 4)]
    assert decoded.tempo_bpm == 120
    assert [(c.tick, c.bpm) for c in decoded.tempo_changes] == [(2880, 79.0)]
    assert [n.start for n in decoded.tracks[0].notes] == [i * 480 for i in range(12)]


def test_meter_change_inside_a_bar_waits_for_the_next_bar_line() -> None:
    tokenizer = remi()
    score = Score([Track("p", 0, False, [Note(60, i * 480, 480, 79) for i in range(8)])],
                  time_signature_changes=[TimeSignatureChange(960, 3, 4)])
    decoded = tokenizer.decode(tokenizer.encode(score))
    assert [(c.tick, c.numerator) for c in decoded.time_signature_changes] == [(1920, 3)]
    assert [n.start for n in decoded.tracks[0].notes] == [i * 480 for i in range(8)]


def test_unsupported_meter_is_refused_clearly() -> None:
    score = Score([Track("p", 0, False, [Note(60, 0, 480)])], time_signature=(9, 4))
    with pytest.raises(TokenizerError, match="9/4 is not supported.*up to 8 quarters"):
        remi(max_bar_quarters=8).encode(score)
    long_bars = remi(max_bar_quarters=9)
    assert long_bars.decode(long_bars.encode(score)).time_signature == (9, 4)


@pytest.mark.parametrize("meter", [(9, 4), (5, 2), (4, 1), (15, 8), (12, 8)])
def test_bars_up_to_16_quarters_round_trip(meter) -> None:
    tokenizer = remi()
    length = 480 * 4 * meter[0] // meter[1]
    notes = [Note(60 + i % 5, i * 240, 240) for i in range(2 * length // 240)]
    score = Score([Track("p", 0, False, notes)], time_signature=meter)
    decoded = tokenizer.decode(tokenizer.encode(score))
    assert decoded.time_signature == meter
    assert ([(n.pitch, n.start) for n in decoded.tracks[0].notes] == [(n.pitch, n.start)
                                                                      for n in notes])


def test_stored_configs_keep_bars_of_8_quarters_and_their_vocabulary() -> None:
    stored = RemiTokenizer.from_dict({"name": "remi", "config": {"beat_resolution": 4}})
    assert stored.config.max_bar_quarters == 8
    explicit = remi(max_bar_quarters=8)
    assert "TimeSig_4_1" not in explicit.vocab and "Position_32" not in explicit.vocab
    assert "TimeSig_9_4" not in explicit.vocab
    wide = remi()
    assert {"TimeSig_9_4", "TimeSig_5_2", "TimeSig_4_1", "Position_63"} <= set(wide.vocab.tokens)
    import json

    from resources import MODELS_DIR

    card = json.loads((MODELS_DIR / "default" / "config.json").read_text())
    shipped = RemiTokenizer.from_dict(card["tokenizer"])
    assert shipped.vocab_size == card["hparams"]["vocab_size"]   # the shipped default's, unchanged


def test_chord_tokens_name_simultaneous_onsets_and_decode_ignores_them() -> None:
    tokenizer = remi(use_chords=True)
    notes = [Note(p, 0, 960, 79) for p in (48, 52, 55)] + [Note(p, 960, 960, 79)
                                                           for p in (50, 53, 57)] \
        + [Note(p, 1920, 480, 79) for p in (55, 59, 62, 65)] + [Note(72, 2400, 480, 79)]
    score = Score([Track("p", 0, False, notes)])
    ids = tokenizer.encode(score)
    chords = [s for s in tokenizer.tokens_to_strings(ids) if s.startswith("Chord_")]
    assert chords == ["Chord_C_maj", "Chord_D_min", "Chord_G_7"]
    assert tokenizer.decode(ids).tracks[0].notes == sorted(notes)


def test_consecutive_bars_are_empty_bars_and_a_trailing_bar_is_harmless() -> None:
    tokenizer = remi()
    ids = ids_of(tokenizer,
                 "BOS Bar TimeSig_4_4 Bar Bar Position_2 Pitch_60 Velocity_79 Duration_4 Bar Bar")
    assert tokenizer.validate(ids) == 0
    decoded = tokenizer.decode(ids)
    assert decoded.tracks[0].notes == [Note(60, 2 * 1920 + 240, 480, 79)]
    # Empty bars survive the encoding through end_tick.
    again = tokenizer.encode(decoded, end_tick=5 * 1920)
    assert tokenizer.tokens_to_strings(again).count("Bar") == 5


def test_prefix_cut_mid_note_decodes_the_complete_notes() -> None:
    tokenizer = remi()
    notes = [Note(60 + i, i * 240, 240, 79) for i in range(10)]
    ids = tokenizer.encode(Score([Track("p", 0, False, notes)]))
    for cut in range(len(ids) + 1):
        decoded = tokenizer.decode(ids[:cut]).tracks[0].notes
        assert decoded == notes[:len(decoded)]
    # Cut right after a Pitch and after a Velocity: that note is left out.
    pitch_at = tokenizer.tokens_to_strings(ids).index("Pitch_63")
    assert len(tokenizer.decode(ids[:pitch_at + 1]).tracks[0].notes) == 3
    assert len(tokenizer.decode(ids[:pitch_at + 2]).tracks[0].notes) == 3
    assert len(tokenizer.decode(ids[:pitch_at + 3]).tracks[0].notes) == 4


def test_eos_is_optional_and_final() -> None:
    tokenizer = remi()
    score = Score([Track("p", 0, False, [Note(60, 0, 480)])])
    ids = tokenizer.encode(score, eos=True)
    assert (ids[-1] == tokenizer.vocab["EOS"]
            and tokenizer.encode(score)[-1] != tokenizer.vocab["EOS"])
    assert tokenizer.validate(ids) == 0
    grammar = tokenizer.grammar()
    state = grammar.start()
    for token in ids:
        state = grammar.advance(state, token)
    assert np.flatnonzero(grammar.allowed(state)).tolist() == [tokenizer.vocab["EOS"]]


def test_documented_limits_pitch_range_long_notes_drums_and_resolution() -> None:
    tokenizer = remi()
    score = Score([Track("p", 0, False,
                         [Note(10, 0, 480), Note(60, 0, 20 * 480, 80), Note(62, 490, 250, 80)]),
                   Track("d", 0, True, [Note(36, 0, 120)])])
    notes = tokenizer.decode(tokenizer.encode(score)).tracks[0].notes
    assert notes == [Note(60, 0, 8 * 480, 79), Note(62, 480, 240, 79)]  # clipped, snapped, binned
    coarse = score.resampled(96)
    assert tokenizer.encode(coarse) == tokenizer.encode(score)


def test_triplets_survive_at_resolution_12() -> None:
    tokenizer = remi(beat_resolution=12)
    triplets = [Note(60 + i, i * 160, 160, 79) for i in range(6)]
    assert tokenizer.decode(tokenizer.encode(Score([Track("p", 0, False,
                                                          triplets)]))).tracks[0].notes == triplets


def _drifting(tempo: float, drift: float, beats: int = 32) -> Score:
    """A melody with a tempo change on every beat drifting +-`drift` around `tempo`,
    then a real change to two thirds of the tempo at beat 20 (held to the end)."""
    changes = [TempoChange(beat * 480, tempo * (1 + drift * np.sin(beat / 2)))
               for beat in range(1, 20)]
    changes.append(TempoChange(20 * 480, tempo * 2 / 3))
    return Score([Track("p", 0, False,
                        [Note(60 + beat % 7, beat * 480, 480, 80) for beat in range(beats)])],
                 tempo_bpm=tempo, tempo_changes=changes)


def test_rubato_within_the_tolerance_reads_as_one_tempo_and_real_changes_stay() -> None:
    score = _drifting(100, 0.06)
    tolerant, exact = remi(), remi(tempo_tolerance=0.0)
    assert tolerant.config.tempo_tolerance == 0.1
    tempi = [t for t in tolerant.tokens_to_strings(tolerant.encode(score))
             if t.startswith("Tempo_")]
    assert tempi == ["Tempo_100", "Tempo_66"]   # 66.7 BPM, the nearest level
    decoded = tolerant.decode(tolerant.encode(score))
    assert decoded.tempo_bpm == 100 and [(c.tick, c.bpm)
                                         for c in decoded.tempo_changes] == [(9600, 66.0)]
    assert [n.start for n in decoded.tracks[0].notes] == [beat * 480 for beat in range(32)]
    # Without a tolerance every level the drift crosses is written, as before.
    assert sum(t.startswith("Tempo_") for t in exact.tokens_to_strings(exact.encode(score))) > 5


def test_the_tolerance_is_measured_from_the_tempo_last_written() -> None:
    # A slow accelerando of 4% a bar: each step is small, the sum is not.
    score = Score([Track("p", 0, False, [Note(60, bar * 1920, 1920, 80) for bar in range(8)])],
                  tempo_bpm=100,
                  tempo_changes=[TempoChange(bar * 1920, 100 * 1.04 ** bar) for bar in range(1, 8)])
    tokenizer = remi()
    decoded = tokenizer.decode(tokenizer.encode(score))
    written = [decoded.tempo_bpm] + [c.bpm for c in decoded.tempo_changes]
    assert len(written) == 3 and written[0] == 100 and written[-1] > 125
    assert [c.tick for c in decoded.tempo_changes] == [3 * 1920, 6 * 1920]


def test_stored_configs_without_the_key_keep_writing_every_tempo_change() -> None:
    stored = RemiTokenizer.from_dict({"name": "remi", "config": {"use_velocity": False}})
    assert stored.config.tempo_tolerance == 0.0
    assert sum(t.startswith("Tempo_")
               for t in stored.tokens_to_strings(stored.encode(_drifting(100, 0.06)))) > 5
    with pytest.raises(TokenizerError, match="tempo_tolerance"):
        remi(tempo_tolerance=1.5)
