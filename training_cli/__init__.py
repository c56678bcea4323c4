"""`composer-train`: the command-line front over ml_core (prepare, train, evaluate, generate,
models)."""
