"""note_duration tokens: the paper's example, round trips, the output-filter grammar."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_core.music import Note, Score, Track
from ml_core.tokenizers.base import TokenizerError
from ml_core.tokenizers.note_duration import NoteDurationConfig, NoteDurationTokenizer

SIXTEENTH = 120


def make_score(notes, **kwargs):
    return Score([Track("piano", 0, False, list(notes))], **kwargs)


def decoded_notes(tokenizer, ids):
    return sorted((n.pitch, n.start, n.duration) for n in tokenizer.decode(ids).notes())


def plain(notes):
    return sorted((n.pitch, n.start, n.duration) for n in notes)


@pytest.fixture(scope="module")
def tokenizer():
    return NoteDurationTokenizer()


def test_paper_example_sequence(tokenizer):
    # A 4/4 bar: a sixteenth-step grid where d2 = 2 steps and d16 = a whole bar.
    score = make_score([Note(72, 0, 240), Note(52, 0, 1920), Note(48, 0, 1920), Note(45, 0, 1920),
                        Note(71, 240, 240), Note(71, 480, 240)])
    strings = tokenizer.tokens_to_strings(tokenizer.encode(score))
    assert strings == ["xxbos", "xxpad", "n72", "d2", "n52", "d16", "n48", "d16", "n45", "d16",
                       "xxsep", "d2", "n71", "d2", "xxsep", "d2", "n71", "d2"]
    assert decoded_notes(tokenizer, tokenizer.encode(score)) == plain(score.notes())


@pytest.mark.parametrize("notes", [
    [Note(60, 0, 480)],                                                   # single note
    [Note(60, 0, 960), Note(64, 0, 960), Note(67, 0, 480)],               # chord, mixed lengths
    [Note(62, 960, 240), Note(65, 2400, 120)],                            # leading rest and a gap
    [Note(0, 0, 120), Note(127, 120, 120)],                               # pitch extremes
    [Note(60, 0, 1920), Note(64, 480, 240), Note(67, 600, 1440)],         # overlapping voices
])
def test_round_trip_of_quantised_scores(tokenizer, notes):
    ids = tokenizer.encode(make_score(notes))
    assert tokenizer.validate(ids) == 0
    assert decoded_notes(tokenizer, ids) == plain(notes)


@pytest.mark.parametrize("signature", [(3, 4), (6, 8), (7, 8), (5, 4)])
def test_meter_is_not_carried_but_notes_are(tokenizer, signature):
    notes = [Note(60 + i, i * 360, 360) for i in range(8)]
    decoded = tokenizer.decode(tokenizer.encode(make_score(notes, time_signature=signature)))
    assert plain(decoded.notes()) == plain(notes)
    assert decoded.time_signature == (4, 4) and decoded.ticks_per_quarter == 480


def test_empty_score_is_bos_pad_and_decodes_empty(tokenizer):
    ids = tokenizer.encode(Score())
    assert tokenizer.tokens_to_strings(ids) == ["xxbos", "xxpad"]
    assert tokenizer.decode(ids).is_empty
    assert tokenizer.decode([]).is_empty


def test_long_waits_split_and_long_notes_are_cut():
    tokenizer = NoteDurationTokenizer(NoteDurationConfig(max_duration=16))
    score = make_score([Note(60, 0, 120), Note(62, 40 * SIXTEENTH, 20 * SIXTEENTH)])
    strings = tokenizer.tokens_to_strings(tokenizer.encode(score))
    assert strings == ["xxbos", "xxpad", "n60", "d1", "xxsep", "d16", "xxsep", "d16",
                       "xxsep", "d8", "n62", "d16"]
    assert decoded_notes(tokenizer, tokenizer.encode(score)) == [(60, 0, 120), (62, 4800, 1920)]


def test_drums_dropped_tracks_merged_duplicates_and_grid(tokenizer):
    score = Score([
        Track("a", 0, False, [Note(60, 0, 480), Note(60, 0, 240)]),   # doubled: keep the longer
        Track("b", 33, False, [Note(48, 7, 470)]),                     # snaps to the grid
        Track("drums", 0, True, [Note(36, 0, 120)]),
    ])
    assert decoded_notes(tokenizer, tokenizer.encode(score)) == [(48, 0, 480), (60, 0, 480)]


def test_other_resolution_is_resampled(tokenizer):
    score = Score([Track("p", 0, False, [Note(60, 96, 48)])], ticks_per_quarter=96)
    assert decoded_notes(tokenizer, tokenizer.encode(score)) == [(60, 480, 240)]


def test_coarser_grid_config_round_trips():
    tokenizer = NoteDurationTokenizer(NoteDurationConfig(steps_per_quarter=2, max_duration=8))
    notes = [Note(60, 0, 240), Note(67, 720, 960)]
    assert decoded_notes(tokenizer, tokenizer.encode(make_score(notes))) == plain(notes)
    assert tokenizer.vocab_size == 3 + 128 + 8


@pytest.mark.parametrize("bad", [{"steps_per_quarter": 7}, {"steps_per_quarter": 0},
                                 {"max_duration": 0}, {"max_duration": 10**6}])
def test_bad_config_is_a_clear_error(bad):
    with pytest.raises(TokenizerError, match="note_duration config"):
        NoteDurationTokenizer.from_config_dict(bad)
    with pytest.raises(TokenizerError):
        NoteDurationTokenizer.from_config_dict({"nonsense": 1})


def test_to_dict_round_trip_and_identity():
    tokenizer = NoteDurationTokenizer(NoteDurationConfig(steps_per_quarter=8, max_duration=64))
    again = NoteDurationTokenizer.from_dict(tokenizer.to_dict())
    assert again.config == tokenizer.config and again.vocab.tokens == tokenizer.vocab.tokens
    assert tokenizer.kind == "token" and tokenizer.pad_id == tokenizer.vocab["xxpad"]
    assert tokenizer.pitches_of(tokenizer.vocab["n61"]) == (61,)
    assert tokenizer.pitches_of(tokenizer.vocab["d3"]) == ()
    assert tokenizer.pitches_of(tokenizer.vocab["xxsep"]) == ()


def test_decode_rejects_ids_outside_the_vocabulary(tokenizer):
    with pytest.raises(TokenizerError, match="outside"):
        tokenizer.decode([0, 1, tokenizer.vocab_size])


def test_grammar_is_the_output_filter(tokenizer):
    grammar, vocab = tokenizer.grammar(), tokenizer.vocab
    state = grammar.start()
    assert np.flatnonzero(grammar.allowed(state)).tolist() == [vocab["xxbos"]]
    for token in ["xxbos", "xxpad", "n64", "d4"]:
        state = grammar.advance(state, vocab[token])
    allowed = grammar.allowed(state)
    # After a note and its duration: a lower pitch of the same chord or a separator.
    assert allowed[vocab["n63"]] and allowed[vocab["xxsep"]]
    assert not allowed[vocab["n64"]] and not allowed[vocab["n65"]] and not allowed[vocab["d1"]]
    assert not allowed[vocab["xxpad"]] and not allowed[vocab["xxbos"]]
    state = grammar.advance(grammar.advance(state, vocab["xxsep"]), vocab["d3"])
    assert state.tick == 3 * SIXTEENTH and grammar.allowed(state)[vocab["n127"]]
    with pytest.raises(TokenizerError):
        grammar.advance(state, vocab["d2"])
    # A duration with nothing before it, a stray pad, a note without a duration: 3 errors.
    assert tokenizer.validate([vocab[t] for t in
                               ["xxbos", "d2", "n60", "xxpad", "d2", "n60", "n59"]]) == 3


def test_random_sequences_under_the_mask_decode(tokenizer):
    grammar = tokenizer.grammar()
    rng = np.random.default_rng(7)
    state, ids = grammar.start(), []
    for _ in range(10_000):
        choices = np.flatnonzero(grammar.allowed(state))
        token = int(rng.choice(choices))
        ids.append(token)
        state = grammar.advance(state, token)
    assert tokenizer.validate(ids) == 0
    decoded = tokenizer.decode(ids)
    note_tokens = sum(1 for t in ids if tokenizer.pitches_of(t))
    assert note_tokens - 1 <= decoded.note_count <= note_tokens  # the last may lack its duration
    assert all(n.duration > 0 and n.start <= state.tick for n in decoded.notes())
    starts = [(n.start, n.pitch) for n in decoded.notes()]
    assert len(starts) == len(set(starts))  # descending pitches: no doubled note
    for cut in (1, 2, 3, 501, 5_000):
        assert tokenizer.decode(ids[:cut]).note_count <= decoded.note_count


grid_notes = st.lists(
    st.builds(lambda pitch, start, length: Note(pitch, start * SIXTEENTH, length * SIXTEENTH),
              st.integers(0, 127), st.integers(0, 200), st.integers(1, 128)),
    max_size=40, unique_by=lambda n: (n.pitch, n.start))


@settings(max_examples=60, deadline=None)
@given(grid_notes)
def test_property_grid_scores_round_trip_exactly(notes):
    tokenizer = NoteDurationTokenizer()
    ids = tokenizer.encode(make_score(notes))
    assert tokenizer.validate(ids) == 0
    assert decoded_notes(tokenizer, ids) == plain(notes)
    state = tokenizer.grammar().start()
    for token in ids:
        state = tokenizer.grammar().advance(state, token)
    assert state.tick == max((n.start for n in notes), default=0)


def test_registered_under_its_name():
    from ml_core.tokenizers import from_dict, get_tokenizer, tokenizer_names

    assert "note_duration" in tokenizer_names()
    tokenizer = get_tokenizer("note_duration", max_duration=32)
    assert isinstance(tokenizer, NoteDurationTokenizer) and tokenizer.has_pad
    assert from_dict(tokenizer.to_dict()).vocab.tokens == tokenizer.vocab.tokens
