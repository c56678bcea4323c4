"""Run by test_layout.py in a real X server (xvfb-run, QT_QPA_PLATFORM unset): shows the
main window at 1280x760, draws a note with the mouse, and prints the layout as JSON."""

import json
import sys
import traceback

errors: list[str] = []
sys.excepthook = (lambda kind, value,
                  tb: errors.append("".join(traceback.format_exception(kind, value, tb))))

from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QDockWidget, QPushButton  # noqa: E402

from composer_app.app import build_main_window, create_application  # noqa: E402

app = create_application([])
window = build_main_window(recover=False)
window.resize(1280, 760)
window.show()
QTest.qWaitForWindowExposed(window)
QTest.qWait(300)
docks = []
for dock in window.findChildren(QDockWidget):
    if dock.isVisible() and not dock.visibleRegion().isEmpty():
        top_left = dock.mapTo(window, QPoint(0, 0))
        docks.append({"title": dock.windowTitle(), "x": top_left.x(), "y": top_left.y(),
                      "width": dock.width(), "height": dock.height()})
# The Continue dock's buttons: each as wide as its text needs, and inside the dock.
continue_dock = next(d for d in window.findChildren(QDockWidget) if d.windowTitle() == "Continue")
buttons = []
for button in continue_dock.findChildren(QPushButton):
    if button.isVisible():
        left = button.mapTo(continue_dock, QPoint(0, 0)).x()
        buttons.append({"text": button.text(), "width": button.width(),
                        "needed": button.minimumSizeHint().width(),
                        "inside": left >= 0 and left + button.width() <= continue_dock.width(),
                        "shown": button.visibleRegion().boundingRect().size() == button.size()})
viewport = window.canvas.view.viewport()
start = viewport.rect().center()
QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
for step in range(1, 6):
    QTest.mouseMove(viewport, start + QPoint(step * 12, 0))
    QTest.qWait(20)
QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                   start + QPoint(60, 0))
QTest.qWait(100)
print(json.dumps({
    "platform": app.platformName(),
    "window": [window.width(), window.height()],
    "minimum": [window.minimumSizeHint().width(), window.minimumSizeHint().height()],
    "central_width": window.centralWidget().width(),
    "docks": docks,
    "continue_buttons": buttons,
    "notes": len(window.document.notes()),
    "errors": errors,
}))
window.document.undo_stack.setClean()
window.close()
