"""The remi_tracks tokenizer (issue 42): REMI with per-bar track sections."""

from __future__ import annotations

import numpy as np
import pytest

from ml_core.music import Note, Score, TempoChange, Track
from ml_core.tokenizers import TokenizerError, from_dict, get_tokenizer
from ml_core.tokenizers.remi import RemiConfig, RemiTokenizer
from ml_core.tokenizers.remi_tracks import (
    RemiTracksConfig,
    RemiTracksTokenizer,
    track_family,
)

Q = 480
BAR = 4 * Q
# the tokenizer section of default-next before chain link 4 (REMI, 8-quarter bars)
NEXT = dict(beat_resolution=4, velocity_bins=16, max_duration_quarters=8, max_bar_quarters=8,
            use_tempo=True, tempo_bins=32, use_chords=False, pitch_range=(21, 108),
            use_controls=True, use_infill=True, use_velocity=False, tempo_tolerance=0.1)


def three_parts() -> Score:
    """A soprano line, a viola and a bass guitar over three bars, at 100 BPM."""
    soprano = [Note(72 + i % 5, i * Q, Q) for i in range(12)]
    viola = [Note(p, b * BAR, 2 * Q) for b in range(3) for p in (60, 64)]
    bass = [Note(36 + (i % 3) * 2, i * 2 * Q, 2 * Q) for i in range(6)]
    return Score([Track("Soprano", 52, False, soprano), Track("Viola", 41, False, viola),
                  Track("Bass", 33, False, bass)], 100.0, (4, 4), Q)


@pytest.fixture(scope="module")
def tokenizer() -> RemiTracksTokenizer:
    return RemiTracksTokenizer(RemiTracksConfig(**NEXT))


def test_the_vocabulary_is_remis_followed_by_track_tokens(tokenizer) -> None:
    remi = RemiTokenizer(RemiConfig(**NEXT))
    assert tokenizer.vocab.tokens[:remi.vocab_size] == remi.vocab.tokens
    added = tokenizer.vocab.tokens[remi.vocab_size:]
    assert added and all(t.startswith("Track_") for t in added)
    assert "Track_drums_0" in added and "Track_ensemble_3" in added


def test_a_single_track_piece_encodes_exactly_as_plain_remi(tokenizer) -> None:
    remi = RemiTokenizer(RemiConfig(**NEXT))
    one = three_parts().with_tracks([three_parts().tracks[0]])
    assert tokenizer.encode(one) == remi.encode(one)
    assert tokenizer.encode_for_training(one) == remi.encode(one)
    decoded = tokenizer.decode(remi.encode(one))
    assert decoded.tracks[0].notes == remi.decode(remi.encode(one)).tracks[0].notes


def test_three_tracks_round_trip_with_their_parts_and_programs(tokenizer) -> None:
    score = three_parts()
    ids = tokenizer.encode(score)
    assert tokenizer.validate(ids) == 0
    decoded = tokenizer.decode(ids)
    assert len(decoded.tracks) == 3
    by_program = {t.program: t for t in decoded.tracks}
    # bass guitar, choir; the viola is the first strings part, which decodes as a violin
    assert sorted(by_program) == [33, 40, 52]
    for original, program in zip(score.tracks, (52, 40, 33), strict=True):
        assert by_program[program].notes == [n.moved(velocity=80) for n in original.notes]
    assert decoded.tempo_bpm == pytest.approx(100, rel=0.06)


def test_drums_keep_their_own_section(tokenizer) -> None:
    score = three_parts()
    score.tracks.append(Track("Kit", 0, True, [Note(36, i * Q, Q // 4) for i in range(8)]))
    decoded = tokenizer.decode(tokenizer.encode(score))
    drums = [t for t in decoded.tracks if t.is_drum]
    assert len(drums) == 1 and [n.pitch for n in drums[0].notes] == [36] * 8


def test_the_last_part_ends_every_bar_and_shuffling_keeps_the_notes(tokenizer) -> None:
    score = three_parts()
    slots = tokenizer.slots_of(score)
    ids = tokenizer.encode(score, last=slots[0])
    strings = tokenizer.tokens_to_strings(ids)
    tracks_per_bar = " ".join(s for s in strings if s == "Bar" or s.startswith("Track_"))
    for bar in tracks_per_bar.split("Bar")[1:]:
        assert bar.split()[-1] == "Track_ensemble_0"
    shuffled = tokenizer.encode(score, shuffle_seed=3)
    merged = RemiTracksTokenizer(RemiTracksConfig(**NEXT, merge_share=1.0))
    assert merged.encode_for_training(score) == RemiTokenizer(RemiConfig(**NEXT)).encode(score)
    kept = RemiTracksTokenizer(RemiTracksConfig(**NEXT, merge_share=0.0))
    assert "Track_strings_0" in kept.tokens_to_strings(kept.encode_for_training(score))
    assert sorted(shuffled) == sorted(tokenizer.encode(score)) and tokenizer.validate(shuffled) == 0
    assert tokenizer.decode(shuffled).tracks == tokenizer.decode(ids).tracks


def test_parts_take_their_family_from_the_program_or_the_name() -> None:
    assert track_family(Track("Alto", 0)) == track_family(Track("x", 52))
    assert track_family(Track("Violoncello", 0)) == track_family(Track("x", 42))
    assert track_family(Track("Track 1", 0)) == 0
    assert track_family(Track("Kit", 0, True)) == 16


def test_tempo_changes_sit_outside_sections(tokenizer) -> None:
    score = three_parts()
    score.tempo_changes = [TempoChange(BAR, 60.0)]
    decoded = tokenizer.decode(tokenizer.encode(score))
    assert decoded.tempo_changes and decoded.tempo_changes[0].tick == BAR


def test_random_sequences_under_the_grammar_decode(tokenizer) -> None:
    """Sampled under the grammar with every step's choices uniform: always decodes."""
    rng = np.random.default_rng(0)
    grammar = tokenizer.grammar()
    for _ in range(5):
        state, ids = grammar.start(), []
        for _ in range(800):
            choices = np.flatnonzero(grammar.allowed(state))
            token = int(rng.choice(choices))
            ids.append(token)
            state = grammar.advance(state, token)
        assert tokenizer.validate(ids) == 0
        decoded = tokenizer.decode(ids)
        assert all(n.duration > 0 for n in decoded.notes())


def test_the_config_round_trips_through_a_bundle_description(tokenizer) -> None:
    again = from_dict(tokenizer.to_dict())
    assert again.vocab.tokens == tokenizer.vocab.tokens
    assert get_tokenizer("remi_tracks").config.section_shuffle == 0.5
    with pytest.raises(TokenizerError, match="use_bass_control"):
        get_tokenizer("remi_tracks", use_bass_control=True)


def test_a_remi_bundle_grows_into_remi_tracks_keeping_its_rows_by_name(tmp_path) -> None:
    """`train --init-from` a REMI bundle (default-next's 8-quarter config) into remi_tracks
    with 16-quarter bars: every old token's rows follow its name, the Track rows are new."""
    import torch

    from ml_core import bundle, chain
    from ml_core.models import build_model

    remi = RemiTokenizer(RemiConfig(**NEXT))
    tracks = RemiTracksTokenizer(RemiTracksConfig(**{**NEXT, "max_bar_quarters": 16}))
    small = dict(d_model=16, num_layers=1, num_heads=2, ff_size=32, context=64)
    torch.manual_seed(0)
    old = build_model("transformer", vocab_size=remi.vocab_size, **small).eval()
    folder = bundle.save(tmp_path / "remi", old, remi.to_dict(), name="remi")
    grown = build_model("transformer", vocab_size=tracks.vocab_size, **small)
    chain.init_weights(grown, folder, list(tracks.vocab.tokens))
    new_ids = [tracks.vocab[t] for t in remi.vocab.tokens]
    assert torch.equal(grown.embedding.weight[new_ids], old.embedding.weight)
    assert grown.embedding.weight.shape[0] == tracks.vocab_size > remi.vocab_size + 60


def test_a_trained_models_untaught_families_read_as_the_piano_parts_it_knows(tmp_path
                                                                           ) -> None:
    """A flute melody over an electric bass (families no bundled model was taught): with
    the card's parts, the melody reads as POP909's melody and the bass as its accompaniment;
    a family the model knows keeps its slot; a card without parts changes nothing."""
    import torch

    from ml_core import bundle, chain
    from ml_core.models import build_model

    tracks = RemiTracksTokenizer(RemiTracksConfig(use_velocity=False))
    name = tracks.vocab.string
    flute = Track("Flute", 73, False, [Note(76 + i % 3, i * 480, 480) for i in range(8)])
    bass = Track("Bass", 33, False, [Note(40 + i % 2, i * 960, 960) for i in range(4)])
    guitar = Track("Guitar", 25, False, [Note(60 + i % 4, i * 480, 480) for i in range(8)])
    strings = Track("Strings", 48, False, [Note(55, 0, 1920)])
    score = Score([bass, flute, guitar, strings], 100.0, (4, 4), 480)
    assert [name(tracks.slot_token(s)) for s in tracks.slots_of(score)] == [
        "Track_bass_0", "Track_pipe_0", "Track_guitar_0", "Track_ensemble_0"]
    taught = {"Track_piano_0": 9000, "Track_piano_1": 8000, "Track_piano_2": 9000,
              "Track_ensemble_0": 5000, "Track_bass_0": 20}
    torch.manual_seed(0)
    model = build_model("transformer", vocab_size=tracks.vocab_size, d_model=16,
                        num_layers=1, num_heads=2, ff_size=32, context=64)
    folder = bundle.save(tmp_path / "taught", model.eval(), tracks.to_dict(), name="taught",
                         training={"chain": chain.chain_record([chain.link_record(
                             source=None, data=None, tokens_seen=1, steps=1,
                             wall_seconds=1.0, machine="m", precision="fp32",
                             compiled=False, parameters=1, parts=taught)])})
    loaded = bundle.load(folder).tokenizer
    assert {name(loaded.slot_token(s)) for s in loaded.taught} == {
        "Track_piano_0", "Track_piano_1", "Track_piano_2", "Track_ensemble_0"}
    assert [name(loaded.slot_token(s)) for s in loaded.slots_of(score)] == [
        "Track_piano_2", "Track_piano_0", "Track_piano_1", "Track_ensemble_0"]
    ids = loaded.encode(score)
    assert "Track_bass_0" not in {name(t) for t in ids}
    assert sorted(loaded.decode(ids).notes()) == sorted(score.notes())
