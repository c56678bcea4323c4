"""The timeline: where the playhead is, which region loops, whether the view follows.

One `Timeline` per window, shared by everything that shows or moves the playhead: the
roll draws the playhead line and the loop band, the ruler draws the marker and sets
both, the player writes the playhead while it plays. Nobody writes into another view;
each writes here and observes the changes. Qt-free, and independent of the Document:
moving the playhead or the loop never edits the composition and adds no undo step.
"""

from __future__ import annotations

from composer_app.model.events import Event, next_stamp

Loop = tuple[int, int]


def normalized_loop(loop: tuple[int, int] | None) -> Loop | None:
    """(start, end) in order and clamped to tick 0; None for no loop or an empty one."""
    if loop is None:
        return None
    start, end = sorted((max(0, int(loop[0])), max(0, int(loop[1]))))
    return (start, end) if end > start else None


class Timeline:
    """Playhead tick, loop region and follow-playback, with change events.

    Events: `playhead_changed(tick)`, `loop_changed(loop or None)`,
    `playing_changed(bool)` and `follow_changed(bool)`; each fires only on a real change.
    """

    def __init__(self) -> None:
        self._playhead = 0
        self._loop: Loop | None = None
        self.loop_stamp = 0           # `events.next_stamp()` of the last loop change
        self._playing = False
        self._follow_playback = True  # the roll scrolls to keep the playhead in view while playing
        self.playhead_changed = Event()
        self.loop_changed = Event()
        self.playing_changed = Event()
        self.follow_changed = Event()

    @property
    def playhead(self) -> int:
        return self._playhead

    @property
    def loop(self) -> Loop | None:
        return self._loop

    @property
    def playing(self) -> bool:
        """True while the player plays (the roll follows the playhead only then)."""
        return self._playing

    @property
    def follow_playback(self) -> bool:
        return self._follow_playback

    def set_playhead(self, tick: int) -> None:
        tick = max(0, int(tick))
        if tick != self._playhead:
            self._playhead = tick
            self.playhead_changed.emit(tick)

    def set_loop(self, loop: tuple[int, int] | None) -> None:
        loop = normalized_loop(loop)
        if loop != self._loop:
            self._loop = loop
            self.loop_stamp = next_stamp()
            self.loop_changed.emit(loop)

    def set_playing(self, playing: bool) -> None:
        if bool(playing) != self._playing:
            self._playing = bool(playing)
            self.playing_changed.emit(self._playing)

    def set_follow_playback(self, follow: bool) -> None:
        if bool(follow) != self._follow_playback:
            self._follow_playback = bool(follow)
            self.follow_changed.emit(self._follow_playback)

    def start_of_playback(self, end_tick: int) -> int:
        """Where Play starts: the playhead, moved into the loop when one is set (to its
        start when outside it); without a loop, at or past `end_tick` (the music's end)
        playback starts from the top, as in any DAW."""
        start = self._playhead
        if self._loop is not None and not self._loop[0] <= start < self._loop[1]:
            start = self._loop[0]
        if self._loop is None and start >= end_tick:
            start = 0
        return start
