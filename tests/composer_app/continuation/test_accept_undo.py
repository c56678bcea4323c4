"""Undoing an Accept brings the whole pending continuation back (its variations, the one
shown, the comp of bars from several, Re-roll); a redo accepts it again. And the Continue
panel's progress bar never stays full after a job: it empties when the job ends, fails,
is accepted or re-rolled."""

from __future__ import annotations

from pathlib import Path

import pytest

from composer_app.canvas.canvas import PianoRollCanvas
from composer_app.continuation.comping import one_undo_step
from composer_app.continuation.panel import ContinuePanel
from composer_app.document.document import Document
from composer_app.model.jobs import ContinueJob, ContinueProgress, ContinueResult
from composer_app.model.session import ContinueSession, SessionState
from ml_core.music import Note, Score, Track
from ml_core.options import GenerationOptions

BAR = 1920
MOTIF = [Note(60 + i, i * 480, 480, 90) for i in range(8)]   # bars 0-1


def variation(base: int) -> list[Note]:
    """Bars 2-4, two notes a bar, pitches base + bar (a variation is told by its base)."""
    return [Note(base + bar, bar * BAR + i * 960, 480, 80) for bar in range(2, 5) for i in (0, 1)]


def new_job(document: Document) -> ContinueJob:
    return ContinueJob(Path("no-bundle"), "cpu", document.score(), GenerationOptions(seed=1))


def result_of(job: ContinueJob, *bases: int) -> ContinueResult:
    takes = [variation(base) for base in bases]
    return ContinueResult(job, takes, [[0.5] * len(t) for t in takes], 20, False, "cpu", 0.1)


def shown(document: Document) -> list[tuple[int, int]]:
    """(bar, variation base) of each generated note."""
    return sorted((document.note(i).start // BAR, document.note(i).pitch // 20 * 20)
                  for i in document.generated_ids())


@pytest.fixture
def session(qapp):
    document = Document()
    document.load_score(Score([Track("Piano", 0, False, list(MOTIF))]))
    made = ContinueSession(document)
    job = new_job(document)
    made.begin(job)
    made.finish(result_of(job, 40, 60, 80))
    yield made
    document.undo_stack.clear()   # the commands go before the session that owns them


def test_undoing_accept_brings_back_the_variations_and_the_comp(session):
    document = session.document
    assert session.select(1) and session.set_bars([4], 2)
    comp, result, job = session.comp, session.result, session.last_job
    before = shown(document)
    assert before == [(2, 60), (2, 60), (3, 60), (3, 60), (4, 80), (4, 80)]
    session.accept()
    assert session.state is SessionState.ACCEPTED and session.result is None
    assert not session.can_reroll()

    document.undo()                                        # Ctrl+Z of the Accept
    assert session.state is SessionState.PENDING and session.is_pending()
    assert session.result is result and session.variation_count == 3
    assert session.comp == comp and session.selected == 2 and session.last_job is job
    assert shown(document) == before and session.can_comp() and session.can_reroll()
    steps = document.undo_stack.count()
    assert session.select(0)                               # swapping works again: one step
    assert shown(document) == [(bar, 40) for bar in range(2, 5) for _ in "ab"]
    assert document.undo_stack.index() == 1 and document.undo_stack.count() == steps - 1

    session.accept()                                       # accept, undo, redo
    document.undo()
    assert session.state is SessionState.PENDING and session.variation_count == 3
    document.undo_stack.redo()
    assert session.state is SessionState.ACCEPTED and session.result is None
    assert not document.generated_ids()
    document.undo()                                        # and back once more
    assert session.is_pending() and session.variation_count == 3
    document.undo()                                        # the continuation itself
    assert session.state is SessionState.UNDONE and not document.generated_ids()


def test_undoing_accept_of_some_bars_brings_the_whole_comp_back(session):
    document = session.document
    session.set_bars([3], 1)
    before = shown(document)
    assert session.accept_bars([2], lambda: one_undo_step(document.undo_stack, "Accept bar 3"))
    assert not document.generated_ids() and session.state is SessionState.ACCEPTED
    document.undo()
    assert shown(document) == before and session.is_pending()
    assert session.comp.choices == (0, 1, 0) and session.variation_count == 3


def test_continuing_from_a_pending_take_and_undoing_twice_brings_its_variations_back(session):
    document = session.document
    session.select(2)
    first = session.result
    session.keep_pending()                                 # Continue keeps the pending take
    job = new_job(document)
    session.begin(job)
    later = [Note(50, 5 * BAR, 480, 80)]
    session.finish(ContinueResult(job, [later], [[0.5]], 3, False, "cpu", 0.1))
    document.undo()                                        # the new continuation
    assert session.state is SessionState.UNDONE
    document.undo()                                        # the Accept that kept the first
    assert session.is_pending() and session.result is first and session.selected == 2


def test_an_accept_undone_while_a_job_runs_leaves_the_job_alone(session):
    document = session.document
    session.accept()
    job = new_job(document)
    session.begin(job)
    document.undo()
    assert session.running and session.job is job and session.result is None
    assert len(document.generated_ids()) == 6              # plain generated notes again


def test_an_accept_of_notes_no_session_holds_is_an_ordinary_step(session):
    document = session.document
    session.accept()
    document.undo_stack.redo()                             # nothing to redo: no change
    document.undo()
    document.undo()                                        # the continuation: UNDONE
    document.undo_stack.redo()                             # its notes back, variations not
    assert session.state is SessionState.UNDONE and len(document.generated_ids()) == 6
    document.accept_generated()                            # accepted outside the session
    document.undo()
    assert session.state is SessionState.UNDONE and session.result is None


@pytest.fixture
def panel(qtbot):
    document = Document()
    document.load_score(Score([Track("Piano", 0, False, list(MOTIF))]))
    canvas = PianoRollCanvas(document)
    made = ContinuePanel(document, canvas.timeline, canvas.selection)
    made._test_keep = canvas
    qtbot.addWidget(made)
    qtbot.addWidget(canvas)
    yield made
    made.shutdown()
    document.undo_stack.clear()


def run_by_hand(panel: ContinuePanel, *bases: int) -> ContinueResult:
    """A job fed to the panel as the worker would: progress half-way, then the result."""
    job = new_job(panel.document)
    panel.session.begin(job)
    panel._on_progress(ContinueProgress(job, [variation(bases[0])[:3]] + [[]] * (len(bases) - 1),
                                        [[0.5] * 3] + [[]] * (len(bases) - 1), 10, 0.5))
    assert panel.progress_bar.value() == 500               # shown while the job runs
    result = result_of(job, *bases)
    panel._on_finished(result)
    return result


def test_the_progress_bar_empties_when_a_job_ends_is_accepted_or_fails(panel):
    run_by_hand(panel, 40, 60)
    assert panel.session.is_pending() and panel.progress_bar.value() == 0
    panel.accept()
    assert panel.progress_bar.value() == 0
    job = new_job(panel.document)
    panel.session.begin(job)
    panel._on_progress(ContinueProgress(job, [[]], [[]], 4, 0.3))
    assert panel.progress_bar.value() == 300
    panel._fail = lambda message: None                     # no dialog in a test
    panel._on_failed(job, "the model broke")
    assert panel.progress_bar.value() == 0


def test_the_panel_shows_the_variations_again_after_an_undone_accept(panel):
    result = run_by_hand(panel, 40, 60, 80)
    panel.select_variation(1)
    panel.accept()
    assert panel.variation_label.text() == "No variations yet"
    assert panel.confidence_view.summary == []
    panel.document.undo()
    assert panel.variation_label.text() == "Variation 2 / 3"
    assert panel.previous_button.isEnabled() and panel.next_button.isEnabled()
    assert panel.accept_button.isEnabled() and panel.reroll_button.isEnabled()
    assert len(panel.confidence_view.summary) == len(result.new_notes)
    assert panel.progress_bar.value() == 0


def test_the_status_line_follows_an_undone_accept(panel):
    run_by_hand(panel, 40, 60, 80)
    panel.accept()
    assert panel.status_label.text() == "Continuation accepted."
    panel.document.undo()
    assert panel.status_label.text().endswith("pending: Accept keeps them, Ctrl+Z removes them.")
    panel.document.undo_stack.redo()
    assert panel.status_label.text() == "Continuation accepted."
