"""Continue starts where the prompt ends, and forces the attribute controls on new bars."""

from __future__ import annotations

import pytest

from ml_core.generation import GenerationError, GenerationOptions, continue_score
from ml_core.music import Note, Score, Track
from ml_core.tokenizers.remi import RemiConfig, RemiTokenizer
from tests.ml_core.test_generation import token_bundle


class RecordingRemi(RemiTokenizer):
    """REMI that remembers the longest sequence it decoded (the prompt + what was sampled)."""

    last: list[int] = []

    def decode(self, ids):
        if len(ids) >= len(self.last):
            self.last = list(ids)
        return super().decode(ids)


def held_prompt() -> Score:
    # A C5 held for a whole bar under a quick figure; the figure's last chord ends at 1680.
    figure = [Note(64, 0, 240), Note(67, 240, 240), Note(65, 480, 480), Note(69, 1440, 240),
              Note(76, 1440, 240)]
    return Score([Track("p", 0, False, [Note(72, 0, 3840)] + figure)], time_signature=(4, 4))


@pytest.mark.parametrize("seed", range(6))
def test_continue_never_starts_before_the_prompt_ends_nor_under_a_held_key(seed: int) -> None:
    bundle = token_bundle(RemiTokenizer())
    prompt = held_prompt()
    result = continue_score(bundle, prompt, GenerationOptions(bars=2, seed=seed, variations=3))
    for notes in result.new_notes:
        assert notes, "no continuation"
        assert min(n.start for n in notes) >= 1680
        assert not [n for n in notes if n.pitch == 72 and n.start < 3840]   # the C5 still rings


def test_allow_overlap_lets_it_start_earlier() -> None:
    bundle = token_bundle(RemiTokenizer())
    starts = []
    for seed in range(8):
        result = continue_score(bundle, held_prompt(),
                                GenerationOptions(bars=1, seed=seed, allow_overlap=True))
        starts += [n.start for n in result.new_notes[0]]
    assert min(starts) < 1680


def new_bar_controls(tokenizer: RecordingRemi, prompt_length: int) -> list[tuple[str, str, str]]:
    strings = tokenizer.tokens_to_strings(tokenizer.last[prompt_length:])
    return [tuple(strings[i:i + 3]) for i, s in enumerate(strings) if s.startswith("Texture_")]


def test_new_bars_follow_the_prompt_or_the_given_values() -> None:
    tokenizer = RecordingRemi(RemiConfig())
    bundle = token_bundle(tokenizer)
    prompt = Score([Track("p", 0, False, [Note(74 + i % 3, i * 240, 240) for i in range(16)])])
    prompt_length = len(tokenizer.encode(prompt))
    continue_score(bundle, prompt, GenerationOptions(bars=3, seed=1))
    followed = new_bar_controls(tokenizer, prompt_length)
    assert followed and set(followed) == {("Texture_1", "Density_3", "Register_4")}
    tokenizer.last = []
    continue_score(bundle, prompt,
                   GenerationOptions(bars=3, seed=1, texture=3, density=0.5, register="any"))
    given = new_bar_controls(tokenizer, prompt_length)
    assert given and set(given) == {("Texture_3", "Density_1", "Register_any")}


def test_bad_control_values_are_clear_errors() -> None:
    with pytest.raises(GenerationError, match="texture"):
        GenerationOptions(texture=7).validated()
    with pytest.raises(GenerationError, match="register"):
        GenerationOptions(register="high").validated()


def chord_prompt() -> Score:
    return Score([Track("p", 0, False,
                        [Note(p, beat * 480, 480) for beat in range(8) for p in (60, 64, 67)])])


@pytest.mark.parametrize("seed", range(4))
def test_a_single_line_texture_gives_one_pitch_per_onset_even_from_an_untrained_model(
        seed: int) -> None:
    """Texture 1 is kept by the mask, not left to what the model learned: a random model
    under a chord prompt, asked for a single line, writes one note per onset."""
    bundle = token_bundle(RemiTokenizer())
    single = continue_score(bundle, chord_prompt(),
                            GenerationOptions(bars=2, seed=seed, variations=3, texture=1))
    for notes in single.new_notes:
        assert notes
        onsets = [n.start for n in notes]
        assert len(onsets) == len(set(onsets)), "two notes start together in a single line"
    free = continue_score(bundle, chord_prompt(),
                          GenerationOptions(bars=2, seed=seed, variations=3, texture=3))
    assert any(len({n.start for n in notes}) < len(notes) for notes in free.new_notes)



def test_a_followed_texture_1_is_a_promise_only_for_a_single_line() -> None:
    """Texture 1 also names a melody with a few double stops: followed from one, it holds
    the continuation to two notes per onset; asked for, or from a line, to one."""
    from ml_core.sampling_rules import SingleLine
    from ml_core.tokenizers.remi_controls import BarControls

    tokenizer = RemiTokenizer()
    melody = [Note(72 + i % 4, i * 240, 240) for i in range(16)]
    double_stops = melody + [Note(64, 0, 240), Note(65, 960, 240)]
    controls = BarControls(texture=1, density=3, register=4)
    line = Score([Track("p", 0, False, melody)])
    stops = Score([Track("p", 0, False, double_stops)])
    assert tokenizer.controls_of(stops).texture == 1
    assert SingleLine.for_tokenizer(tokenizer, controls, line).limit == 1
    assert SingleLine.for_tokenizer(tokenizer, controls, stops).limit == 2
    assert SingleLine.for_tokenizer(tokenizer, controls).limit == 1       # asked for
    assert SingleLine.for_tokenizer(tokenizer, BarControls(texture=2), line) is None


def test_continue_keeps_the_prompts_meter_even_from_a_model_that_would_change_it() -> None:
    """Only notes are added to the piece: a model leaning to a meter change writes none
    (a `TimeSig_8_2` would have made a bar four times as long), and the new notes fill
    the bars asked for in the prompt's meter."""
    tokenizer = RecordingRemi(RemiConfig(use_velocity=False))
    bundle = token_bundle(tokenizer)
    import torch

    with torch.no_grad():
        bundle.model.head.bias[tokenizer.vocab["TimeSig_8_2"]] += 30.0
    prompt = Score([Track("p", 0, False, [Note(72 + i % 3, i * 480, 480) for i in range(8)])])
    prompt_length = len(tokenizer.encode(prompt))
    for seed in range(3):
        tokenizer.last = []
        result = continue_score(bundle, prompt, GenerationOptions(bars=2, seed=seed))
        strings = tokenizer.tokens_to_strings(tokenizer.last[prompt_length:])
        assert "Bar" in strings and not [s for s in strings if s.startswith("TimeSig_")]
        assert max(n.start for n in result.new_notes[0]) >= 3 * 1920   # the second new bar


class CountingStepper:
    """A stepper that counts its passes (start excluded) and the tokens they feed; with
    `one_by_one`, a block is fed a token at a time (as before forced tokens were batched)."""

    def __init__(self, inner, one_by_one: bool) -> None:
        self.inner, self.one_by_one = inner, one_by_one
        self.passes = self.fed = 0

    def start(self, contexts):
        return self.inner.start(contexts)

    def step(self, tokens, history):
        return self.extend([[t] for t in tokens], history)

    def extend(self, block, history):
        self.passes += len(block[0]) if self.one_by_one else 1
        self.fed += len(block[0])
        if self.one_by_one:
            from ml_core.models.stepping import _extend_by_steps
            return _extend_by_steps(self.inner, block, history)
        return self.inner.extend(block, history)


def test_forced_controls_are_fed_with_the_next_token_not_stepped_alone(monkeypatch) -> None:
    """The bar controls Continue forces need no prediction: no pass of the model is spent on
    them alone (they ride with the next sampled token's pass), and the continuation is the
    one that stepping every token gives."""
    import ml_core.generation as generation

    made: list[CountingStepper] = []
    real = generation.make_stepper

    def counting(model, device, engine="auto", one_by_one=False):
        made.append(CountingStepper(real(model, device, engine), one_by_one))
        return made[-1]

    tokenizer = RecordingRemi(RemiConfig())
    bundle = token_bundle(tokenizer)
    prompt = Score([Track("p", 0, False, [Note(74 + i % 3, i * 240, 240) for i in range(16)])])
    prompt_length = len(tokenizer.encode(prompt))
    results, sequences = [], []
    for one_by_one in (False, True):
        monkeypatch.setattr(generation, "make_stepper",
                            lambda m, d, e="auto", o=one_by_one: counting(m, d, e, o))
        tokenizer.last = []
        results.append(continue_score(bundle, prompt, GenerationOptions(bars=3, seed=1)))
        sequences.append(tokenizer.last[prompt_length:])
    batched, stepped = made
    forced = 3 * len(new_bar_controls(tokenizer, prompt_length))
    generated = results[0].tokens_generated
    assert forced >= 6 and stepped.fed == batched.fed
    assert batched.passes == stepped.passes - forced        # one pass fewer per forced token
    assert batched.passes + forced == generated - 1         # the last token is never fed
    assert results[0].new_notes == results[1].new_notes and results[0].new_notes[0]
    assert sequences[0] == sequences[1]
