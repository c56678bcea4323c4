"""The piano-roll canvas: ruler, keyboard, roll and velocity lane laid out as one widget.

This is the editor surface other parts talk to: `selected_notes()`, the shared
`timeline` (playhead and loop; `playhead_tick`, `set_playhead` and `loop_range` read and
write it), the shared `selection` model (the roll marks it changed; readers such as the
Continue panel read it there), `key_pressed(pitch)` for note previews, plus tool, grid
and zoom controls for the toolbar. The canvas keeps no playhead of its own: the roll and
the ruler observe the Timeline, and so does whoever else moves the playhead (the player).
When a preview starts (the document's preview goes from empty to notes) the roll goes to
its first note, and as it streams on the roll pages along so its newest bar stays in view
(as playback follows the playhead), so a continuation is seen as it is written.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QGraphicsScene, QGridLayout, QWidget

from composer_app.canvas import geometry
from composer_app.canvas.keyboard import Keyboard
from composer_app.canvas.ruler import Ruler
from composer_app.canvas.velocity_lane import VelocityLane
from composer_app.canvas.view import PianoRollView, Tool
from composer_app.document.document import Document
from composer_app.model.selection import Selection
from composer_app.model.timeline import Timeline
from ml_core.keys import scale_pitch_classes
from ml_core.music import Note

DEFAULT_CENTER_PITCH = 66
DRUM_CENTER_PITCH = 41   # the drum lane opens on kick (36), snare (38) and hi-hats (42, 46)


class PianoRollCanvas(QWidget):
    key_pressed = Signal(int)          # a keyboard key was clicked: preview this pitch
    playhead_moved = Signal(int)       # the musician moved the playhead (ruler click)
    loop_changed = Signal(object)      # the timeline's loop changed: (start, end) ticks or None

    def __init__(self, document: Document, parent: QWidget | None = None, *,
                 timeline: Timeline | None = None, selection: Selection | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.timeline = timeline if timeline is not None else Timeline()
        self.selection = selection if selection is not None else Selection()
        self.view = PianoRollView(document, self.timeline, self)
        self.selection.bind(self.view.selected_ids)
        self.view.scene().selectionChanged.connect(self.selection.mark_changed)
        self.keyboard = Keyboard(self.view, self)
        self.ruler = Ruler(self.view, self.timeline, self)
        self.velocity_lane = VelocityLane(self.view, self)

        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.ruler, 0, 1)
        layout.addWidget(self.keyboard, 1, 0)
        layout.addWidget(self.view, 1, 1)
        layout.addWidget(self.velocity_lane, 2, 1)
        layout.setRowStretch(1, 1)
        layout.setColumnStretch(1, 1)

        self.keyboard.key_pressed.connect(self.key_pressed)
        self.ruler.playhead_clicked.connect(self.playhead_moved)
        self.timeline.loop_changed.connect(self.loop_changed.emit)
        self.view.zoom_changed.connect(self.keyboard.update)
        document.reset.connect(self._after_reset)
        document.tracks_changed.connect(self._show_active_track)
        document.active_track_changed.connect(self._show_active_track)
        document.preview_changed.connect(self._follow_preview)
        self._centered = False
        self._key: tuple[int, str] | None = None   # the key whose scale is shaded (set_key)
        self.scale_shown = True
        self.scale_snap = False    # drawn and dragged notes land on the key's scale
        self._previewing = False   # the document holds preview notes (a job is writing)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._centered:   # the viewport has its real size only once shown
            self._centered = True
            self._after_reset()

    # ------------------------------------------------------------ contract used by other panels
    @property
    def scene(self) -> QGraphicsScene:
        return self.view.scene()

    def selected_ids(self) -> list[int]:
        return self.view.selected_ids()

    def selected_notes(self) -> list[Note]:
        """The selected notes, in time order."""
        return sorted(self.document.note(i) for i in self.view.selected_ids())

    def select_ids(self, ids: list[int] | set[int]) -> None:
        self.view.select_ids(ids)

    @property
    def playhead_tick(self) -> int:
        return self.timeline.playhead

    def set_playhead(self, tick: int) -> None:
        self.timeline.set_playhead(tick)

    @property
    def loop_range(self) -> tuple[int, int] | None:
        return self.timeline.loop

    def set_loop_range(self, loop: tuple[int, int] | None) -> None:
        self.timeline.set_loop(loop)

    # ------------------------------------------------------------------ tools, grid, zoom
    @property
    def tool(self) -> Tool:
        return self.view.tool

    def set_tool(self, tool: Tool) -> None:
        self.view.tool = tool

    @property
    def grid_label(self) -> str:
        return self.view.grid_label

    def set_grid(self, label: str) -> None:
        self.view.set_grid(label)
        self.ruler.update()

    def grid_step(self) -> int:
        return self.view.grid_step()

    def zoom_in(self) -> None:
        self.view.zoom_by(geometry.ZOOM_STEP)

    def zoom_out(self) -> None:
        self.view.zoom_by(1 / geometry.ZOOM_STEP)

    def set_zoom(self, zoom: geometry.Zoom) -> None:
        self.view.set_zoom(zoom)

    def select_all(self) -> None:
        self.view.select_all()

    def reveal(self, tick: int, pitch: int | None = None) -> None:
        """Scroll so `tick` (and `pitch`) can be seen, if it is not in view already."""
        self.view.reveal(tick, pitch)

    def set_key(self, key: tuple[int, str] | None) -> None:
        """The key whose scale the roll shades (written or estimated, or picked by the
        musician; None: none), shown while `scale_shown`."""
        self._key = key
        drums = self.keyboard.drum_mode   # a drum lane's rows are instruments, not pitches
        self.view.set_key(key if self.scale_shown and not drums else None)
        self.view.snap_classes = (scale_pitch_classes(key[0], key[1], leading_tone=True)
                                  if self.scale_snap and key and not drums else frozenset())

    def set_scale_shown(self, shown: bool) -> None:
        """View > Show Scale: shade the key's rows and mark the notes outside it, or not."""
        self.scale_shown = bool(shown)
        self.set_key(self._key)

    def set_scale_snap(self, on: bool) -> None:
        """View > Snap to Scale: a drawn or dragged note's pitch moves to the nearest pitch
        of the key's scale (the key the roll shades; Shift drags freely), or not."""
        self.scale_snap = bool(on)
        self.set_key(self._key)

    def reveal_notes(self, ids: list[int]) -> None:
        notes = [self.document.note(i) for i in ids if i in self.document]
        if notes:
            first = min(notes)
            self.view.reveal(first.start, first.pitch)

    def delete_selected(self) -> None:
        self.view.delete_selected()

    def duplicate_selected(self) -> list[int]:
        return self.view.duplicate_selected()

    def select_all_in_track(self) -> None:
        self.view.select_all_in_track(self.document.active_track)

    # ------------------------------------------------------------------ internals
    def _follow_preview(self) -> None:
        """A preview started: go where its notes appear (a long piece, a far playhead); as
        it streams past the right edge, page along to its newest notes."""
        notes = self.document.preview()
        if notes and not self._previewing:
            self.view.reveal(min(n.start for n in notes), notes[0].pitch)
        elif notes:
            self.view.reveal(max(n.start for n in notes))
        self._previewing = bool(notes)

    def _show_active_track(self, *_args: object) -> None:
        track = self.document.active_track
        drums = track < self.document.track_count() and self.document.track_info(track).is_drum
        if drums and not self.keyboard.drum_mode:   # the lane opens on the kit's core rows
            self.view.scroll_to(int(self.view.visible_scene_rect().left()) + 1, DRUM_CENTER_PITCH)
        self.keyboard.set_drum_mode(drums)
        self.set_key(self._key)

    def _after_reset(self) -> None:
        """A new document: playhead home, no loop, the music's pitch range in view."""
        self.set_playhead(0)
        self.set_loop_range(None)
        span = self.document.loaded_pitch_span   # prepared with the file: no pass over its notes
        center = (span[0] + span[1]) // 2 if span else DEFAULT_CENTER_PITCH
        self.view.scroll_to(0, DRUM_CENTER_PITCH if self.keyboard.drum_mode else center)
