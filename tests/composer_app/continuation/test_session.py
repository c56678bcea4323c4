"""The ContinueSession model alone: no widgets, no worker, no model. Jobs and results are
built by hand and fed to the session as the worker would, over a real Document."""

from __future__ import annotations

from pathlib import Path

import pytest

from composer_app.continuation.worker import ContinueJob, ContinueProgress, ContinueResult
from composer_app.document.document import Document
from composer_app.model.session import ContinueSession, SessionState
from ml_core.music import Note, Score, Track
from ml_core.options import GenerationOptions

MOTIF = [Note(60 + i, i * 480, 480, 90) for i in range(8)]   # two bars of 4/4


def new_job(prompt: Score) -> ContinueJob:
    return ContinueJob(Path("no-bundle"), "cpu", prompt, GenerationOptions(seed=1),
                       offset=0, track=0)


def result_of(job: ContinueJob, *variations: list[Note], cancelled: bool = False) -> ContinueResult:
    return ContinueResult(job, [list(v) for v in variations],
                          [[0.5] * len(v) for v in variations], 12, cancelled, "cpu", 0.1)


def take(start_bar: int, *pitches: int) -> list[Note]:
    return [Note(p, start_bar * 1920 + i * 480, 480, 80) for i, p in enumerate(pitches)]


def generated(document: Document) -> list[Note]:
    return sorted(document.note(i) for i in document.generated_ids())


@pytest.fixture
def document(qapp):
    made = Document()
    made.load_score(Score([Track("Piano", 0, False, list(MOTIF))]))
    return made


def test_continue_undo_reroll_accept_through_the_session_alone(document):
    session = ContinueSession(document)
    states: list[SessionState] = []
    session.changed.connect(lambda: states.append(session.state))
    first, second = take(2, 67, 69), take(2, 72)

    # Continue: notes stream in as a preview, then the first variation enters as one step.
    job = new_job(document.score())
    session.begin(job)
    assert session.running and not session.can_reroll()
    assert session.progress(ContinueProgress(job, [first[:1], []], [[0.9], []], 4, 0.5))
    assert document.preview() == first[:1] and document.undo_stack.count() == 0
    message = session.finish(result_of(job, first, second))
    assert message.startswith("Added 2 notes")
    assert session.state is SessionState.PENDING and session.is_pending()
    assert generated(document) == first and document.preview() == []
    assert document.undo_stack.count() == 1

    # Another variation replaces it: still one undo step, and the session knows which.
    assert session.select(1)
    assert generated(document) == second and session.command_variation == 1
    assert document.undo_stack.count() == 1 and document.undo_stack.index() == 1

    # Ctrl+Z of the continuation: the session hears it from its own command.
    document.undo()
    assert session.state is SessionState.UNDONE and session.result is None
    assert generated(document) == [] and len(document.notes()) == len(MOTIF)
    assert session.can_reroll()

    # Re-roll from there: the same prompt again.
    again = session.withdraw()
    assert again is job and document.undo_stack.index() == 0
    retry = new_job(again.prompt)
    session.begin(retry)
    assert session.progress(ContinueProgress(job, [first], [[0.5]], 2, 0.1)) is False  # stale
    session.finish(result_of(retry, take(2, 64)))
    assert generated(document) == take(2, 64)

    # Re-roll the pending take: withdrawn by the session, not counted as the musician's undo.
    assert session.withdraw() is retry
    assert session.state is SessionState.IDLE and generated(document) == []
    third = new_job(retry.prompt)
    session.begin(third)
    session.finish(result_of(third, take(2, 65, 65)))
    texts = [document.undo_stack.text(i) for i in range(document.undo_stack.count())]
    assert texts == ["Continue"]                     # the re-rolled take is not stacked

    # Accept: ordinary notes, nothing pending, nothing to re-roll.
    session.accept()
    assert session.state is SessionState.ACCEPTED and document.generated_ids() == set()
    assert sorted(n for _, n in document.notes().values()) == sorted(MOTIF + take(2, 65, 65))
    assert not session.can_reroll() and not session.is_pending()
    assert states[-1] is SessionState.ACCEPTED
    assert SessionState.UNDONE in states and SessionState.RUNNING in states


def test_an_edit_after_the_continuation_keeps_it_but_stops_swaps(document):
    session = ContinueSession(document)
    job = new_job(document.score())
    session.begin(job)
    session.finish(result_of(job, take(2, 67), take(2, 69)))
    document.add_notes([Note(48, 0, 960, 70)])       # the musician edits
    assert session.state is SessionState.PENDING and not session.is_pending()
    assert session.select(1)                         # shown as a preview, not swapped
    assert generated(document) == take(2, 67) and document.preview() == take(2, 69)
    assert not session.can_reroll()
    document.undo()                                  # undoing the edit is not our undo
    assert session.state is SessionState.PENDING and session.is_pending()
    document.undo()                                  # this one is
    assert session.state is SessionState.UNDONE and document.preview() == []


def test_nothing_generated_and_refused_notes_leave_the_document_alone(document):
    session = ContinueSession(document)
    job = new_job(document.score())
    session.begin(job)
    assert session.finish(result_of(job, [], cancelled=True)) == "Stopped before any note was made."
    assert session.state is SessionState.IDLE and document.undo_stack.count() == 0
    job = new_job(document.score())
    session.begin(job)
    with pytest.raises(ValueError, match="could not be added"):
        session.finish(result_of(job, [Note(200, 3840, 480, 80)]))   # pitch out of MIDI range
    assert session.state is SessionState.IDLE and document.undo_stack.count() == 0
    assert session.can_reroll()


def test_opening_another_file_forgets_the_continuation(document):
    session = ContinueSession(document)
    job = new_job(document.score())
    session.begin(job)
    session.finish(result_of(job, take(2, 67)))
    document.load_score(Score([Track("Piano", 0, False, MOTIF[:2])]))
    session.forget()
    assert session.state is SessionState.IDLE and session.command is None
    assert not session.is_pending() and not session.can_reroll()
