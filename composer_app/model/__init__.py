"""The app's Qt-free model layer: state that views observe and never keep themselves.

- `events`: `Event`, the change notification these models emit;
- `timeline`: `Timeline` (playhead, loop, playing, follow-playback);
- `selection`: `Selection` (the selected note ids; the roll marks it changed);
- `jobs`: a Continue/Fill `ContinueJob`, the worker's `ContinueProgress` / `ContinueResult`,
  and `MakeRoom` (what the new notes replace, shift or cut);
- `session`: `ContinueSession`, the state of one Continue or Fill over the document;
- `comp`: `Comp`, which bars of which variation a comp of a continuation keeps;
- `window`: `MenuSection` and `WindowHost`, what the `install_*` plug-ins see of the window.

Importing any of these loads no Qt (tests/composer_app/test_model_layer.py checks it).
"""
