"""midi_like: NoteOn/NoteOff/TimeShift/Velocity events and their grammar."""

from __future__ import annotations

import numpy as np

from ml_core.music import Note, Score, TempoChange, Track
from ml_core.tokenizers import get_tokenizer


def tokenizer_and_grammar(**config):
    tokenizer = get_tokenizer("midi_like", **config)
    return tokenizer, tokenizer.grammar()


def walk(tokenizer, grammar, text: str):
    state = grammar.start()
    for token in text.split():
        assert grammar.allowed(state)[tokenizer.vocab[token]], token
        state = grammar.advance(state, tokenizer.vocab[token])
    return state


def allowed_strings(tokenizer, grammar, state, prefix: str) -> list[str]:
    return [s for s in tokenizer.tokens_to_strings(np.flatnonzero(grammar.allowed(state)).tolist())
            if s.startswith(prefix)]


def test_encoding_reads_as_events() -> None:
    tokenizer, _ = tokenizer_and_grammar()
    score = Score([Track("p", 0, False, [Note(60, 0, 480, 79), Note(64, 0, 480, 79),
                                         Note(67, 480 * 5, 240, 103)])])
    assert tokenizer.tokens_to_strings(tokenizer.encode(score)) == [
        "BOS", "TimeSig_4_4", "Tempo_120", "NoteOn_60", "NoteOn_64", "TimeShift_4", "NoteOff_60",
        "NoteOff_64", "TimeShift_8", "TimeShift_8", "Velocity_103", "NoteOn_67",
        "TimeShift_2", "NoteOff_67"]


def test_note_on_and_off_follow_what_sounds() -> None:
    tokenizer, grammar = tokenizer_and_grammar()
    state = walk(tokenizer, grammar, "BOS NoteOn_60")
    assert allowed_strings(tokenizer, grammar, state, "NoteOff_") == []  # no zero-length note
    assert not grammar.allowed(state)[tokenizer.vocab["NoteOn_60"]]
    assert not grammar.allowed(state)[tokenizer.vocab["EOS"]]  # a note still sounds
    state = walk(tokenizer, grammar, "BOS NoteOn_60 NoteOn_67 TimeShift_3")
    assert state.tick == 360
    assert allowed_strings(tokenizer, grammar, state, "NoteOff_") == ["NoteOff_60", "NoteOff_67"]
    state = walk(tokenizer, grammar, "BOS NoteOn_60 TimeShift_3 NoteOff_60")
    assert grammar.allowed(state)[tokenizer.vocab["EOS"]]
    state = walk(tokenizer, grammar, "BOS Velocity_40")
    assert all(s.startswith("NoteOn_") for s in
               tokenizer.tokens_to_strings(np.flatnonzero(grammar.allowed(state)).tolist()))
    state = walk(tokenizer, grammar, "BOS TimeSig_3_4 Tempo_100")
    assert allowed_strings(tokenizer, grammar, state, "TimeSig_") == []  # one per time step


def test_prefix_decode_ends_unterminated_notes_at_the_current_time() -> None:
    tokenizer, _ = tokenizer_and_grammar()
    ids = [tokenizer.vocab[t]
           for t in "BOS Velocity_40 NoteOn_60 TimeShift_4 NoteOn_64 TimeShift_2".split()]
    assert tokenizer.decode(ids).tracks[0].notes == [Note(60, 0, 720, 40), Note(64, 480, 240, 40)]
    assert tokenizer.decode(ids[:-1]).tracks[0].notes == [Note(60, 0, 480, 40),
                                                          Note(64, 480, 120, 40)]


def test_overlapping_notes_of_one_pitch_are_cut_at_the_next_onset() -> None:
    tokenizer, _ = tokenizer_and_grammar()
    notes = [Note(60, 0, 960, 79), Note(60, 480, 480, 79), Note(60, 480, 120, 79),
             Note(62, 0, 480, 79)]
    ids = tokenizer.encode(Score([Track("a", 0, False, notes[:2]),
                                  Track("b", 0, False, notes[2:])]))
    assert tokenizer.validate(ids) == 0
    assert tokenizer.decode(ids).tracks[0].notes == [Note(60, 0, 480, 79), Note(62, 0, 480, 79),
                                                     Note(60, 480, 480, 79)]


def test_long_gaps_use_several_shifts_and_tempo_changes_land_in_time() -> None:
    tokenizer, _ = tokenizer_and_grammar(beat_resolution=12, max_shift_quarters=1)
    score = Score([Track("p", 0, False, [Note(60, 0, 160, 79), Note(61, 160 * 20, 160, 79)])],
                  tempo_changes=[TempoChange(960, 100)])
    ids = tokenizer.encode(score)
    assert max(int(s.split("_")[1]) for s in tokenizer.tokens_to_strings(ids)
               if s.startswith("TimeShift_")) == 12
    decoded = tokenizer.decode(ids)
    assert decoded.tracks[0].notes == score.tracks[0].notes
    assert [(c.tick, c.bpm) for c in decoded.tempo_changes] == [(960, 100.0)]
    assert tokenizer.encode(score, end_tick=7680)[-1] == tokenizer.vocab["TimeShift_12"]
