"""The piano roll proper: a QGraphicsView of note items kept in step with the Document.

The view mirrors the document through its signals (one item per note id, created,
moved or dropped as notes are; see `item_mirror.NoteItemMirror`), draws the shared Timeline's
playhead and loop region (scrolling along while playback runs, when the timeline says to follow),
and offers the edits on the selection (delete, duplicate, nudge, velocity). Mouse, wheel and key
gestures are handled by `gestures.RollGestures`: each is one undo command.

Tools: DRAW (click-drag on empty space draws a note snapped to the grid) and SELECT
(click, Ctrl+click, rubber band).
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QKeyEvent, QMouseEvent, QPainter, QPen, QWheelEvent
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsLineItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QWidget,
)

from composer_app.canvas import geometry
from composer_app.canvas.gestures import DEFAULT_VELOCITY, RollGestures, Tool
from composer_app.canvas.grid import paint_background
from composer_app.canvas.item_mirror import (
    MIN_SCENE_TICKS,
    REBUILD_AT_ONCE,
    REBUILD_BATCH,
    REBUILD_SLICE_S,
    NoteItemMirror,
)
from composer_app.canvas.note_item import NoteItem, NoteKind
from composer_app.document.document import Document
from composer_app.model.timeline import Timeline
from ml_core.keys import scale_pitch_classes
from ml_core.music import PITCH_MAX, PITCH_MIN, Note

__all__ = [
    "DEFAULT_VELOCITY", "MIN_SCENE_TICKS", "REBUILD_AT_ONCE", "REBUILD_BATCH", "REBUILD_SLICE_S",
    "PianoRollView", "Tool",
]

FOLLOW_MARGIN = 0.1                # follow playback: the playhead re-enters 10% from the left
BSP_TREE_DEPTH = 12                # about right from a few notes to tens of thousands


class PianoRollView(NoteItemMirror, QGraphicsView):
    """The roll: note items mirroring the document (`NoteItemMirror`), grid, zoom, timeline."""

    zoom_changed = Signal()
    visible_notes_changed = Signal()   # notes or selection changed: the velocity lane repaints
    # pitch, velocity, track: a note was drawn, clicked or moved
    note_sounded = Signal(int, int, int)

    def __init__(self, document: Document, timeline: Timeline | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.timeline = timeline if timeline is not None else Timeline()
        self.gestures = RollGestures(self)
        self.tool = Tool.DRAW
        self.grid_label = geometry.DEFAULT_GRID
        self.zoom = geometry.Zoom()
        self._items: dict[int, NoteItem] = {}
        self._preview_items: list[NoteItem] = []
        self._stale_items: list[NoteItem] = []   # a replaced document's, removed slice by slice
        self._pending_ids: list[int] = []        # notes whose items are still to be made
        self._dimming: tuple = (None, None)      # (drum lane track, fill span) items are dimmed for
        self.scale: tuple[int, frozenset[int]] | None = None   # (tonic, pitch classes) shown
        self.snap_classes: frozenset[int] = frozenset()   # drawn notes land on these (none: off)
        self._rebuild_timer = QTimer(self)
        self._rebuild_timer.setSingleShot(True)
        self._rebuild_timer.timeout.connect(self._continue_rebuild)

        scene = QGraphicsScene(self)
        scene.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        # A fixed depth: the automatic one re-sorts every item each time the count passes a
        # power of two, a 100+ ms freeze in the middle of opening a large file.
        scene.setBspTreeDepth(BSP_TREE_DEPTH)
        scene.setSceneRect(QRectF(0, 0, MIN_SCENE_TICKS, geometry.scene_height()))
        self.setScene(scene)
        scene.selectionChanged.connect(self.visible_notes_changed)

        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState, True)
        self.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemBoundingRect)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setAcceptDrops(False)   # files dropped here go to the main window
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setTransform(self.zoom.transform())

        self._playhead = QGraphicsLineItem(0, 0, 0, geometry.scene_height())
        playhead_pen = QPen(QColor(220, 30, 30), 0)
        playhead_pen.setCosmetic(True)
        self._playhead.setPen(playhead_pen)
        self._playhead.setZValue(1000)
        scene.addItem(self._playhead)
        self._loop = QGraphicsRectItem()
        self._loop.setPen(QPen(Qt.PenStyle.NoPen))
        self._loop.setBrush(QBrush(QColor(60, 180, 90, 40)))
        self._loop.setZValue(-1)
        self._loop.setVisible(False)
        scene.addItem(self._loop)

        document.reset.connect(self._rebuild)
        document.notes_added.connect(self._on_added)
        document.notes_removed.connect(self._on_removed)
        document.notes_changed.connect(self._on_changed)
        document.meta_changed.connect(self.refresh_grid)
        document.preview_changed.connect(self._on_preview)
        document.tracks_changed.connect(self._on_tracks_changed)
        document.active_track_changed.connect(lambda _track: self._on_tracks_changed())
        self.timeline.playhead_changed.connect(self._show_playhead, owner=self)
        self.timeline.loop_changed.connect(self._show_loop, owner=self)
        self._rebuild()
        self._show_playhead(self.timeline.playhead)
        self._show_loop(self.timeline.loop)

    # ------------------------------------------------------------------ grid, zoom, scrolling
    def grid_step(self) -> int:
        return geometry.grid_step_ticks(self.grid_label, self.document.ticks_per_quarter)

    def set_grid(self, label: str) -> None:
        geometry.grid_step_ticks(label)   # validates
        self.grid_label = label
        self.refresh_grid()

    def refresh_grid(self) -> None:
        self.resetCachedContent()
        self.viewport().update()
        self.zoom_changed.emit()

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        paint_background(painter, rect, self.document.meter(), self.grid_step(), self.zoom,
                         self.scale)

    def set_key(self, key: tuple[int, str] | None) -> None:
        """Shade the rows of `key`'s scale (minor with its raised seventh) and mark the
        notes outside it; None shows no key."""
        scale = None if key is None else (key[0] % 12, scale_pitch_classes(
            key[0], key[1], leading_tone=True))
        if scale != self.scale:
            self.scale = scale
            self._mark_all_scale()
            self.refresh_grid()

    def scale_pitch(self, pitch: int, direction: int = 1) -> int:
        """`pitch` moved to the nearest of `snap_classes` (snap to scale), or as it is."""
        return geometry.nearest_scale_pitch(pitch, self.snap_classes, direction) \
            if self.snap_classes else pitch

    def set_zoom(self, zoom: geometry.Zoom, anchor_x: float | None = None) -> None:
        """Rescale the view, keeping the tick under viewport x `anchor_x` in place."""
        zoom = zoom.clamped()
        anchor_x = self.viewport().width() / 2 if anchor_x is None else anchor_x
        anchor_tick = self.mapToScene(QPoint(int(anchor_x), 0)).x()
        center_row = self.mapToScene(QPoint(0, self.viewport().height() // 2)).y()
        self.zoom = zoom
        self.setTransform(zoom.transform())
        bar = self.horizontalScrollBar()
        bar.setValue(int(round(anchor_tick * zoom.pixels_per_tick - anchor_x)))
        vbar = self.verticalScrollBar()
        vbar.setValue(int(round(center_row * zoom.row_pixels - self.viewport().height() / 2)))
        self.refresh_grid()

    def zoom_by(self, factor: float, anchor_x: float | None = None) -> None:
        self.set_zoom(geometry.Zoom(self.zoom.pixels_per_tick * factor, self.zoom.row_pixels),
                      anchor_x)

    def scroll_to(self, tick: int, pitch: int | None = None) -> None:
        """Put `tick` at the left edge (and `pitch` in the vertical middle when given)."""
        self.horizontalScrollBar().setValue(int(self.zoom.pixels_for_ticks(tick)))
        if pitch is not None:
            middle = geometry.pitch_to_row(pitch) * self.zoom.row_pixels
            self.verticalScrollBar().setValue(int(middle - self.viewport().height() / 2))

    def reveal(self, tick: int, pitch: int | None = None) -> None:
        """Bring `tick` (and `pitch`) into view, entering 10% from the left, when outside it."""
        visible = self.visible_scene_rect()
        if not visible.left() <= tick < visible.right():
            self.scroll_to(max(0, int(tick - visible.width() * FOLLOW_MARGIN)))
        if pitch is not None:
            row = geometry.pitch_to_row(pitch) + 0.5
            if not visible.top() <= row <= visible.bottom():
                self.scroll_to(int(self.visible_scene_rect().left()) + 1, pitch)

    def visible_scene_rect(self) -> QRectF:
        return self.mapToScene(self.viewport().rect()).boundingRect()

    def put_items_back(self, ids: list[int]) -> None:
        """Items of `ids` to where their notes are (after a cancelled or no-op drag)."""
        self._on_changed(ids)

    # ------------------------------------------------------------------ timeline
    def _show_playhead(self, tick: int) -> None:
        self._playhead.setLine(tick, 0, tick, geometry.scene_height())
        if self.timeline.playing and self.timeline.follow_playback:
            visible = self.visible_scene_rect()
            if not visible.left() <= tick < visible.right():
                self.scroll_to(max(0, int(tick - visible.width() * FOLLOW_MARGIN)))

    def _show_loop(self, loop: tuple[int, int] | None) -> None:
        if loop is None:
            self._loop.setVisible(False)
        else:
            self._loop.setRect(QRectF(loop[0], 0, loop[1] - loop[0], geometry.scene_height()))
            self._loop.setVisible(True)

    # ------------------------------------------------------------------ selection
    def selected_ids(self) -> list[int]:
        return sorted(item.note_id for item in self.scene().selectedItems()
                      if isinstance(item, NoteItem) and item.note_id in self._items)

    def select_ids(self, ids: list[int] | set[int]) -> None:
        self.scene().clearSelection()
        for note_id in ids:
            item = self._items.get(note_id)
            if item is not None:
                item.setSelected(True)

    def select_all(self) -> None:
        for item in self._items.values():
            item.setSelected(True)

    def select_all_in_track(self, track: int) -> None:
        self.select_ids(self.document.track_note_ids(track))

    def note_item_at(self, view_pos: QPoint) -> NoteItem | None:
        for item in self.items(view_pos):
            if isinstance(item, NoteItem) and item.kind is not NoteKind.PREVIEW and not item.dimmed:
                return item
        return None

    def visible_note_ids(self) -> list[int]:
        """Ids of the notes in the visible tick range (all pitches), for the velocity lane."""
        rect = self.visible_scene_rect()
        rect = QRectF(rect.left(), 0, rect.width(), geometry.scene_height())
        # Bounding rectangles are exact for note items and far cheaper than shapes.
        items = self.scene().items(rect, Qt.ItemSelectionMode.IntersectsItemBoundingRect)
        return [item.note_id for item in items
                if isinstance(item, NoteItem) and item.kind is not NoteKind.PREVIEW
                and item.note_id in self._items]

    # ------------------------------------------------------------------ edits on the selection
    def delete_selected(self) -> None:
        self.document.remove_notes(self.selected_ids(), text="Delete notes")

    def duplicate_selected(self) -> list[int]:
        """Copies of the selection placed right after it (by its length, rounded up to the grid)."""
        ids = self.selected_ids()
        if not ids:
            return []
        notes = [self.document.entry(i) for i in ids]
        first = min(n.start for _, n in notes)
        last = max(n.end for _, n in notes)
        shift = geometry.snap_ceil(last - first, self.grid_step())
        by_track: dict[int, list[Note]] = {}
        for track, note in notes:
            by_track.setdefault(track, []).append(note.moved(start=note.start + shift))
        self.document.undo_stack.beginMacro("Duplicate notes")
        new_ids = []
        for track, copies in by_track.items():
            new_ids += self.document.add_notes(copies, track=track, text="Duplicate notes")
        self.document.undo_stack.endMacro()
        self.select_ids(new_ids)
        return new_ids

    def nudge(self, semitones: int = 0, ticks: int = 0) -> bool:
        """Move the selection; refused (False) if any note would leave the roll."""
        ids = self.selected_ids()
        notes = {i: self.document.note(i) for i in ids}
        if not notes:
            return False
        moved = {i: n.moved(pitch=n.pitch + semitones, start=n.start + ticks)
                 for i, n in notes.items()}
        if any(not PITCH_MIN <= n.pitch <= PITCH_MAX or n.start < 0 for n in moved.values()):
            return False
        self.document.change_notes(moved, text="Move notes", merge_key="nudge")
        return True

    def change_velocity(self, ids: list[int], delta: int, merge_key: str | None = None) -> None:
        changes = {}
        for note_id in ids:
            note = self.document.note(note_id)
            changes[note_id] = note.moved(velocity=max(1, min(127, note.velocity + delta)))
        self.document.change_notes(changes, text="Change velocity", merge_key=merge_key)

    # ------------------------------------------------------------------ mouse gestures
    def _bar_origin(self, tick: float) -> int:
        """Grid lines are counted from the start of the bar containing `tick`."""
        bar, offset = self.document.meter().bar_at(max(0, int(tick)))
        return int(tick) - offset if tick >= 0 else 0

    def snap(self, tick: float, how: str = "nearest") -> int:
        step = self.grid_step()
        origin = self._bar_origin(tick)
        snapper = {"nearest": geometry.snap_nearest, "floor": geometry.snap_floor,
                   "ceil": geometry.snap_ceil}[how]
        return snapper(tick, step, origin)

    # ------------------------------------------------------------------ events: see gestures
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if not self.gestures.press(event):
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if not self.gestures.move(event):
            super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if not self.gestures.release(event):
            super().mouseReleaseEvent(event)

    def cancel_gesture(self) -> None:
        self.gestures.cancel()

    def wheelEvent(self, event: QWheelEvent) -> None:
        if not self.gestures.wheel(event):
            super().wheelEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not self.gestures.key(event):
            super().keyPressEvent(event)
