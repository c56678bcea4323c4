"""Comping through the ContinueSession alone: bars taken from different variations over a
real Document, the comp as the one pending step, and Accept as one undo step."""

from __future__ import annotations

from pathlib import Path

import pytest

from composer_app.continuation.comping import one_undo_step
from composer_app.document.document import Document
from composer_app.model.jobs import ContinueJob, ContinueResult
from composer_app.model.session import ContinueSession, SessionState
from ml_core.music import Note, Score, Track
from ml_core.options import GenerationOptions

BAR = 1920
MOTIF = [Note(60 + i, i * 480, 480, 90) for i in range(8)]   # bars 0-1


def variation(pitch: int) -> list[Note]:
    """Bars 2-5, two notes a bar; the second note of bar 3 sounds over into bar 4."""
    return [Note(pitch + bar, bar * BAR + i * 960, 1440 if (bar, i) == (3, 1) else 480, 80)
            for bar in range(2, 6) for i in range(2)]


def bars_of(notes) -> list[tuple[int, int]]:
    """(bar, variation) per note: a variation's pitches start at 40, 60 or 80."""
    return sorted((n.start // BAR, n.pitch // 20 - 2) for n in notes)


@pytest.fixture
def pending(qapp):
    document = Document()
    document.load_score(Score([Track("Piano", 0, False, list(MOTIF))]))
    session = ContinueSession(document)
    job = ContinueJob(Path("no-bundle"), "cpu", document.score(), GenerationOptions(seed=1))
    session.begin(job)
    takes = [variation(40), variation(60), variation(80)]
    session.finish(ContinueResult(job, takes, [[0.5] * 8] * 3, 30, False, "cpu", 0.1))
    yield document, session
    document.undo_stack.clear()   # the commands go before the session that owns one


def generated(document: Document) -> list[Note]:
    return [document.note(i) for i in document.generated_ids()]


def test_bars_from_other_variations_replace_the_pending_step_and_accept_is_one_step(pending):
    document, session = pending
    assert session.span() == (2, 6) and session.comp.single() == 0
    assert session.set_bars(range(4, 6), 2) and session.set_bars([3, 9], 1)
    assert session.comp.choices == (0, 1, 2, 2) and session.command_variation is None
    expected = [(2, 0), (2, 0), (3, 1), (3, 1), (4, 2), (4, 2), (5, 2), (5, 2)]
    assert bars_of(generated(document)) == expected == bars_of(session.comp_notes())
    crossing = next(n for n in generated(document) if n.start == 3 * BAR + 960)
    assert crossing.duration == 1440 and crossing.pitch == 63   # bar 3's note, kept whole
    assert document.undo_stack.count() == 1 and session.is_pending()
    comp = sorted(generated(document))
    session.accept()
    assert session.state is SessionState.ACCEPTED and not document.generated_ids()
    assert document.undo_stack.count() == 2
    assert sorted(n for _, n in document.notes().values()) == sorted(MOTIF + comp)
    document.undo()                     # one Ctrl+Z: the comp pending again
    assert sorted(generated(document)) == comp


def test_stepping_bars_cycles_their_variation_and_select_takes_one_everywhere(pending):
    document, session = pending
    assert session.step_bars([4], 1) and session.comp.choices == (0, 0, 1, 0)
    assert session.step_bars([4], 1) and session.step_bars([4], 1)
    assert session.comp.choices == (0, 0, 0, 0)           # wrapped around
    assert session.step_bars([4, 5], -1) and session.comp.choices == (0, 0, 2, 2)
    assert session.select(1) and session.comp.choices == (1, 1, 1, 1)
    assert bars_of(generated(document)) == [(bar, 1) for bar in range(2, 6) for _ in "ab"]
    assert not session.step_bars([0, 1], 1)               # outside the span: nothing
    assert document.undo_stack.count() == 1


def test_accept_selected_bars_only_keeps_those_bars_and_one_macro_undoes_it(pending):
    document, session = pending
    session.set_bars([5], 2)
    before = sorted(generated(document))
    stack = document.undo_stack
    assert session.accept_bars([3, 5], lambda: one_undo_step(stack, "Accept bars 4 and 6"))
    assert session.state is SessionState.ACCEPTED and not document.generated_ids()
    kept = [n for n in document.notes().values() if n[1].start >= 2 * BAR]
    assert bars_of(n for _, n in kept) == [(3, 0), (3, 0), (5, 2), (5, 2)]
    document.undo()
    assert sorted(generated(document)) == before          # the whole comp pending again


def test_no_comp_without_notes_after_an_edit_or_with_one_variation(pending, qapp):
    document, session = pending
    empty = Note(100, 2 * BAR, 480, 80)
    steps = document.undo_stack.count()
    assert not session.accept_bars([0])                    # no pending note in bar 0
    assert document.undo_stack.count() == steps and session.is_pending()
    document.add_notes([empty])                            # the musician edits
    assert not session.can_comp() and not session.set_bars([2], 1)
    document.undo()
    assert session.can_comp()
    one = ContinueSession(document)
    job = ContinueJob(Path("no-bundle"), "cpu", document.score(), GenerationOptions(seed=1))
    one.begin(job)
    one.finish(ContinueResult(job, [variation(40)], [[0.5] * 8], 8, False, "cpu", 0.1))
    assert not one.can_comp()
