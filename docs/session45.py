"""A scripted session of the app as a musician uses it (issue 45), with a screenshot after
each step: draw a motif, show the scale and snap to it, Continue with three variations,
comp two of them, Accept (and undo / redo it), step entry, the Drag MIDI file, Add Part.

Real input events drive it where a person would use the mouse or the keyboard (QTest on
the roll, the ruler and the keys); menu items are triggered as their clicks would.

    xvfb-run -a -s "-screen 0 1280x760x24" .venv/bin/python -m docs.session45 /tmp/session45
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

LEFT, NO_BUTTON = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
MOTIF = [(0, 64, 480), (480, 67, 480), (960, 69, 240), (1200, 67, 240), (1440, 64, 480),
         (1920, 62, 480), (2400, 60, 480), (2880, 62, 960)]     # (tick, pitch, length)


class Session:
    def __init__(self, out: Path) -> None:
        os.environ["COMPOSER_ASSISTANT_DATA_DIR"] = tempfile.mkdtemp(prefix="session45-")
        from composer_app.app import build_main_window, create_application
        from composer_app.continuation.panel import ContinuePanel

        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self.app = create_application()
        self.window = build_main_window(None, recover=False)
        self.window.resize(1280, 760)
        self.window.show()
        self.window.activateWindow()
        self.panel = self.window.findChild(ContinuePanel)
        self.view = self.window.canvas.view
        self.shots = 0
        self.settle(0.5)

    # ------------------------------------------------------------------ helpers
    def settle(self, seconds: float = 0.4) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.app.processEvents()
            time.sleep(0.01)

    def shot(self, name: str, screen: bool = False) -> None:
        self.settle()
        self.shots += 1
        path = self.out / f"{self.shots:02d}-{name}.png"
        if screen:   # a menu popup is a window of its own: grab the whole screen
            QApplication.primaryScreen().grabWindow(0).save(str(path))
        else:
            self.window.grab().save(str(path))
        print(f"[{path.name}] status: {self.window.statusBar().currentMessage()!r}")

    def at(self, tick: int, pitch: int) -> QPoint:
        from composer_app.canvas import geometry
        return self.view.mapFromScene(QPointF(tick, geometry.pitch_to_row(pitch) + 0.5))

    @staticmethod
    def mouse(widget, kind, pos: QPoint, button=LEFT, buttons=LEFT) -> None:
        event = QMouseEvent(kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), button,
                            buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(widget, event)

    def drag(self, widget, start: QPoint, end: QPoint) -> None:
        self.mouse(widget, QEvent.Type.MouseButtonPress, start)
        for i in range(1, 6):
            step = start + (end - start) * (i / 5)
            self.mouse(widget, QEvent.Type.MouseMove, step, NO_BUTTON)
        self.mouse(widget, QEvent.Type.MouseButtonRelease, end, buttons=NO_BUTTON)
        self.app.processEvents()

    def generate_action(self, prefix: str):
        for action in self.window.menuBar().actions():
            if action.text().replace("&", "") == "Generate":
                for item in action.menu().actions():
                    if item.text().replace("&", "").startswith(prefix):
                        return item
        raise LookupError(prefix)

    def all_notes(self) -> list[tuple[int, int]]:
        return sorted((n.start, n.pitch) for _, n in self.window.document.notes().values())

    def pending_notes(self) -> list[tuple[int, int]]:
        document = self.window.document
        return sorted((document.note(i).start, document.note(i).pitch)
                      for i in document.generated_ids())

    # ------------------------------------------------------------------ the steps
    def draw_motif(self) -> None:
        self.shot("empty")
        self.view.setFocus()
        QTest.keyClick(self.view, Qt.Key.Key_B)            # the draw tool
        self.view.scroll_to(0, 65)
        self.settle(0.2)
        viewport = self.view.viewport()
        for tick, pitch, length in MOTIF:
            self.drag(viewport, self.at(tick + 10, pitch), self.at(tick + length - 10, pitch))
        notes = sorted((n.start, n.pitch, n.duration)
                       for _, n in self.window.document.notes().values())
        print(f"drawn: {notes}")
        self.shot("motif-drawn")

    def scale(self) -> None:
        for action in (self.window.scale_action, self.window.snap_scale_action):
            print(f"{action.text()!r} was {'on' if action.isChecked() else 'off'}")
            if not action.isChecked():
                action.trigger()
        before = len(self.window.document.notes())
        # an off-scale row (C#4 in C major / A minor): snap puts the note on the scale
        self.drag(self.view.viewport(), self.at(3840 + 10, 61), self.at(3840 + 470, 61))
        notes = self.window.document.notes()
        new = [n for _, n in notes.values() if n.start >= 3840]
        print(f"scale shown={self.window.scale_action.isChecked()} "
              f"snap={self.window.snap_scale_action.isChecked()}; drew on C#4 -> "
              f"{[n.pitch for n in new]} ({len(notes) - before} new)")
        self.shot("scale-snap")

    def continue_(self) -> None:
        sampling = self.panel.sampling_panel
        sampling.variations.setValue(3)
        sampling.seed_lock.setChecked(True)
        sampling.seed.setValue(7)
        self.window.canvas.select_ids([])
        self.generate_action("Continue").trigger()
        self.settle(0.3)
        self.shot("continue-running")
        deadline = time.monotonic() + 180
        while (self.panel.is_running() or self.panel.result() is None) \
                and time.monotonic() < deadline:
            self.settle(0.05)
        session = self.panel.session
        print(f"continue: variations={session.variation_count} span={session.span()} "
              f"status={self.panel.status_text() if hasattr(self.panel, 'status_text') else ''}")
        self.shot("continued-3-variations")

    def comp(self) -> None:
        session = self.panel.session
        first, end = session.span()
        meter = self.window.document.meter()
        ruler = self.window.canvas.ruler
        # drag the second bar of the continuation in the ruler, then Next Variation there
        bar = first + 1
        x0 = int(self.view.mapFromScene(QPointF(meter.bar_start(bar) + 30, 0)).x())
        x1 = int(self.view.mapFromScene(QPointF(meter.bar_start(bar + 1) - 30, 0)).x())
        y = ruler.height() // 2
        self.drag(ruler, QPoint(x0, y), QPoint(x1, y))
        print(f"loop after ruler drag: {self.window.timeline.loop}")
        self.generate_action("Next Variation in Selected Bars").trigger()
        print(f"comp after 1st: {session.comp.describe(meter)}")
        self.shot("comp-bar-next")
        bar = first + 2
        x0 = int(self.view.mapFromScene(QPointF(meter.bar_start(bar) + 30, 0)).x())
        x1 = int(self.view.mapFromScene(QPointF(meter.bar_start(bar + 1) - 30, 0)).x())
        self.drag(ruler, QPoint(x0, y), QPoint(x1, y))
        self.generate_action("Next Variation in Selected Bars").trigger()
        self.generate_action("Next Variation in Selected Bars").trigger()
        print(f"comp after 2nd: {session.comp.describe(meter)}")
        self.comped = sorted((n.start, n.pitch) for n in session.comp_notes())
        self.shot("comp-two-variations")

    def accept(self) -> None:
        document, stack = self.window.document, self.window.document.undo_stack
        index = stack.index()
        self.generate_action("Accept Continuation").trigger()
        kept = self.all_notes()
        print(f"accept: undo steps +{stack.index() - index} ('{stack.undoText()}'); "
              f"session pending={self.panel.session.is_pending()} "
              f"variations={self.panel.variation_count()}; notes now {len(document.notes())}")
        self.shot("accepted")
        self.view.setFocus()
        QTest.keyClick(self.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        self.settle(0.2)
        if stack.index() != index:
            print("Ctrl+Z on the roll did not undo; using Edit > Undo")
            self.window.undo_action.trigger()
        back = sorted((n.start, n.pitch) for n in self.panel.session.comp_notes()) \
            if self.panel.session.is_pending() else None
        print(f"undo: index {stack.index()} (was {index}); session pending again="
              f"{self.panel.session.is_pending()}; comp in the session={back == self.comped}; "
              f"generated notes back={self.pending_notes() == self.comped}")
        self.shot("accept-undone")
        QTest.keyClick(self.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier
                       | Qt.KeyboardModifier.ShiftModifier)
        self.settle(0.2)
        if stack.index() == index:
            print("Ctrl+Shift+Z on the roll did not redo; using Edit > Redo")
            self.window.redo_action.trigger()
        print(f"redo: index {stack.index()}; pending={self.panel.session.is_pending()}; "
              f"the accepted notes back={kept == self.all_notes()}")
        self.shot("accept-redone")

    def step_entry(self) -> None:
        document = self.window.document
        end = document.meter().next_bar_start(document.score().end_tick)
        self.window.canvas.set_playhead(end)
        action = next(a for a in self.window.actions() if a.text() == "Step &Entry")
        action.trigger()
        before = len(document.notes())
        for key in (Qt.Key.Key_A, Qt.Key.Key_S, Qt.Key.Key_D, Qt.Key.Key_F):
            QTest.keyClick(self.view, key)
        for key in (Qt.Key.Key_A, Qt.Key.Key_D, Qt.Key.Key_G):     # a chord: held together
            QTest.keyPress(self.view, key)
        for key in (Qt.Key.Key_A, Qt.Key.Key_D, Qt.Key.Key_G):
            QTest.keyRelease(self.view, key)
        new = sorted((n.start, n.pitch, n.duration) for _, n in document.notes().values()
                     if n.start >= end)
        print(f"step entry: +{len(document.notes()) - before} notes: {new}")
        self.shot("step-entry")
        action.trigger()

    def drag_out(self) -> None:
        from composer_app.editing.drag_out import DragMidiHandle
        from ml_core.midi_io import read_midi

        handle = self.window.findChild(DragMidiHandle)
        self.window.canvas.select_ids([])
        carried = []
        handle.exec_drag = lambda drag: carried.append(drag.mimeData().urls())
        ok = handle.start_drag()
        path = Path(carried[0][0].toLocalFile()) if carried else None
        print(f"drag out: started={ok} url={carried}")
        if path is not None:
            score = read_midi(path)
            print(f"  {path.name}: {score.note_count} notes, {len(score.tracks)} track(s), "
                  f"tempo {score.tempo_bpm:g} bpm, meter {score.time_signature}, "
                  f"document has {len(self.window.document.notes())} notes")
        self.shot("drag-out")

    def add_part(self) -> None:
        action = self.generate_action("Add Part")
        print(f"add part: enabled={action.isEnabled()} tip={action.toolTip()!r}")
        for item in self.window.menuBar().actions():
            if item.text().replace("&", "") == "Generate":
                self.window.menuBar().setActiveAction(item)
        self.settle(0.3)
        popup = QApplication.activePopupWidget()
        if popup is not None:   # hover Add Part... as a person would, to read its status tip
            QTest.mouseMove(popup, popup.actionGeometry(action).center())
            self.settle(1.5)   # the tooltip's delay
        from PySide6.QtWidgets import QToolTip
        print(f"  hovering Add Part: status line {self.window.statusBar().currentMessage()!r}, "
              f"tooltip {QToolTip.text() if QToolTip.isVisible() else None!r}")
        self.shot("generate-menu", screen=True)
        QTest.keyClick(QApplication.activePopupWidget() or self.window, Qt.Key.Key_Escape)
        self.settle(0.2)
        QApplication.activePopupWidget() and QApplication.activePopupWidget().close()

    def close(self) -> None:
        document = self.window.document
        document.load_score(document.score())
        self.window.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "session45")
    session = Session(out)
    for step in (session.draw_motif, session.scale, session.continue_, session.comp,
                 session.accept, session.step_entry, session.drag_out, session.add_part):
        step()
    session.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
