"""The one Score serializer: a Score as plain data and back.

`score_to_dict(score)` gives JSON-ready data (the app's recovery file, the parsed-file
cache of `ml_core.data`); `score_to_dict(score, packed=True)` packs each track's notes
into bytes instead, which a child process hands back through a pipe far faster than lists
(`composer_app.document.reading`). `score_from_dict` reads either.

The layout follows the dataclasses themselves, so a new field travels without code here:
every field of `Score` and `Track` is stored under its own name; a list of small event
dataclasses (tempo changes, time-signature changes, ...) as rows of their field values in
declaration order, a single one (or one that may be None) as one such row; a tuple as a
list. Reading converts by the field's type hint (a dataclass is built from its row; int,
float, bool and str are cast; a tuple is made a tuple), and a field missing from older
data keeps its default. Notes are the one explicit
layout: rows of (pitch, start, duration, velocity), `Note`'s positional order.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from array import array
from typing import Any

from ml_core.music import Note, Score, Track

NOTE_FIELDS = ("pitch", "start", "duration", "velocity")   # a note's row, in Note(...) order


def score_to_dict(score: Score, *, packed: bool = False) -> dict[str, Any]:
    """`score` as plain data; `packed`: each track's notes as bytes of int64 (not JSON)."""
    data = _fields_to_dict(score, skip=("tracks",))
    data["tracks"] = [_track_to_dict(track, packed) for track in score.tracks]
    return data


def score_from_dict(data: dict[str, Any]) -> Score:
    """The Score `score_to_dict` described (packed or not). KeyError, TypeError or
    ValueError on data that is not one."""
    values = _fields_from_dict(Score, data, skip=("tracks",))
    values["tracks"] = [_track_from_dict(track) for track in data["tracks"]]
    return Score(**values)


def _track_to_dict(track: Track, packed: bool) -> dict[str, Any]:
    data = _fields_to_dict(track, skip=("notes",))
    if packed:
        numbers = array("q")
        for note in track.notes:
            numbers.extend((note.pitch, note.start, note.duration, note.velocity))
        data["notes"] = numbers.tobytes()
    else:
        data["notes"] = [[note.pitch, note.start, note.duration, note.velocity]
                         for note in track.notes]
    return data


def _track_from_dict(data: dict[str, Any]) -> Track:
    values = _fields_from_dict(Track, data, skip=("notes",))
    notes = data["notes"]
    if isinstance(notes, (bytes, bytearray)):
        numbers = array("q")
        numbers.frombytes(notes)
        values["notes"] = [Note(*numbers[i:i + 4]) for i in range(0, len(numbers), 4)]
    else:
        values["notes"] = [Note(*map(int, row)) for row in notes]
    return Track(**values)


def _fields_to_dict(instance: Any, skip: tuple[str, ...]) -> dict[str, Any]:
    data = {}
    for item in dataclasses.fields(instance):
        if item.name not in skip:
            data[item.name] = _plain(getattr(instance, item.name))
    return data


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return [_plain(getattr(value, item.name)) for item in dataclasses.fields(value)]
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _fields_from_dict(cls: type, data: dict[str, Any], skip: tuple[str, ...]) -> dict[str, Any]:
    hints = _hints(cls)
    return {item.name: _typed(hints[item.name], data[item.name])
            for item in dataclasses.fields(cls) if item.name not in skip and item.name in data}


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _typed(hint: Any, value: Any) -> Any:
    """`value` (plain data) made the type `hint` names."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if value is None:
        return None
    if origin in (typing.Union, types.UnionType):   # X | None: the X it holds
        kinds = [kind for kind in arguments if kind is not type(None)]
        return _typed(kinds[0], value) if len(kinds) == 1 else value
    if dataclasses.is_dataclass(hint):
        return _event(hint, value)
    if origin is list and arguments and dataclasses.is_dataclass(arguments[0]):
        return [_event(arguments[0], row) for row in value]
    if origin is list and arguments:
        return [_typed(arguments[0], item) for item in value]
    if origin is tuple:
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            return tuple(_typed(arguments[0], item) for item in value)
        return tuple(_typed(kind, item) for kind, item in zip(arguments, value, strict=True))
    if hint in (int, float, bool, str):
        return hint(value)
    return value   # unions and anything else: as stored


def _event(cls: type, row: Any) -> Any:
    hints = _hints(cls)
    fields = dataclasses.fields(cls)
    return cls(*(_typed(hints[item.name], value) for item, value in zip(fields, row, strict=True)))
