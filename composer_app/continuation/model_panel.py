"""The model panel: which trained model continues the motif, and on which device.

Lists the bundles of `ml_core.bundle.find_bundles()` (bundled and the user model folder,
where `composer-train` writes), refreshed when either folder changes (a
QFileSystemWatcher on both folders and on each bundle folder, debounced) or on Refresh.
The selected bundle's card shows its architecture, parameter count, tokenizer, training
data and test NLL, with its training curve (pyqtgraph) when the bundle has
`metrics.jsonl`. Reading a card is a JSON read; loading the weights happens on the worker
thread (`composer_app.continuation.worker`).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QFileSystemWatcher, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ml_core import paths
from ml_core.metrics_log import METRICS_FILE, loss_curves, read_metrics

DEVICES = (("auto", "Auto"), ("cpu", "CPU"), ("cuda", "CUDA"))


def cuda_available() -> bool:
    import torch  # imported here: a card is shown long before torch is needed

    return bool(torch.cuda.is_available())


def _training_data(training: dict[str, Any]) -> str:
    """Sources, files and tokens of the data a bundle was trained on."""
    data = training.get("data") if isinstance(training.get("data"), dict) else training
    sources = data.get("sources") or data.get("source")
    parts = [", ".join(map(str, sources)) if isinstance(sources, list) else str(sources or "")]
    if isinstance(data.get("train_files"), int):
        parts.append(f"{data['train_files']} files")
    tokens = data.get("train_tokens", data.get("tokens"))
    if isinstance(tokens, int):
        parts.append(f"{_count(tokens)} tokens")
    text = ", ".join(part for part in parts if part)
    return text or _summary(data)


def _count(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "?"
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    if value >= 1e3:
        return f"{value / 1e3:.1f} k"
    return str(value)


def _summary(value: Any, limit: int = 6) -> str:
    """A short readable text of a config value (dicts as `key: value` pairs)."""
    if isinstance(value, dict):
        parts = [f"{key}: {_summary(item, 3)}" for key, item in list(value.items())[:limit]
                 if not isinstance(item, (dict, list)) or len(str(item)) < 60]
        return ", ".join(parts) if parts else "-"
    if isinstance(value, list):
        shown = ", ".join(str(item) for item in value[:3])
        return shown + (f" (+{len(value) - 3})" if len(value) > 3 else "")
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def card_fields(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, text) rows of a bundle's card, from its config.json."""
    tokenizer = config.get("tokenizer") or {}
    metrics = config.get("metrics") or {}
    nll = metrics.get("test_nll")
    return [
        ("Architecture",
         f"{config.get('arch', '?')}  ({_summary(config.get('hparams') or {}, 5)})"),
        ("Parameters", _count(config.get("parameter_count"))),
        ("Tokenizer",
         f"{tokenizer.get('name', '?')}  ({_summary(tokenizer.get('config') or {}, 3)})"),
        ("Training data", _training_data(config.get("training") or {})),
        ("Test NLL", f"{nll:.3f} nats/token" if isinstance(nll, (int, float)) else "not measured"),
    ]


class ModelPanel(QWidget):
    """Bundle list + card + training curve + device choice.

    Signals: `bundle_changed(object)` with the selected BundleInfo (or None) and
    `device_changed(str)` with "auto"/"cpu"/"cuda"."""

    bundle_changed = Signal(object)
    device_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None, settings: Any = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self._bundles: list[Any] = []
        layout = QVBoxLayout(self)

        header = QHBoxLayout()
        header.addWidget(QLabel("Models"))
        header.addStretch(1)
        self.refresh_button = QPushButton("Refresh")
        header.addWidget(self.refresh_button)
        layout.addLayout(header)

        self.list = QListWidget()
        self.list.setMinimumHeight(60)
        self.list.setMaximumHeight(140)
        layout.addWidget(self.list)

        self.card = QLabel()
        self.card.setWordWrap(True)
        self.card.setTextFormat(Qt.TextFormat.RichText)
        self.card.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.card)

        self.curve_plot = pg.PlotWidget()
        self.curve_plot.setMinimumHeight(120)
        self.curve_plot.setLabel("bottom", "step")
        self.curve_plot.setLabel("left", "loss (nats/token)")
        self.curve_plot.addLegend(offset=(-5, 5))
        self.curve_plot.setVisible(False)
        layout.addWidget(self.curve_plot, 1)

        device_form = QFormLayout()
        self.device_combo = QComboBox()
        for value, label in DEVICES:
            self.device_combo.addItem(label, value)
        if not cuda_available():
            cuda_item = self.device_combo.model().item(2)
            cuda_item.setEnabled(False)
            cuda_item.setToolTip("No CUDA device is available on this machine.")
        device_form.addRow("Device", self.device_combo)
        self.device_in_use = QLabel("model not loaded yet")
        device_form.addRow("In use", self.device_in_use)
        layout.addLayout(device_form)
        self._restore_device()

        self.watcher = QFileSystemWatcher(self)
        self._refresh_timer = QTimer(self, singleShot=True, interval=250)
        self._refresh_timer.timeout.connect(self.refresh)
        self.watcher.directoryChanged.connect(lambda _path: self._refresh_timer.start())
        self.watcher.fileChanged.connect(lambda _path: self._refresh_timer.start())
        self.refresh_button.clicked.connect(self.refresh)
        self.list.currentItemChanged.connect(self._on_current_changed)
        self.device_combo.currentIndexChanged.connect(self._on_device_changed)
        self.refresh()

    # ------------------------------------------------------------ bundles
    def folders(self) -> list[Path]:
        """The folders watched: the bundled models and the user model folder."""
        folders = []
        try:
            folders.append(Path(paths.bundled_models_dir()))
        except Exception:  # resources missing in a broken install: the user folder still works
            pass
        user = Path(paths.user_models_dir())
        try:
            user.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass
        folders.append(user)
        return folders

    def refresh(self) -> None:
        """Re-list the bundles, keeping the selection when it still exists."""
        selected = self.selected_bundle()
        selected_path = str(selected.path) if selected is not None else None
        try:
            from ml_core.bundle import find_bundles

            problems: list[str] = []
            self._bundles = list(find_bundles(problems))
            problem = None
            self.list.setToolTip("Unreadable bundles:\n" + "\n".join(problems) if problems else "")
        except Exception as error:  # a broken folder must not break the panel
            self._bundles = []
            problem = f"Could not list models: {error}"
        self._watch()
        self.list.blockSignals(True)
        self.list.clear()
        from ml_core.bundle import app_default

        restore_row = 0
        first = app_default(self._bundles)   # first start: the app's bundled default model
        for row, info in enumerate(self._bundles):
            item = QListWidgetItem(f"{info.name}  [{info.source}]")
            item.setToolTip(str(info.path))
            self.list.addItem(item)
            if selected_path is not None and str(info.path) == selected_path:
                restore_row = row
            elif selected_path is None and info.source == "bundled" and info.name == first:
                restore_row = row
        if self._bundles:
            self.list.setCurrentRow(restore_row)
        self.list.blockSignals(False)
        if self._bundles:
            current = self._bundles[restore_row]
            if selected_path != str(current.path):
                self._on_current_changed()
            else:
                self._show_card(current)  # metrics may have grown
        else:
            self.card.setText(html.escape(problem) if problem else
                              "No models found. Train one with <code>composer-train</code>.")
            self.curve_plot.setVisible(False)
            if selected is not None:
                self.bundle_changed.emit(None)

    def _watch(self) -> None:
        wanted = set()
        for folder in self.folders():
            if folder.is_dir():
                wanted.add(str(folder))
        for info in self._bundles:
            wanted.add(str(info.path))
            metrics = Path(info.path) / METRICS_FILE
            if metrics.is_file():
                wanted.add(str(metrics))
        current = set(self.watcher.directories()) | set(self.watcher.files())
        stale = sorted(current - wanted)
        fresh = sorted(wanted - current)
        if stale:
            self.watcher.removePaths(stale)
        if fresh:
            self.watcher.addPaths(fresh)

    def bundles(self) -> list[Any]:
        return list(self._bundles)

    def selected_bundle(self) -> Any | None:
        row = self.list.currentRow() if hasattr(self, "list") else -1
        if 0 <= row < len(self._bundles):
            return self._bundles[row]
        return None

    def select(self, name_or_path: str | Path) -> bool:
        """Select the bundle with this name or folder; False when there is none."""
        wanted = str(name_or_path)
        for row, info in enumerate(self._bundles):
            if info.name == wanted or str(info.path) == wanted:
                self.list.setCurrentRow(row)
                return True
        return False

    def _on_current_changed(self, *_args: Any) -> None:
        info = self.selected_bundle()
        if info is not None:
            self._show_card(info)
        self.device_in_use.setText("model not loaded yet")
        self.bundle_changed.emit(info)

    def _show_card(self, info: Any) -> None:
        config = info.config if isinstance(info.config, dict) else {}
        rows = "".join(
            f"<tr><td><b>{html.escape(label)}</b>&nbsp;</td><td>{html.escape(text)}</td></tr>"
            for label, text in card_fields(config)
        )
        description = config.get("description")
        intro = f"<p>{html.escape(str(description))}</p>" if description else ""
        self.card.setText(f"<h3>{html.escape(info.name)}</h3>{intro}<table>{rows}</table>")
        curves = loss_curves(read_metrics(Path(info.path)))
        self.curve_plot.clear()
        colours = {"train_loss": (70, 130, 220), "val_loss": (230, 120, 40)}
        for name, (xs, ys) in curves.items():
            self.curve_plot.plot(xs, ys, pen=pg.mkPen(colours[name], width=2),
                                 name=name.replace("_", " "))
        self.curve_plot.setVisible(bool(curves))

    # ------------------------------------------------------------ device
    def device(self) -> str:
        """"auto", "cpu" or "cuda" (CUDA falls back to auto when it became unavailable)."""
        value = self.device_combo.currentData()
        return value if value in ("auto", "cpu", "cuda") else "auto"

    def set_device(self, value: str) -> None:
        index = self.device_combo.findData(value)
        if index >= 0 and self.device_combo.model().item(index).isEnabled():
            self.device_combo.setCurrentIndex(index)

    def set_device_in_use(self, device: str) -> None:
        """Show where the loaded model runs (reported by the worker)."""
        self.device_in_use.setText(device)

    def _restore_device(self) -> None:
        if self._settings is None:
            return
        try:
            stored = self._settings.get_str("device", "auto")
        except Exception:  # settings are a convenience; a bad value must not break the panel
            return
        self.set_device(stored)

    def _on_device_changed(self, _index: int) -> None:
        value = self.device()
        self.device_in_use.setText("model not loaded yet")
        if self._settings is not None:
            try:
                self._settings.set_value("device", value)
            except Exception:  # read-only settings store: keep the choice for this session
                pass
        self.device_changed.emit(value)
