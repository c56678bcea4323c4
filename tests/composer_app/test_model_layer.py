"""The app's house rules: a Qt-free model layer, plug-ins that never import the main window,
and files small enough to hold in one's head."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "composer_app"
MAX_APP_LINES = 450
MAX_BENCH_LINES = 400


def test_the_model_layer_imports_no_qt():
    code = ("import sys, pkgutil, importlib, composer_app.model as m\n"
            "for info in pkgutil.iter_modules(m.__path__):\n"
            "    importlib.import_module(f'composer_app.model.{info.name}')\n"
            "assert 'PySide6' not in sys.modules, 'PySide6 loaded'\n"
            "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    result = subprocess.run(
        [sys.executable, "-c",
         "import composer_app.model, sys; assert 'PySide6' not in sys.modules"],
        capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_only_the_window_and_its_assembly_import_main_window():
    allowed = {APP / "app.py", APP / "main_window.py"}
    offenders = [str(path.relative_to(ROOT)) for path in APP.rglob("*.py")
                 if path not in allowed and "composer_app.main_window" in _imported_modules(path)]
    assert offenders == []


def _too_long(folder: Path, limit: int) -> list[str]:
    return [f"{path.relative_to(ROOT)}: {count} lines" for path in sorted(folder.rglob("*.py"))
            if (count := len(path.read_text(encoding="utf-8").splitlines())) > limit]


def test_no_app_file_is_over_450_lines_and_no_bench_file_over_400():
    assert _too_long(APP, MAX_APP_LINES) == []
    assert _too_long(ROOT / "bench", MAX_BENCH_LINES) == []


def test_no_script_or_doc_edits_sys_path():
    offenders = [str(path.relative_to(ROOT))
                 for folder in ("bench", "docs") for path in (ROOT / folder).rglob("*")
                 if path.suffix in (".py", ".md")
                 and "sys.path.insert" in path.read_text(encoding="utf-8")]
    assert offenders == []


def test_the_selection_reads_its_view_once_per_change():
    from composer_app.model.selection import Selection

    reads, current = [], [3, 1]
    selection, heard = Selection(), []
    selection.changed.connect(lambda: heard.append(True))
    selection.bind(lambda: reads.append(1) or current)
    for _ in range(5):                 # a view selecting note after note
        selection.mark_changed()
    assert reads == [] and len(heard) == 6
    assert selection.ids == (1, 3) and selection.ids == (1, 3) and reads == [1]
    selection.set([7])
    assert selection.ids == (7,) and bool(selection)


def test_make_room_is_a_typed_choice():
    import pytest

    from composer_app.model.jobs import MakeRoom, RoomKind

    assert MakeRoom.span(0, 1920).replaced_span == (0, 1920)
    assert MakeRoom.shift(960) == MakeRoom(RoomKind.SHIFT, 960)
    assert MakeRoom.replace(960).replaced_span is None
    with pytest.raises(ValueError):
        MakeRoom(RoomKind.SPAN, 0)
    with pytest.raises(ValueError):
        MakeRoom(RoomKind.REPLACE, 0, 10)
