"""chord_words: words from onsets, fitted vocabulary, unknown words, class weights, grammar."""

import json

import numpy as np
import pytest

from ml_core.music import Note, Score, Track
from ml_core.tokenizers.base import TokenizerError
from ml_core.tokenizers.chord_words import (
    ChordWordsConfig,
    ChordWordsTokenizer,
    format_quarters,
    parse_word,
)

QUARTER = 480


def make_score(notes, **kwargs):
    return Score([Track("piano", 0, False, list(notes))], **kwargs)


def plain(notes):
    return sorted((n.pitch, n.start, n.duration) for n in notes)


# A homophonic phrase: rest, melody, block chords, a gap; the words carry it exactly.
PHRASE = [Note(60, 480, 480), Note(62, 960, 240), Note(60, 1200, 240),
          Note(60, 1440, 960), Note(64, 1440, 960), Note(67, 1440, 960),
          Note(65, 2880, 120), Note(69, 2880, 120)]


def test_words_of_a_phrase():
    words = ChordWordsTokenizer().words(make_score(PHRASE))
    assert words == ["rest_q1", "note_60_q1", "note_62_q0.5", "note_60_q0.5",
                     "chord_60.64.67_q2", "rest_q1", "chord_65.69_q0.25"]


@pytest.mark.parametrize("signature", [(4, 4), (3, 4), (6, 8)])
def test_fitted_round_trip(signature):
    score = make_score(PHRASE, time_signature=signature)
    tokenizer = ChordWordsTokenizer().fit([score])
    ids = tokenizer.encode(score)
    assert ids[0] == tokenizer.bos_id and tokenizer.validate(ids) == 0
    decoded = tokenizer.decode(ids)
    assert plain(decoded.notes()) == plain(PHRASE)
    assert decoded.time_signature == (4, 4)  # meter is not carried


def test_empty_score():
    tokenizer = ChordWordsTokenizer()
    assert tokenizer.encode(Score()) == [tokenizer.bos_id]
    assert tokenizer.decode([tokenizer.bos_id]).is_empty


def test_unfitted_tokenizer_keeps_timing_with_unknown_words():
    tokenizer = ChordWordsTokenizer()
    assert tokenizer.vocab_size == 2 + 2 * 32 and tokenizer.kind == "token"
    ids = tokenizer.encode(make_score(PHRASE))
    assert tokenizer.tokens_to_strings(ids) == ["BOS", "rest_q1", "unk_q1", "unk_q0.5", "unk_q0.5",
                                                "unk_q2", "rest_q1", "unk_q0.25"]
    assert tokenizer.decode(ids).is_empty  # unknown pitch sets decode as rests ...
    state = tokenizer.grammar().start()
    for token in ids:
        state = tokenizer.grammar().advance(state, token)
    assert state.tick == 2880 + 120       # ... but time moves exactly as in the piece


def test_min_count_and_max_words_fall_back_to_unknown():
    common = make_score([Note(60, i * QUARTER, QUARTER) for i in range(5)])
    rare = make_score([Note(61, 0, QUARTER), Note(62, QUARTER, QUARTER),
                       Note(62, 2 * QUARTER, QUARTER)])
    tokenizer = ChordWordsTokenizer().fit([common, rare], min_count=2)
    assert tokenizer.is_fitted
    strings = tokenizer.tokens_to_strings(tokenizer.encode(rare))
    assert strings == ["BOS", "unk_q1", "note_62_q1", "note_62_q1"]
    assert plain(tokenizer.decode(tokenizer.encode(rare)).notes()) == [(62, 480, 480),
                                                                       (62, 960, 480)]
    only_one = ChordWordsTokenizer().fit([common, rare], max_words=1)
    assert "note_60_q1" in only_one.vocab and "note_62_q1" not in only_one.vocab
    with pytest.raises(TokenizerError):
        ChordWordsTokenizer().fit([common], min_count=0)


def test_class_weights_inverse_to_frequency():
    score = make_score([Note(60, i * QUARTER, QUARTER) for i in range(6)]
                       + [Note(64, 6 * QUARTER, QUARTER), Note(67, 7 * QUARTER, QUARTER)])
    tokenizer = ChordWordsTokenizer()
    unfitted = tokenizer.class_weights()
    assert unfitted.shape == (tokenizer.vocab_size,) and unfitted[tokenizer.pad_id] == 0
    assert np.all(np.delete(unfitted, tokenizer.pad_id) == 1)
    weights = tokenizer.fit([score]).class_weights()
    vocab = tokenizer.vocab
    assert weights.dtype == np.float32 and weights.shape == (tokenizer.vocab_size,)
    # counts 6, 1, 1 over 3 seen words (8 words in all): weight = 8 / (3 * count)
    assert weights[vocab["note_60_q1"]] == pytest.approx(8 / 18)
    assert weights[vocab["note_64_q1"]] == pytest.approx(8 / 3)
    assert weights[vocab["note_64_q1"]] / weights[vocab["note_60_q1"]] == pytest.approx(6)
    assert weights[tokenizer.pad_id] == 0


def test_to_dict_round_trip_keeps_vocabulary_and_counts():
    score = make_score(PHRASE)
    tokenizer = (ChordWordsTokenizer(ChordWordsConfig(steps_per_quarter=12,
                                                      max_duration=48)).fit([score]))
    data = json.loads(json.dumps(tokenizer.to_dict()))
    again = ChordWordsTokenizer.from_dict(data)
    assert again.vocab.tokens == tokenizer.vocab.tokens and again.config == tokenizer.config
    assert np.array_equal(again.class_weights(), tokenizer.class_weights())
    assert again.encode(score) == tokenizer.encode(score)
    assert plain(again.decode(again.encode(score)).notes()) == plain(PHRASE)


@pytest.mark.parametrize("data", [
    {"config": {}, "words": "note_60_q1"},
    {"config": {}, "words": ["note_60_q1", "note_60_q1"]},
    {"config": {}, "words": ["rest_q1"]},
    {"config": {}, "words": ["note_60_q9"]},          # longer than max_duration
    {"config": {}, "words": ["tuba_60_q1"]},
    {"config": {}, "words": ["chord_64.60_q1"]},      # pitches must rise
    {"config": {}, "words": [], "counts": [1, 2]},
    {"config": {"steps_per_quarter": 7}},
    {"config": {"bogus": 1}},
])
def test_bad_descriptions_are_clear_errors(data):
    with pytest.raises(TokenizerError):
        ChordWordsTokenizer.from_dict({"name": "chord_words", **data})


def test_durations_as_text():
    assert [format_quarters(s, 4) for s in (1, 2, 4, 6, 9)] == ["0.25", "0.5", "1", "1.5", "2.25"]
    assert format_quarters(1, 3) == "1/3" and format_quarters(4, 12) == "1/3"
    assert parse_word("chord_60.64.67_q1/3", 12) == ((60, 64, 67), 4)
    assert parse_word("rest_q2", 4) == ((), 8)
    with pytest.raises(TokenizerError):
        parse_word("note_60_q0.1", 4)  # not on the grid


def test_polyphony_is_reduced_like_chordify():
    tokenizer = ChordWordsTokenizer()
    score = make_score([Note(48, 0, 4 * QUARTER), Note(60, 0, QUARTER),
                        Note(62, 2 * QUARTER, QUARTER)])
    tokenizer.fit([score])
    # The held bass is cut at the next onset; the onset takes its longest note.
    assert tokenizer.words(score) == ["chord_48.60_q2", "note_62_q1"]
    assert plain(tokenizer.decode(tokenizer.encode(score)).notes()) == [
        (48, 0, 960), (60, 0, 960), (62, 960, 480)]


def test_long_words_are_cut_and_gaps_split_into_rests():
    tokenizer = ChordWordsTokenizer(ChordWordsConfig(max_duration=8))  # two quarters
    score = make_score([Note(60, 0, 5 * QUARTER), Note(62, 6 * QUARTER, 5 * QUARTER)])
    assert tokenizer.words(score) == ["note_60_q2", "rest_q2", "rest_q2", "note_62_q2"]


def test_pitches_of_and_key_mask():
    score = make_score([Note(60, 0, QUARTER), Note(64, 0, QUARTER), Note(61, QUARTER, QUARTER)])
    tokenizer = ChordWordsTokenizer().fit([score])
    chord, sharp = tokenizer.vocab["chord_60.64_q1"], tokenizer.vocab["note_61_q1"]
    assert tokenizer.pitches_of(chord) == (60, 64) and tokenizer.pitches_of(tokenizer.bos_id) == ()
    mask = tokenizer.key_mask([0, 2, 4, 5, 7, 9, 11])
    assert mask[chord] and not mask[sharp] and mask[tokenizer.vocab["rest_q1"]]
    # Refitting changes the vocabulary; the key mask follows it.
    tokenizer.fit([make_score([Note(66, 0, QUARTER)]), score])
    mask = tokenizer.key_mask([0, 2, 4, 5, 7, 9, 11])
    assert mask.shape == (tokenizer.vocab_size,)
    assert not mask[tokenizer.vocab["note_66_q1"]] and mask[tokenizer.vocab["chord_60.64_q1"]]


def test_grammar_and_random_sequences():
    tokenizer = ChordWordsTokenizer().fit([make_score(PHRASE)])
    grammar = tokenizer.grammar()
    state = grammar.start()
    assert np.flatnonzero(grammar.allowed(state)).tolist() == [tokenizer.bos_id]
    state = grammar.advance(state, tokenizer.bos_id)
    assert (not grammar.allowed(state)[tokenizer.bos_id]
            and not grammar.allowed(state)[tokenizer.pad_id])
    with pytest.raises(TokenizerError):
        grammar.advance(state, tokenizer.pad_id)
    rng = np.random.default_rng(3)
    ids = [tokenizer.bos_id]
    for _ in range(10_000):
        token = int(rng.choice(np.flatnonzero(grammar.allowed(state))))
        ids.append(token)
        state = grammar.advance(state, token)
    assert tokenizer.validate(ids) == 0
    decoded = tokenizer.decode(ids)
    assert decoded.end_tick <= state.tick
    expected = sum(len(tokenizer.pitches_of(t)) for t in ids)
    assert decoded.note_count == expected
    assert tokenizer.decode(ids[:777]).note_count <= expected
    with pytest.raises(TokenizerError, match="outside"):
        tokenizer.decode([tokenizer.vocab_size + 3])


def test_registered_and_rebuilt_from_a_bundle_description():
    from ml_core.tokenizers import from_dict, get_tokenizer

    tokenizer = get_tokenizer("chord_words").fit([make_score(PHRASE)])
    again = from_dict(tokenizer.to_dict())
    assert isinstance(again, ChordWordsTokenizer) and again.vocab.tokens == tokenizer.vocab.tokens
