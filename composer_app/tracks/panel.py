"""The track panel: one row per track of the Document, and the active track.

Each row shows the track's colour (click to change), name (double-click to rename), GM
instrument (or "Drum kit"), and Mute / Solo boxes. Selecting a row makes that track the
active one: drawn and pasted notes go there and Continue writes into it. Add and Delete
are buttons under the table. Every change goes through the Document (renames, instruments,
colours, adding and deleting are undo steps; mute and solo are listening state).
The table is refreshed from the document on `tracks_changed`: a handful of rows, whose
widgets are kept and set anew (the instrument boxes share one list of names), so opening a
file costs the GUI thread little.
"""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import QSize, QStringListModel, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from composer_app import dialogs
from composer_app.document.document import Document, DocumentError
from composer_app.document.tracks import GM_PROGRAM_NAMES
from composer_app.model.window import WindowHost

COLOR, NAME, INSTRUMENT, MUTE, SOLO = range(5)
SHOWN_ROWS = 5    # rows the panel asks room for (more scroll): the docks below need the height
NAME_WIDTH = 84   # the track name's column (the musician may widen it); the instrument stretches
DRUM_KIT_INDEX = len(GM_PROGRAM_NAMES)   # the instrument box's last entry


class TrackPanel(QWidget):
    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        """Room for SHOWN_ROWS tracks and the buttons, not for every row."""
        hint = super().sizeHint()
        rows = self.table.verticalHeader().defaultSectionSize() * SHOWN_ROWS
        frame = 2 * self.table.frameWidth() + 6
        table = self.table.horizontalHeader().sizeHint().height() + rows + frame
        extra = hint.height() - self.table.sizeHint().height()   # buttons, margins, spacing
        return QSize(hint.width(), table + max(0, extra))

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self._filling = False
        self._instruments = QStringListModel(
            [f"{number + 1} {name}" for number, name in enumerate(GM_PROGRAM_NAMES)]
            + ["Drum kit"], self)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["", "Track", "Instrument", "M", "S"])
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed)
        header = self.table.horizontalHeader()
        # The instrument takes the width the name leaves: "34 Electric Bass (finger)" whole.
        header.setSectionResizeMode(INSTRUMENT, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(NAME, NAME_WIDTH)
        for column, width in ((COLOR, 18), (MUTE, 26), (SOLO, 26)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
            self.table.setColumnWidth(column, width)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setMinimumHeight(60)
        self.add_button = QPushButton("Add")
        self.add_button.setToolTip("Add a track (it becomes the active track)")
        self.add_drums_button = QPushButton("Add drums")
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete the active track and its notes")
        buttons = QHBoxLayout()
        for button in (self.add_button, self.add_drums_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table)
        layout.addLayout(buttons)

        self.add_button.clicked.connect(lambda: self.document.add_track())
        self.add_drums_button.clicked.connect(lambda: self.document.add_track(is_drum=True))
        self.delete_button.clicked.connect(self.delete_active)
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.table.cellClicked.connect(self._on_cell_clicked)
        document.tracks_changed.connect(self.refresh)
        document.active_track_changed.connect(self._show_active)
        self.refresh()

    # ------------------------------------------------------------------ document -> table
    def refresh(self) -> None:
        self._filling = True
        try:
            infos = self.document.track_infos()
            self.table.setRowCount(len(infos))
            for row, info in enumerate(infos):
                swatch = QTableWidgetItem()
                swatch.setBackground(QColor(info.color))
                swatch.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                swatch.setToolTip("Click to change the colour")
                self.table.setItem(row, COLOR, swatch)
                name = QTableWidgetItem(info.name)
                name.setFlags(name.flags() | Qt.ItemFlag.ItemIsEditable)
                self.table.setItem(row, NAME, name)
                if self.table.cellWidget(row, INSTRUMENT) is None:   # a new row
                    self.table.setCellWidget(row, INSTRUMENT, self._instrument_box(row))
                    self.table.setCellWidget(row, MUTE,
                                             self._box(row, "Mute", self.document.set_track_muted))
                    self.table.setCellWidget(row, SOLO,
                                             self._box(row, "Solo", self.document.set_track_soloed))
                for widget, value in ((self.table.cellWidget(row, INSTRUMENT),
                                       DRUM_KIT_INDEX if info.is_drum else info.program),
                                      (self.checkbox(row, MUTE), info.muted),
                                      (self.checkbox(row, SOLO), info.soloed)):
                    widget.blockSignals(True)   # showing the document's state is no edit
                    if isinstance(widget, QComboBox):
                        widget.setCurrentIndex(value)
                    else:
                        widget.setChecked(value)
                    widget.blockSignals(False)
            self.delete_button.setEnabled(len(infos) > 1)
            self._show_active(self.document.active_track)
        finally:
            self._filling = False

    def _instrument_box(self, row: int) -> QComboBox:
        box = QComboBox()
        box.setModel(self._instruments)   # shared: 129 entries are not copied per row
        box.currentIndexChanged.connect(partial(self._on_instrument, row))
        return box

    def _box(self, row: int, tip: str, setter) -> QWidget:
        holder = QWidget()
        box = QCheckBox()
        box.setToolTip(tip)
        box.toggled.connect(lambda on: setter(row, on))
        line = QHBoxLayout(holder)
        line.setContentsMargins(0, 0, 0, 0)
        line.setAlignment(Qt.AlignmentFlag.AlignCenter)
        line.addWidget(box)
        return holder

    def checkbox(self, row: int, column: int) -> QCheckBox:
        """The Mute or Solo box of a row (tests click it)."""
        return self.table.cellWidget(row, column).findChild(QCheckBox)

    def _show_active(self, index: int) -> None:
        if 0 <= index < self.table.rowCount() and self.table.currentRow() != index:
            self.table.selectRow(index)

    # ------------------------------------------------------------------ table -> document
    def _on_selection(self) -> None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        if len(rows) == 1 and not self._filling:
            self.document.set_active_track(rows.pop())

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() != NAME:
            return
        self._change(item.row(), "Rename track", name=item.text().strip())

    def _on_instrument(self, row: int, index: int) -> None:
        if self._filling:
            return
        if index == DRUM_KIT_INDEX:
            self._change(row, "Change instrument", is_drum=True, program=0)
        else:
            self._change(row, "Change instrument", is_drum=False, program=index)

    def _on_cell_clicked(self, row: int, column: int) -> None:
        if column == COLOR:
            color = dialogs.choose_color(self, self.document.track_info(row).color)
            if color is not None:
                self._change(row, "Change track colour", color=color)

    def _change(self, row: int, text: str, **fields: object) -> None:
        try:
            self.document.change_track(row, text, **fields)
        except DocumentError as error:
            dialogs.show_error(self, str(error))
            self.refresh()

    def delete_active(self) -> None:
        try:
            self.document.delete_track(self.document.active_track)
        except DocumentError as error:
            dialogs.show_error(self, str(error))


def install_tracks(window: WindowHost) -> TrackPanel:
    """Dock the track panel at the top of the window's right column."""
    panel = TrackPanel(window.document, window)
    window.add_dock(panel, "Tracks", Qt.DockWidgetArea.RightDockWidgetArea)
    return panel
