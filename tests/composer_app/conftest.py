"""Fixtures for the app's tests: a fixture that fails any test leaving a worker alive.

After each test (widgets are closed by pytest-qt before fixtures are torn down, so a
panel's shutdown has run), every non-daemon Python thread that was not there before the
test, and every QThread registered in `composer_app.workers.threads`, must have ended within a
short grace period; otherwise the test fails (and the threads are stopped so the next
test starts clean).
"""

from __future__ import annotations

import threading
import time

import pytest

GRACE_S = 1.0


def _leftovers(before: set[threading.Thread]) -> list[str]:
    return [t.name for t in threading.enumerate()
            if t not in before and t.is_alive() and not t.daemon]


@pytest.fixture(autouse=True)
def gc_on_the_gui_thread_only():
    """As in the app (`composer_app.workers.gui_gc`): no automatic cyclic collection during a test,
    so a worker thread never destroys a Qt object left in a cycle (that can deadlock); the
    test's garbage is collected here, on the main thread, once its widgets are closed."""
    import gc

    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    yield
    gc.unfreeze()   # a test that opened a large piece froze what was alive (gui_gc)
    gc.collect()
    if was_enabled:
        gc.enable()


@pytest.fixture(autouse=True)
def no_leaked_threads():
    before = set(threading.enumerate())
    yield
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + GRACE_S
    leftovers = _leftovers(before)
    while leftovers and time.monotonic() < deadline:
        app = QApplication.instance()
        if app is not None:
            app.processEvents()  # a QThread may need its finished signal delivered
        time.sleep(0.02)
        leftovers = _leftovers(before)
    if leftovers:
        from composer_app.workers import threads

        threads.stop_all(timeout=5.0)
        pytest.fail(f"the test left threads running: {', '.join(leftovers)}")


class UnexpectedDialog(AssertionError):
    """A test reached a modal dialog it did not ask for (offscreen, it would wait forever)."""


@pytest.fixture(autouse=True)
def no_modal_dialogs(monkeypatch):
    """Fail, instead of hanging, when code under test opens a modal dialog.

    Headless, a modal dialog's event loop never ends: one unexpected error dialog would
    stall the whole suite. Tests that expect a dialog patch the app's own wrappers
    (`dialogs.show_error`, `continue_panel.show_error`...), which take precedence; anything
    that still reaches Qt's modal API raises with the dialog's text, so the failure says
    what went wrong. pytest-qt turns an exception raised inside a slot into a test failure.
    """
    from PySide6.QtWidgets import QDialog, QFileDialog, QInputDialog, QMessageBox

    opened: list[str] = []

    def refuse(kind):
        def refuse_call(*args, **_kwargs):
            texts = [str(a) for a in args if isinstance(a, str)]
            opened.append(f"{kind}: {' | '.join(texts)}")
            raise UnexpectedDialog(f"unexpected modal {kind}: {' | '.join(texts)}")
        return refuse_call

    for name in ("critical", "warning", "question", "information", "about"):
        monkeypatch.setattr(QMessageBox, name, staticmethod(refuse(f"QMessageBox.{name}")))
    for name in ("getOpenFileName", "getOpenFileNames", "getSaveFileName",
                 "getExistingDirectory"):
        monkeypatch.setattr(QFileDialog, name, staticmethod(refuse(f"QFileDialog.{name}")))
    for name in ("getText", "getInt", "getDouble", "getItem"):
        monkeypatch.setattr(QInputDialog, name, staticmethod(refuse(f"QInputDialog.{name}")))
    monkeypatch.setattr(QDialog, "exec", refuse("QDialog.exec"))
    monkeypatch.setattr(QMessageBox, "exec", refuse("QMessageBox.exec"))
    yield opened


@pytest.fixture
def window_1280x760(qtbot, monkeypatch):
    """The assembled main window, shown at 1280x760 (closing it discards the work)."""
    from composer_app import dialogs
    from composer_app.app import build_main_window

    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name="", doing="": "discard")
    window = build_main_window(recover=False)
    qtbot.addWidget(window)
    window.resize(1280, 760)
    window.show()
    qtbot.waitExposed(window)
    return window


# ---------------------------------------------------------------- a small real model bundle
MOTIF_STEPS = (0, 2, 4, 5, 7, 5, 4, 2)  # a C-major up-and-down figure in eighth notes


def motif_score(bars: int = 2):
    """A prompt the tiny model was trained on: eighth notes of MOTIF_STEPS from C4."""
    from ml_core.music import Note, Score, Track

    notes = [Note(60 + MOTIF_STEPS[i % 8], i * 240, 240, 80) for i in range(bars * 8)]
    return Score([Track("Piano", 0, False, notes)])


@pytest.fixture(name="motif_score")
def motif_score_fixture():
    """`motif_score(bars)` for tests (test modules here are not a package)."""
    return motif_score


@pytest.fixture(scope="session")
def tiny_bundle_source(tmp_path_factory):
    """A 1-layer transformer (REMI vocabulary) trained ~2 s on the motif, saved once per
    session with `ml_core.bundle.save`."""
    import torch

    from ml_core import bundle
    from ml_core.models import build_model
    from ml_core.tokenizers import get_tokenizer

    tokenizer = get_tokenizer("remi")
    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: extra threads only contend on a busy 2-core box
    torch.manual_seed(0)
    model = build_model("transformer", vocab_size=tokenizer.vocab_size, d_model=32, num_layers=1,
                        num_heads=2, ff_size=64, context=256, dropout=0.0)
    ids = tokenizer.encode(motif_score(8))
    batch = torch.tensor(ids[:129]).unsqueeze(0).repeat(4, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        logits, _ = model(batch[:, :-1], None)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 batch[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    torch.set_num_threads(threads_before)
    folder = tmp_path_factory.mktemp("bundles") / "tiny"
    bundle.save(folder, model.eval(), tokenizer.to_dict(), name="tiny",
                description="A one-layer test model", training={"pieces": 1, "steps": 60},
                metrics={"test_nll": losses[-1]})
    with open(folder / "metrics.jsonl", "w", encoding="utf-8") as stream:
        for step, value in enumerate(losses):
            stream.write(f'{{"type": "step", "step": {step}, "loss": {value}}}\n')
    return folder


@pytest.fixture
def tiny_bundle(tiny_bundle_source):
    """The tiny bundle copied into this test's user model folder."""
    import shutil

    from ml_core import paths

    destination = paths.user_models_dir() / "tiny"
    shutil.copytree(tiny_bundle_source, destination)
    return destination


@pytest.fixture
def broken_bundle(tiny_bundle):
    """A bundle whose config reads fine but whose weights are corrupt."""
    import json
    import shutil

    destination = tiny_bundle.parent / "broken"
    shutil.copytree(tiny_bundle, destination)
    config = json.loads((destination / "config.json").read_text())
    config["name"] = "broken"
    (destination / "config.json").write_text(json.dumps(config))
    (destination / "model.safetensors").write_bytes(b"\x00garbage" * 64)
    return destination
