"""ml_core.multitrack (issue 42): parts written given the others, with a tiny random model."""

from __future__ import annotations

import pytest
import torch

from ml_core import bundle
from ml_core.generation import GenerationError, GenerationOptions
from ml_core.models import build_model
from ml_core.multitrack import (
    add_part,
    continue_active,
    continue_all,
    fill_track,
    known_parts,
    part_slot,
)
from ml_core.music import Note, Score, Track
from ml_core.part_schedule import FREE, ScheduleGrammar
from ml_core.tokenizers.remi_tracks import RemiTracksConfig, RemiTracksTokenizer

Q = 480
BAR = 4 * Q


def trio() -> Score:
    """A 3-bar soprano, a 4-bar alto and a 4-bar tenor (a choir's parts, program 0)."""
    soprano = [Note(72 + i % 4, i * Q, Q) for i in range(12)]
    alto = [Note(65 + i % 3, i * 2 * Q, 2 * Q) for i in range(8)]
    tenor = [Note(57 + i % 2, i * BAR, BAR) for i in range(4)]
    return Score([Track("Soprano", 0, False, soprano), Track("Alto", 0, False, alto),
                  Track("Tenor", 0, False, tenor)], 100.0, (4, 4), Q)


def tiny_bundle(path, **config):
    tokenizer = RemiTracksTokenizer(RemiTracksConfig(use_velocity=False, **config))
    torch.manual_seed(0)
    model = build_model("transformer", vocab_size=tokenizer.vocab_size, d_model=32,
                        num_layers=1, num_heads=2, ff_size=64, context=512)
    return bundle.load(bundle.save(path / "tiny", model.eval(), tokenizer.to_dict(),
                                   name="tiny"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_bundle(tmp_path_factory.mktemp("tiny"))


OPTIONS = GenerationOptions(bars=2, seed=1, device="cpu", temperature=1.0, top_p=1.0)


def _new(before: Score, after: Score) -> list[list[Note]]:
    return [sorted(set(a.notes) - set(b.notes)) for b, a in zip(before.tracks, after.tracks,
                                                                  strict=False)]


def test_the_active_part_alone_gets_new_notes_from_its_own_end(tiny) -> None:
    score = trio()
    result = continue_active(tiny, score, 0, OPTIONS)
    new = _new(score, result.scores[0])
    assert new[0], "the soprano got nothing"
    assert new[1] == [] and new[2] == []          # the others are context, never written
    assert min(n.start for n in new[0]) >= 3 * BAR   # from the soprano's own end
    assert max(n.start for n in new[0]) < 5 * BAR
    assert result.extra["per_track"][0][0] == new[0]


def test_all_parts_continue_each_in_its_own_track(tiny) -> None:
    score = trio()
    result = continue_all(tiny, score, options=OPTIONS)
    new = _new(score, result.scores[0])
    assert all(new), "a part got no notes"
    assert min(n.start for n in new[0]) >= 3 * BAR        # the soprano from its own end,
    assert min(n.start for n in new[1]) >= 4 * BAR        # the others from theirs
    assert all(n.start < 6 * BAR for part in new for n in part)


def test_fill_rewrites_one_part_in_its_bars_only(tiny) -> None:
    score = trio()
    result = fill_track(tiny, score, 1, 1, 3, OPTIONS)
    after = result.scores[0]
    assert after.tracks[0].notes == score.tracks[0].notes
    assert after.tracks[2].notes == score.tracks[2].notes
    kept = [n for n in score.tracks[1].notes if not BAR <= n.start < 3 * BAR]
    assert all(n in after.tracks[1].notes for n in kept)
    assert all(BAR <= n.start < 3 * BAR for n in result.new_notes[0])
    assert result.new_notes[0]


def test_add_part_writes_a_new_track_over_the_chosen_bars(tiny) -> None:
    score = trio()
    result = add_part(tiny, score, "bass", bars=(1, 3), options=OPTIONS)
    after = result.scores[0]
    assert len(after.tracks) == 4 and after.tracks[3].name == "Bass"
    assert after.tracks[3].program == 52     # the choir's fourth voice
    assert after.tracks[3].notes and all(BAR <= n.start < 3 * BAR for n in after.tracks[3].notes)
    assert [t.notes for t in after.tracks[:3]] == [t.notes for t in score.tracks]


def test_forcing_follows_the_schedule_token_for_token(tiny) -> None:
    """Every forced step's token is the only one allowed, and the sampled rows keep them."""
    tokenizer = tiny.tokenizer
    score = trio()
    result = continue_active(tiny, score, 2, GenerationOptions(bars=1, seed=4, device="cpu"))
    assert result.new_notes[0]
    assert all(part == [] for index, rows in result.extra["per_track"].items() if index != 2
               for part in rows)
    grammar = ScheduleGrammar(tokenizer, [tokenizer.bar_id, FREE, tokenizer.bar_id], {})
    state = grammar.start_from(tokenizer.grammar().start()._replace(phase=1))
    assert grammar.allowed(state).sum() == 1 and grammar.allowed(state)[tokenizer.bar_id]


def test_roles_choose_the_part_a_new_track_plays(tiny) -> None:
    tokenizer = tiny.tokenizer
    choir = trio()
    name = tokenizer.vocab.string
    assert name(tokenizer.slot_token(part_slot(tokenizer, choir, "bass"))) == "Track_ensemble_3"
    melody = choir.with_tracks([Track("Melody", 0, False, choir.tracks[0].notes)])
    assert name(tokenizer.slot_token(part_slot(tokenizer, melody, "harmony"))) == "Track_piano_2"
    # a bass under a piano melody: the ensemble's lowest part, the one the corpus teaches
    assert name(tokenizer.slot_token(part_slot(tokenizer, melody, "bass"))) == \
        "Track_ensemble_3"
    assert name(tokenizer.slot_token(part_slot(tokenizer, melody, "bass", 40))) == \
        "Track_strings_3"     # a program gives the family, the role the part (a quartet's)
    assert name(tokenizer.slot_token(part_slot(tokenizer, melody, "melody", 40))) == \
        "Track_strings_0"
    with pytest.raises(GenerationError):
        part_slot(tokenizer, melody, "tuba")


def test_a_single_stream_model_refuses_in_one_line(tmp_path) -> None:
    from ml_core.tokenizers.remi import RemiConfig, RemiTokenizer

    tokenizer = RemiTokenizer(RemiConfig(use_velocity=False))
    model = build_model("transformer", vocab_size=tokenizer.vocab_size, d_model=16,
                        num_layers=1, num_heads=2, ff_size=32, context=64)
    plain = bundle.load(bundle.save(tmp_path / "plain", model.eval(), tokenizer.to_dict(),
                                    name="plain"))
    with pytest.raises(GenerationError, match="remi_tracks"):
        add_part(plain, trio(), "bass")


def _sections_written(monkeypatch, bundle, run) -> list[list[str]]:
    """The control tokens after each Track_ensemble_3 (the added bass) in the sampled row."""
    from ml_core import multitrack

    rows: list[list[int]] = []
    as_result = multitrack._as_result

    def recording(update, new_notes, started):
        rows.append(list(update.tokens[0]))
        return as_result(update, new_notes, started)

    monkeypatch.setattr(multitrack, "_as_result", recording)
    run()
    names = [bundle.tokenizer.vocab.string(t) for t in rows[-1]]
    return [names[i + 1:i + 4] for i, name in enumerate(names) if name == "Track_ensemble_3"]


def _any_biased(tmp_path):
    """A tiny model that would write "any" for every section control it may choose."""
    made = tiny_bundle(tmp_path)
    names = made.tokenizer.vocab.tokens
    with torch.no_grad():
        made.model.head.bias[[i for i, n in enumerate(names) if n.endswith("_any")]] += 30.0
    return made


def test_a_new_part_has_its_controls_chosen_by_the_model_never_any(tmp_path, monkeypatch
                                                                     ) -> None:
    # A part added where it had no notes has nothing to follow: the model chooses its
    # texture, density and register bar by bar, after reading the other parts' sections
    # (forced "any" on all three, chorale basses came out a sixth sparser than the truth).
    made = _any_biased(tmp_path)
    score = trio()
    sections = _sections_written(monkeypatch, made, lambda: add_part(
        made, score, "bass", bars=(0, 3), options=OPTIONS))
    assert len(sections) == 3          # one section a bar
    for controls in sections:
        assert [c.split("_")[0] for c in controls] == ["Texture", "Density", "Register"]
        assert not any(c.endswith("_any") for c in controls), controls


def test_a_new_part_keeps_the_controls_the_musician_set(tmp_path, monkeypatch) -> None:
    made = _any_biased(tmp_path)
    score = trio()
    steered = GenerationOptions(bars=2, seed=1, device="cpu", density=1.0, texture=1)
    sections = _sections_written(monkeypatch, made, lambda: add_part(
        made, score, "bass", bars=(0, 2), options=steered))
    assert len(sections) == 2
    for texture, density, register in sections:
        assert (texture, density) == ("Texture_1", "Density_2")   # 1 onset a beat: level 2
        assert register != "Register_any"                         # left to the model


def test_parts_written_by_a_looping_model_still_fill_every_bar(tmp_path) -> None:
    # a model that would strike one key again and again at one onset used up the token cap
    # in a bar and left the rest empty in every part; each onset now takes a pitch once
    made = tiny_bundle(tmp_path)
    with torch.no_grad():
        made.model.head.bias[made.tokenizer.vocab["Pitch_62"]] += 30.0
    score = trio()
    result = continue_all(made, score, options=GenerationOptions(bars=2, seed=1,
                                                                 device="cpu"))
    new = _new(score, result.scores[0])
    for part in new:
        assert len(part) == len({(n.pitch, n.start) for n in part})
    assert any(n.start >= 5 * BAR for part in new for n in part)   # the last bar too


def test_continue_and_fill_read_a_multi_part_prompt_as_the_one_stream_they_write(tiny
                                                                                  ) -> None:
    # single-stream Continue and Fill write plain REMI; a prompt read in track sections
    # would switch form mid-piece (which no training piece does: first bars began late)
    from ml_core.generation import _continue_plan, _fill_plan, continue_score

    tokenizer = tiny.tokenizer
    score = trio()
    assert any(tokenizer.vocab.string(t).startswith("Track_") for t in tokenizer.encode(score))
    options = GenerationOptions(bars=1, seed=1, device="cpu")
    for plan in (_continue_plan(tokenizer, score, options),
                 _fill_plan(tokenizer, score, 1, 2, options)):
        names = [tokenizer.vocab.string(t) for t in plan.context]
        assert names.count("Bar") >= 1 and sum(n.startswith("Pitch_") for n in names) > 0
        assert not any(n.startswith("Track_") for n in names)
    result = continue_score(tiny, score, OPTIONS)
    assert [set(t.notes) <= set(after.notes) for t, after in
            zip(score.tracks, result.scores[0].tracks, strict=True)] == [True] * 3
    assert result.new_notes[0] and min(n.start for n in result.new_notes[0]) >= 4 * BAR


def test_a_new_part_in_a_family_the_model_never_learned_takes_a_part_it_knows(tmp_path
                                                                             ) -> None:
    # no bass-family part in the model's data (the music21 corpus and POP909 have none):
    # an electric bass added under a piano melody is written as the ensemble's bass, the
    # lowest voice the model knows, and still plays the electric bass
    from ml_core import chain

    made = tiny_bundle(tmp_path)
    tokenizer = made.tokenizer
    name = tokenizer.vocab.string
    melody = Score([Track("Melody", 0, False, trio().tracks[0].notes)], 100.0, (4, 4), Q)
    assert name(tokenizer.slot_token(part_slot(tokenizer, melody, "bass", 33))) == \
        "Track_bass_0"                                          # the card says nothing
    flute = Score([Track("Flute", 73, False, melody.tracks[0].notes)], 100.0, (4, 4), Q)
    assert name(tokenizer.slot_token(part_slot(tokenizer, flute, "harmony"))) == \
        "Track_pipe_2"                                          # the card says nothing
    taught = {"Track_piano_0": 5000, "Track_ensemble_3": 4000, "Track_bass_0": 12}
    made.config["training"] = {"chain": chain.chain_record([chain.link_record(
        source=None, data=None, tokens_seen=1, steps=1, wall_seconds=1.0, machine="m",
        precision="fp32", compiled=False, parameters=1, parts=taught)])}
    tokenizer.learn_taught(made.config)      # as bundle.load does with its card
    known = known_parts(made)
    assert {name(tokenizer.slot_token(s)) for s in known} == {"Track_piano_0",
                                                              "Track_ensemble_3"}
    assert name(tokenizer.slot_token(part_slot(tokenizer, melody, "bass", 33, known))) == \
        "Track_ensemble_3"
    # a harmony under a flute (a family it never learned): the role's known family
    assert name(tokenizer.slot_token(part_slot(tokenizer, flute, "harmony", None, known))) \
        == "Track_piano_2"
    # a family it knows keeps the program's family
    assert name(tokenizer.slot_token(part_slot(tokenizer, melody, "melody", 1, known))) == \
        "Track_piano_1"
    result = add_part(made, melody, "bass", program=33, bars=(0, 1), options=OPTIONS)
    assert result.scores[0].tracks[-1].program == 33
    # drums it was never taught: a clear refusal, not a part written blind
    with pytest.raises(GenerationError, match="never taught drums"):
        add_part(made, melody, "drums", bars=(0, 1), options=OPTIONS)


def test_a_new_bass_chooses_a_bass_register(tmp_path, monkeypatch) -> None:
    # a model that would put every new part high: the bass still sits low (median under
    # G3), while a new counter-melody takes the register the model chooses
    made = tiny_bundle(tmp_path)
    with torch.no_grad():
        made.model.head.bias[made.tokenizer.vocab["Register_5"]] += 30.0
    score = trio()
    sections = _sections_written(monkeypatch, made, lambda: add_part(
        made, score.with_tracks(score.tracks[:2]), "bass", bars=(0, 2), options=OPTIONS))
    assert len(sections) == 2
    assert all(register in ("Register_0", "Register_1") for _, _, register in sections)
    melody = Score([Track("Melody", 0, False, score.tracks[0].notes)], 100.0, (4, 4), Q)
    rows: list[list[int]] = []
    from ml_core import multitrack

    as_result = multitrack._as_result
    monkeypatch.setattr(multitrack, "_as_result", lambda update, notes, started: (
        rows.append(list(update.tokens[0])), as_result(update, notes, started))[1])
    add_part(made, melody, "counter", bars=(0, 1), options=OPTIONS)
    names = [made.tokenizer.vocab.string(t) for t in rows[-1]]
    assert "Register_5" in names
