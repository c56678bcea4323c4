"""The composition being edited and everything that changes or stores it as a whole.

`document.Document` is the widget-free model (notes with stable ids, tempo, meter, an
undo stack and change signals); `commands` holds the undo commands every edit becomes;
`autosave` keeps a crash-recovery copy; `file_actions` are the New / Open / Save /
Export commands of the File menu. Views never keep their own copy of a note: they
observe the Document.
"""
