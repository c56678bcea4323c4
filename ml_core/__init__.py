"""Everything musical and neural: the Score model, MIDI I/O, tokenizers, models,
bundles, generation and training. No Qt here (a test enforces it)."""
