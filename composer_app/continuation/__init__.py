"""Continue: letting a trained model extend the musician's motif.

`session.ContinueSession` is the Qt-free model of one continuation (the running job,
its variations, the chosen one, pending / accepted / undone, and the undo command it
maps to); `worker` runs generation on a worker thread and streams progress; `prompt`
cuts the prompt out of the score; `panel.ContinuePanel` renders the session and offers
Continue / Stop / Re-roll / Accept; `model_panel`, `sampling_panel` and
`confidence_view` are the model choice, the sampling options and the confidence plots.
"""
