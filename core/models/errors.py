"""The one error every model loader raises (the model file reader included), so a page or the
CLI catches a single type and shows its message."""


class EncoderLoadError(RuntimeError):
    """A model cannot be loaded; the message says which and how to fix it."""
