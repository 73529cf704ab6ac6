"""The one error a bad corpus raises: its message says in Russian what is wrong and where
(file, column, row), so pages and the CLI show it as it is."""
from __future__ import annotations


class CorpusError(ValueError):
    """A corpus file cannot be used; the message says what, where and how to fix it."""
