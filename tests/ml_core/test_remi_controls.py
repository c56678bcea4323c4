"""REMI attribute controls and infilling tokens: what encode writes per bar, that they
round-trip, that old configs keep working without them, and the masks generation uses."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

from ml_core.music import Note, Score, Track
from ml_core.tokenizers import from_dict, get_tokenizer
from ml_core.tokenizers.remi import RemiTokenizer
from ml_core.tokenizers.remi_controls import (
    ANY,
    BarControls,
    density_bin,
    register_bin,
    texture_bin,
)


def remi(**config) -> RemiTokenizer:
    tokenizer = get_tokenizer("remi", **config)
    assert isinstance(tokenizer, RemiTokenizer)
    return tokenizer


def controls_per_bar(tokenizer: RemiTokenizer, ids: list[int]) -> list[tuple[str, str, str]]:
    strings = tokenizer.tokens_to_strings(ids)
    found = []
    for index, token in enumerate(strings):
        if token.startswith("Texture_"):
            found.append((token, strings[index + 1], strings[index + 2]))
    return found


def test_each_bar_says_its_texture_density_and_register() -> None:
    tokenizer = remi()
    melody = [Note(72 + i % 3, i * 240, 240) for i in range(8)]           # bar 1: eighths, one line
    chords = [Note(p, 1920 + i * 480, 480) for i in range(4) for p in (48, 52, 55)]  # bar 2: triads
    score = Score([Track("p", 0, False, melody + chords)], time_signature=(4, 4))
    ids = tokenizer.encode(score, end_tick=4 * 1920)                    # bars 3-4 empty
    assert controls_per_bar(tokenizer, ids) == [
        ("Texture_1", "Density_3", "Register_4"),    # 2 onsets per beat, median 73
        ("Texture_3", "Density_2", "Register_1"),    # 3 notes per onset, 1 per beat, median 52
        ("Texture_any", "Density_0", "Register_any"),
        ("Texture_any", "Density_0", "Register_any"),
    ]
    strings = tokenizer.tokens_to_strings(ids)
    assert strings[:6] == ["BOS", "Bar", "TimeSig_4_4", "Texture_1", "Density_3", "Register_4"]


@pytest.mark.parametrize("meter", [(4, 4), (3, 4), (6, 8)])
def test_control_tokens_round_trip_and_decode_ignores_them(meter: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(meter))
    notes = sorted({Note(int(rng.integers(40, 90)), int(rng.integers(0, 64)) * 120,
                         int(rng.integers(1, 8)) * 120, 79) for _ in range(60)})
    score = Score([Track("p", 0, False, notes)], time_signature=meter)
    with_controls, plain = remi(), remi(use_controls=False)
    ids = with_controls.encode(score)
    assert with_controls.validate(ids) == 0
    expected = plain.decode(plain.encode(score)).tracks[0].notes
    assert with_controls.decode(ids).tracks[0].notes == expected
    # Decoding and encoding again gives the same tokens, controls included.
    assert with_controls.encode(with_controls.decode(ids)) == ids
    bars = with_controls.tokens_to_strings(ids).count("Bar")
    assert len(controls_per_bar(with_controls, ids)) == bars


def test_bins() -> None:
    assert [texture_bin(x) for x in (1, 1.4, 1.5, 2.6, 3.5, 9)] == [1, 1, 2, 3, 4, 4]
    assert [density_bin(x) for x in (0, 0.5, 1, 2, 3, 4)] == [0, 1, 2, 3, 4, 5]
    assert [register_bin(p) for p in (36, 50, 60, 64, 72, 84)] == [0, 1, 2, 3, 4, 5]


def test_old_configs_without_the_keys_have_no_controls_and_the_old_vocabulary() -> None:
    folder = resources.files("resources") / "models" / "bach-chorales"
    config = json.loads((folder / "config.json").read_text())
    tokenizer = from_dict(config["tokenizer"])
    assert not tokenizer.config.use_controls and not tokenizer.config.use_infill
    assert tokenizer.vocab_size == config["hparams"]["vocab_size"]
    assert not any(s.startswith(("Texture", "Hole")) for s in tokenizer.vocab.tokens)
    # A new tokenizer has them, and its description says so.
    fresh = remi()
    assert fresh.config.use_controls and fresh.config.use_infill
    again = from_dict(fresh.to_dict())
    assert again.vocab.tokens == fresh.vocab.tokens


def test_control_mask_forces_the_chosen_values_for_every_bar() -> None:
    tokenizer = remi()
    grammar = tokenizer.grammar()
    forced = BarControls(texture=1, density=4, register=ANY)
    control_mask = tokenizer.control_mask(forced)
    rng = np.random.default_rng(0)
    state, ids = grammar.start(), []
    for _ in range(1500):
        choices = np.flatnonzero(grammar.allowed(state) & control_mask)
        choices = choices[choices != tokenizer.eos_id] if choices.size > 1 else choices
        token = int(rng.choice(choices))
        ids.append(token)
        state = grammar.advance(state, token)
    found = controls_per_bar(tokenizer, ids)
    assert len(found) == tokenizer.tokens_to_strings(ids).count("Bar") >= 2
    assert set(found) == {("Texture_1", "Density_4", "Register_any")}


def test_controls_of_follow_the_last_bars_with_notes() -> None:
    tokenizer = remi()
    low_chords = [Note(p, i * 960, 960) for i in range(2) for p in (40, 44, 47)]
    high_line = [Note(76 + i % 2, 1920 * 2 + i * 120, 120) for i in range(32)]  # bars 3-4
    score = Score([Track("p", 0, False, low_chords + high_line)])
    assert tokenizer.controls_of(score) == BarControls(texture=1, density=5, register=5)
    assert tokenizer.controls_of(score, end_tick=1920) == BarControls(texture=3, density=1,
                                                                      register=0)
    assert tokenizer.controls_of(Score([Track("p", 0, False, [])])) == BarControls()


def test_a_dotted_line_is_one_line_and_a_played_chord_is_one_onset() -> None:
    """Follow measures texture on the notes' own onsets: a dotted-sixteenth + thirty-second
    figure (the short note shares a grid position with the next note) stays texture 1;
    four-note chords whose notes are up to 20 ticks apart (played in) stay texture 4."""
    tokenizer = remi()
    dotted = [Note(70 + (i % 2), i // 2 * 240 + (i % 2) * 180, 180 if i % 2 == 0 else 60)
              for i in range(32)]
    assert tokenizer.controls_of(Score([Track("p", 0, False, dotted)])).texture == 1
    rng = np.random.default_rng(3)
    played = [Note(p, beat * 480 + int(rng.integers(-10, 11)), 400) for beat in range(1, 16)
              for p in (48, 55, 64, 67)]
    assert tokenizer.controls_of(Score([Track("p", 0, False, played)])).texture == 4


def test_onset_mask_refuses_early_positions_and_sounding_pitches() -> None:
    tokenizer = remi()
    grammar = tokenizer.grammar()
    state = grammar.start()
    for token in tokenizer.encode(Score([Track("p", 0, False,
                                               [Note(60, 0, 960), Note(48, 0, 3840)])])):
        state = grammar.advance(state, token)
    mask = grammar.allowed(state) & tokenizer.onset_mask(state, earliest=960, sounding=[48])
    allowed = tokenizer.tokens_to_strings(np.flatnonzero(mask).tolist())
    # not at the prompt's last onset
    assert "Pitch_60" not in allowed
    assert [s for s in allowed if s.startswith("Position")][0] == "Position_8"
    later = grammar.advance(state, tokenizer.vocab["Position_8"])
    mask = grammar.allowed(later) & tokenizer.onset_mask(later, earliest=960, sounding=[48])
    allowed = tokenizer.tokens_to_strings(np.flatnonzero(mask).tolist())
    assert "Pitch_60" in allowed and "Pitch_48" not in allowed        # the held C3 still rings


def test_infill_tokens_exist_but_the_plain_grammar_never_allows_them() -> None:
    tokenizer = remi()
    assert len(tokenizer.infill_ids) == 3
    grammar = tokenizer.grammar()
    state = grammar.fill_start((6, 8))
    assert tokenizer.tokens_to_strings(np.flatnonzero(grammar.allowed(state)).tolist()) == ["Bar"]
    state = grammar.advance(state, tokenizer.bar_id)
    assert state.tick == 0 and state.bar_positions == 12
    state = grammar.advance(state, tokenizer.vocab["Texture_1"])
    state = grammar.advance(grammar.advance(state, tokenizer.vocab["Density_1"]),
                            tokenizer.vocab["Register_1"])
    state = grammar.advance(state, tokenizer.bar_id)
    assert state.tick == 1440


def test_follow_counts_a_note_in_the_bar_it_is_played_in_and_skips_a_closing_held_bar() -> None:
    tokenizer = remi()
    line = [Note(72 + i % 3, i * 240, 240) for i in range(24)]            # bars 0-2: eighths
    pickup = [Note(60, 3 * 1920 - 40, 40), Note(64, 3 * 1920 - 20, 20)]   # rolled into bar 3
    # The pickup snaps onto bar 3's downbeat, but bar 2 is the last bar it is played in.
    assert tokenizer.controls_of(Score([Track("p", 0, False, line + pickup)])).density == 3
    held = [Note(p, 3 * 1920, 1920) for p in (48, 55, 64)]                # a closing chord
    assert tokenizer.controls_of(Score([Track("p", 0, False, line + held)])) == \
        tokenizer.controls_of(Score([Track("p", 0, False, line)]))
