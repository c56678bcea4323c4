"""Scripts that draw the documentation's pictures, run as `python -m docs.NAME` from the
repository root (screenshots of the app, the quality pictures)."""
