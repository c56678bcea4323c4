"""Worker threads and living with them on a Qt GUI thread.

`threads` is the registry every worker thread is started through (so each is stopped
and joined at shutdown, and tests fail one that leaks) plus `WorkerSignals`, whose
`post` emits a signal on the GUI thread from any thread; `gui_gc` runs Python's cyclic
garbage collector on the GUI thread only, so no worker ever destroys a widget.
"""
