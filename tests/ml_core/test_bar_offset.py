"""bar_offset: the paper's exact 153-token vocabulary, its splitting rules and grammar."""

from __future__ import annotations

import numpy as np
import pytest

from ml_core.music import Note, Score, TimeSignatureChange, Track
from ml_core.tokenizers import TokenizerError, get_tokenizer


def strings(tokenizer, ids) -> list[str]:
    return tokenizer.tokens_to_strings(ids)


def test_vocabulary_is_the_papers_153_tokens() -> None:
    tokenizer = get_tokenizer("bar_offset")
    tokens = tokenizer.vocab.tokens
    assert tokenizer.vocab_size == 153
    assert tokens[0] == "Bar"
    assert tokens[1:33] == [f"Offset_{o}" for o in range(32)]
    assert tokens[33:121] == [f"Pitch_{p}" for p in range(21, 109)]
    assert tokens[121:153] == [f"Duration_{d}" for d in range(1, 33)]
    assert not tokenizer.has_pad
    with pytest.raises(TokenizerError, match="no PAD"):
        _ = tokenizer.pad_id
    padded = get_tokenizer("bar_offset", pad_token=True)
    assert padded.vocab_size == 154 and padded.pad_id == 153


def test_encoding_follows_the_paper() -> None:
    tokenizer = get_tokenizer("bar_offset")
    score = Score([Track("p", 0, False,
                         [Note(60, 0, 480), Note(64, 480, 240), Note(67, 1920 + 120, 480)])])
    assert strings(tokenizer, tokenizer.encode(score)) == [
        "Bar", "Offset_0", "Pitch_60", "Duration_4", "Offset_4", "Pitch_64", "Duration_2",
        "Offset_16", "Bar", "Offset_1", "Pitch_67", "Duration_4"]


def test_long_bars_and_long_notes_are_split() -> None:
    tokenizer = get_tokenizer("bar_offset")
    # A 10/4 bar is 40 sixteenths: 31 + 9. A note of 36 sixteenths: 32 + 4.
    score = Score([Track("p", 0, False, [Note(60, 0, 36 * 120), Note(62, 40 * 120, 120)])],
                  time_signature=(10, 4))
    tokens = strings(tokenizer, tokenizer.encode(score))
    assert tokens == ["Bar", "Offset_0", "Pitch_60", "Duration_32", "Offset_31", "Bar",
                      "Offset_1", "Pitch_60", "Duration_4", "Offset_9", "Bar", "Offset_0",
                      "Pitch_62", "Duration_1"]
    decoded = tokenizer.decode(tokenizer.encode(score))
    assert decoded.tracks[0].notes == [Note(60, 0, 32 * 120), Note(60, 32 * 120, 4 * 120),
                                       Note(62, 40 * 120, 120)]


def test_decode_names_meters_from_bar_lengths() -> None:
    tokenizer = get_tokenizer("bar_offset")
    notes = [Note(60, i * 480, 240) for i in range(12)]
    score = Score([Track("p", 0, False, notes)], time_signature=(3, 4),
                  time_signature_changes=[TimeSignatureChange(2 * 1440, 7, 8)])
    decoded = tokenizer.decode(tokenizer.encode(score))
    assert decoded.time_signature == (3, 4)
    assert [(c.tick, c.numerator, c.denominator)
            for c in decoded.time_signature_changes] == [(2880, 7, 8)]
    assert decoded.tracks[0].notes == notes


def test_grammar_rules_and_ticks() -> None:
    tokenizer = get_tokenizer("bar_offset")
    grammar, vocab = tokenizer.grammar(), tokenizer.vocab
    state = grammar.start()
    assert np.flatnonzero(grammar.allowed(state)).tolist() == [vocab["Bar"]]
    for token in ["Bar", "Offset_5", "Pitch_60", "Duration_2"]:
        state = grammar.advance(state, vocab[token])
    allowed = strings(tokenizer, np.flatnonzero(grammar.allowed(state)).tolist())
    assert allowed == [f"Offset_{o}" for o in range(5, 32)]  # offsets never go back
    state = grammar.advance(state, vocab["Offset_16"])
    assert state.tick == 16 * 120
    assert grammar.allowed(state)[vocab["Bar"]]
    state = grammar.advance(state, vocab["Bar"])
    assert state.tick == 16 * 120
    state = grammar.advance(state, vocab["Offset_0"])
    assert not grammar.allowed(state)[vocab["Bar"]]  # no empty bars
    assert tokenizer.validate([vocab["Offset_3"], vocab["Bar"]]) == 1  # must open with Bar


def test_short_notes_drums_and_out_of_range_pitches_are_dropped() -> None:
    tokenizer = get_tokenizer("bar_offset", velocity=64)
    score = Score([Track("p", 0, False, [Note(60, 0, 40), Note(62, 0, 100), Note(110, 0, 480)]),
                   Track("d", 0, True, [Note(36, 0, 480)])])
    assert tokenizer.decode(tokenizer.encode(score)).tracks[0].notes == [Note(62, 0, 120, 64)]


def test_prefix_cut_mid_note_and_mid_bar() -> None:
    tokenizer = get_tokenizer("bar_offset")
    notes = [Note(48 + i, i * 360, 240) for i in range(12)]
    ids = tokenizer.encode(Score([Track("p", 0, False, notes)]))
    for cut in range(len(ids) + 1):
        decoded = tokenizer.decode(ids[:cut]).tracks[0].notes
        assert decoded == notes[:len(decoded)]
