"""The roll view's note items kept in step with the Document, built in slices.

`NoteItemMirror` is the part of `view.PianoRollView` that mirrors the document: one
`NoteItem` per note id, made, moved, re-coloured or dropped as the document's signals
say; the streaming preview's items (keeping the prefix already drawn); notes outside the
scale of the key shown on the roll marked; muted tracks' notes
(and those a solo silences) drawn faint, still editable; the dimming of
other tracks' notes under the drum lane and of the notes a Fill is replacing; and the
rebuild after a replaced document, which removes the old items and makes the new ones in
slices of REBUILD_SLICE_S between turns of the event loop, so opening a large file never
freezes the window. It is a mixin: the view owns the scene, the item maps and the timer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import QRectF

from composer_app.canvas import geometry
from composer_app.canvas.note_item import NoteItem, NoteKind, track_hue
from composer_app.workers.gui_gc import freeze_large_load
from ml_core.music import Note

MIN_SCENE_TICKS = 480 * 4 * 64     # 64 bars of 4/4: room to draw in an empty document
REBUILD_SLICE_S = 0.008            # a rebuild works this long, then lets the event loop run
REBUILD_AT_ONCE = 1000             # items a rebuild replaces on the spot, without waiting a turn
REBUILD_BATCH = 4                  # items made or removed between two looks at the clock (16 let a
                                   # slice run to 39 ms while a worker held the interpreter lock)


@dataclass(frozen=True)
class _Looks:
    tracks: list[tuple[int | None, bool]]      # (hue, drum) per track
    lane: int | None                            # the drum lane's track, when shown
    replaced: tuple[int, int, int] | None       # (track, start, end) a Fill is replacing
    audible: list[bool]                         # per track: not muted, nor silenced by a solo


class NoteItemMirror:
    """Mixin of `PianoRollView`: its items follow the document's notes and preview."""

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

    def _make_item(self, note_id: int, looks: _Looks | None = None) -> NoteItem:
        """The item of a note (remembered in `_items`; the caller adds it to the scene).
        `looks` shares the tracks' looks among many items made in one go."""
        looks = looks if looks is not None else self._looks()
        track, note = self.document.entry(note_id)
        hue, drum = looks.tracks[track] if 0 <= track < len(looks.tracks) else (None, False)
        item = NoteItem(note_id, geometry.note_rect(note), note.velocity,
                        self._kind(note_id), hue, drum)
        if self._is_dimmed(track, note, looks.lane, looks.replaced):
            item.set_dimmed(True)
        if 0 <= track < len(looks.audible) and not looks.audible[track]:
            item.set_silent(True)
        self._mark_scale(item, note.pitch)
        self._items[note_id] = item
        return item

    def _looks(self) -> _Looks:
        """What items made now share: each track's (hue, drum), the drum lane, the Fill span."""
        tracks = [self._track_look(track) for track in range(self.document.track_count())]
        return _Looks(tracks, self.drum_lane_track(), self.document.preview_replaces(),
                      self.document.audible_tracks())

    @staticmethod
    def _is_dimmed(track: int, note: Note, lane: int | None,
                   replaced: tuple[int, int, int] | None) -> bool:
        """Faint: another track's note under the drum lane, or a note a Fill is replacing."""
        if lane is not None and track != lane:
            return True
        return (replaced is not None and track == replaced[0]
                and replaced[1] <= note.start < replaced[2])

    def _mark_scale(self, item: NoteItem, pitch: int) -> None:
        """A pitched note outside the scale of the key shown is marked."""
        scale = self.scale
        item.set_outside(scale is not None and not item.drum and pitch % 12 not in scale[1])

    def _mark_all_scale(self) -> None:
        for note_id, item in self._items.items():
            if note_id in self.document:
                self._mark_scale(item, self.document.note(note_id).pitch)
        for item, note in zip(self._preview_items, self.document.preview(), strict=False):
            self._mark_scale(item, note.pitch)

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
        audible = self.document.audible_tracks()
        self._dimming = (lane, replaced)
        for note_id, item in self._items.items():
            if note_id in self.document:
                track, note = self.document.entry(note_id)
                dimmed = self._is_dimmed(track, note, lane, replaced)
                if dimmed != item.dimmed:
                    item.set_dimmed(dimmed)
                silent = 0 <= track < len(audible) and not audible[track]
                if silent != item.silent:
                    item.set_silent(silent)

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
        # popped from the end: first notes first
        self._pending_ids = self.document.note_ids()[::-1]
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
        looks = self._looks()
        while self._pending_ids and time.perf_counter() < deadline:
            batch = self._pending_ids[-REBUILD_BATCH:]
            del self._pending_ids[-REBUILD_BATCH:]
            for note_id in reversed(batch):
                if note_id in self.document and note_id not in self._items:   # edits meanwhile
                    scene.addItem(self._make_item(note_id, looks))
        if self.rebuild_pending():
            self._rebuild_timer.start()
        else:                    # every item made: a large piece's are out of the collector's sight
            freeze_large_load(len(self._items))
        self.visible_notes_changed.emit()

    def rebuild_pending(self) -> bool:
        """True while a replaced document's items are still being made."""
        return bool(self._stale_items or self._pending_ids)

    def _on_added(self, ids: list[int]) -> None:
        looks = self._looks()
        for note_id in ids:
            self.scene().addItem(self._make_item(note_id, looks))
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
            self._mark_scale(item, note.pitch)
        self._grow_scene(max((self.document.note(i).end for i in ids if i in self._items),
                             default=0))
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
            self._mark_scale(item, note.pitch)
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

