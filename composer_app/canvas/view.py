"""The piano roll proper: a QGraphicsView of note items kept in step with the Document.

The view mirrors the document through its signals (one item per note id, created,
moved or dropped as notes are), draws the shared Timeline's playhead and loop region
(scrolling along while playback runs, when the timeline says to follow), and offers the
edits on the selection (delete, duplicate, nudge, velocity). Mouse, wheel and key
gestures are handled by `gestures.RollGestures`: each is one undo command.

Tools: DRAW (click-drag on empty space draws a note snapped to the grid) and SELECT
(click, Ctrl+click, rubber band).
"""

from __future__ import annotations

import time

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
from composer_app.canvas.note_item import NoteItem, NoteKind, track_hue
from composer_app.document.document import Document
from composer_app.playback.timeline import Timeline
from ml_core.music import PITCH_MAX, PITCH_MIN, Note

__all__ = ["DEFAULT_VELOCITY", "PianoRollView", "Tool"]

MIN_SCENE_TICKS = 480 * 4 * 64     # 64 bars of 4/4: room to draw in an empty document
FOLLOW_MARGIN = 0.1                # follow playback: the playhead re-enters 10% from the left
REBUILD_SLICE_S = 0.010            # a rebuild works this long, then lets the event loop run
BSP_TREE_DEPTH = 12                # about right from a few notes to tens of thousands
REBUILD_AT_ONCE = 2000             # items a rebuild replaces on the spot, without waiting a turn
REBUILD_BATCH = 64                 # items made between two looks at the clock


class PianoRollView(QGraphicsView):
    zoom_changed = Signal()
    visible_notes_changed = Signal()   # notes or selection changed: the velocity lane repaints
    note_sounded = Signal(int, int, int)   # pitch, velocity, track: a note was drawn, clicked or moved

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

    # ------------------------------------------------------------------ mirror the document
    def _kind(self, note_id: int) -> NoteKind:
        return NoteKind.GENERATED if self.document.is_generated(note_id) else NoteKind.NORMAL

    @property
    def current_track(self) -> int:
        """The track drawn notes go into: the document's active track."""
        return self.document.active_track

    def track_look(self, track: int) -> tuple[int | None, bool]:
        return self._track_look(track)

    def _track_look(self, track: int) -> tuple[int | None, bool]:
        """(hue, drum) of a track's notes."""
        if not 0 <= track < self.document.track_count():
            return None, False
        info = self.document.track_info(track)
        return track_hue(info.color), info.is_drum

    def drum_lane_track(self) -> int | None:
        """The active track when it is a drum track (the keyboard shows the drum lane)."""
        active = self.document.active_track
        if 0 <= active < self.document.track_count() and self.document.track_info(active).is_drum:
            return active
        return None

    def _make_item(self, note_id: int) -> NoteItem:
        track, note = self.document.entry(note_id)
        item = NoteItem(note_id, geometry.note_rect(note), note.velocity, self._kind(note_id),
                        *self._track_look(track))
        if self._is_dimmed(track, note, self.drum_lane_track(), self.document.preview_replaces()):
            item.set_dimmed(True)
        self._items[note_id] = item
        return item

    @staticmethod
    def _is_dimmed(track: int, note: Note, lane: int | None,
                   replaced: tuple[int, int, int] | None) -> bool:
        """Faint: another track's note under the drum lane, or a note a Fill is replacing."""
        if lane is not None and track != lane:
            return True
        return replaced is not None and track == replaced[0] and replaced[1] <= note.start < replaced[2]

    def _on_tracks_changed(self) -> None:
        """Colours or drum flags may have changed: every item takes its track's look again.
        While the drum lane is shown, other tracks' notes are dimmed and cannot be picked."""
        for note_id, item in self._items.items():
            if note_id in self.document:
                track, note = self.document.entry(note_id)
                item.set_look(note.velocity, self._kind(note_id), *self._track_look(track))
        self._apply_dimming()

    def _apply_dimming(self) -> None:
        lane, replaced = self.drum_lane_track(), self.document.preview_replaces()
        self._dimming = (lane, replaced)
        for note_id, item in self._items.items():
            if note_id in self.document:
                track, note = self.document.entry(note_id)
                dimmed = self._is_dimmed(track, note, lane, replaced)
                if dimmed != item.dimmed:
                    item.set_dimmed(dimmed)

    def _rebuild(self) -> None:
        """Mirror a replaced document. Thousands of items take longer than a frame to make, so
        items go and come in slices of REBUILD_SLICE_S between turns of the event loop (a
        small piece is done at once). The old document's items are marked stale first: no
        query or edit reaches them while they wait to be removed."""
        scene = self.scene()
        self.gestures.current = None
        scene.clearSelection()
        stale = list(self._items.values()) + self._preview_items
        for item in stale:
            item.note_id, item.kind = -1, NoteKind.PREVIEW
        self._stale_items.extend(stale)
        self._items.clear()
        self._preview_items.clear()
        self._pending_ids = list(reversed(self.document.notes()))   # popped from the end: first notes first
        self._grow_scene(self.document.end_tick())
        self._on_preview()
        self.refresh_grid()
        if len(self._pending_ids) + len(stale) <= REBUILD_AT_ONCE:
            self._continue_rebuild()
        else:                    # a large file: the document's own signals run first
            self._rebuild_timer.start()

    def _continue_rebuild(self) -> None:
        scene = self.scene()
        deadline = time.perf_counter() + REBUILD_SLICE_S
        while self._stale_items and time.perf_counter() < deadline:
            for item in self._stale_items[-REBUILD_BATCH:]:
                scene.removeItem(item)
            del self._stale_items[-REBUILD_BATCH:]
        while self._pending_ids and time.perf_counter() < deadline:
            batch = self._pending_ids[-REBUILD_BATCH:]
            del self._pending_ids[-REBUILD_BATCH:]
            for note_id in reversed(batch):
                if note_id in self.document and note_id not in self._items:   # edits meanwhile
                    scene.addItem(self._make_item(note_id))
        if self.rebuild_pending():
            self._rebuild_timer.start()
        self.visible_notes_changed.emit()

    def rebuild_pending(self) -> bool:
        """True while a replaced document's items are still being made."""
        return bool(self._stale_items or self._pending_ids)

    def _on_added(self, ids: list[int]) -> None:
        for note_id in ids:
            self.scene().addItem(self._make_item(note_id))
        self._grow_scene(max(self.document.note(i).end for i in ids))
        self.visible_notes_changed.emit()

    def _on_removed(self, ids: list[int]) -> None:
        for note_id in ids:
            item = self._items.pop(note_id, None)
            if item is not None:
                self.scene().removeItem(item)
        self.visible_notes_changed.emit()

    def _on_changed(self, ids: list[int]) -> None:
        for note_id in ids:
            item = self._items.get(note_id)
            if item is None:
                continue
            track, note = self.document.entry(note_id)
            item.setRect(geometry.note_rect(note))
            item.set_look(note.velocity, self._kind(note_id), *self._track_look(track))
        self._grow_scene(max((self.document.note(i).end for i in ids if i in self._items), default=0))
        self.visible_notes_changed.emit()

    def _on_preview(self) -> None:
        notes = self.document.preview()
        if self._dimming != (self.drum_lane_track(), self.document.preview_replaces()):
            self._apply_dimming()   # a Fill began or ended: the notes it replaces go faint or back
        scene = self.scene()
        # Streaming grows the preview a few notes at a time: keep the common prefix.
        keep = 0
        while (keep < len(notes) and keep < len(self._preview_items)
               and self._preview_items[keep].rect() == geometry.note_rect(notes[keep])):
            keep += 1
        for item in self._preview_items[keep:]:
            scene.removeItem(item)
        del self._preview_items[keep:]
        for note in notes[keep:]:
            item = NoteItem(-1, geometry.note_rect(note), note.velocity, NoteKind.PREVIEW)
            scene.addItem(item)
            self._preview_items.append(item)
        if notes:
            self._grow_scene(max(n.end for n in notes))

    def _grow_scene(self, end_tick: int) -> None:
        rect = self.scene().sceneRect()
        if end_tick + MIN_SCENE_TICKS // 4 > rect.width():
            width = max(rect.width() * 2, end_tick + MIN_SCENE_TICKS // 4)
            self.scene().setSceneRect(QRectF(0, 0, width, geometry.scene_height()))

    def item_for(self, note_id: int) -> NoteItem | None:
        return self._items.get(note_id)

    def preview_item_count(self) -> int:
        return len(self._preview_items)

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
        paint_background(painter, rect, self.document.meter(), self.grid_step(), self.zoom)

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
        self.set_zoom(geometry.Zoom(self.zoom.pixels_per_tick * factor, self.zoom.row_pixels), anchor_x)

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
        moved = {i: n.moved(pitch=n.pitch + semitones, start=n.start + ticks) for i, n in notes.items()}
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
