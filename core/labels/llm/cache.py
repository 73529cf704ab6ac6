"""The judge's answers on disk, so the same question is never asked twice: an append-only JSONL
under the cache folder, keyed by sha256 of (endpoint, model, prompt version, query, need, text).
An answer that gave no grade is kept too; the texts themselves are not stored."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path

from core import display
from core.labels.llm.client import PROMPT_VERSION, clip, grade_value
from core.labels.llm.config import JudgeConfig


def cache_file(cache_dir) -> Path:
    return Path(cache_dir) / "llm_judge" / "answers.jsonl"


def question_key(config: JudgeConfig, query: str, text: str, need: str = "") -> str:
    parts = [config.base_url, config.model, PROMPT_VERSION, str(query), str(need or ""), clip(text)]
    return hashlib.sha256(json.dumps(parts).encode("ascii")).hexdigest()


class AnswerCache:
    """Answers on disk, one JSON line each, appended under a file lock; the last line of a key
    wins, a damaged line is skipped. The texts themselves are not stored, only their key."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = threading.Lock()

    def load(self) -> dict[str, int | None]:
        if not self.path.exists():
            return {}
        out: dict[str, int | None] = {}
        with open(self.path, "rb") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH)
            raw = f.read()
        for line in raw.decode("utf-8", "replace").splitlines():
            try:
                row = json.loads(line)
                out[str(row["key"])] = grade_value(row.get("grade"))
            except (ValueError, KeyError, TypeError):
                continue
        return out

    def add(self, key: str, grade: int | None, model: str, answer: str | None) -> None:
        row = {"key": key, "grade": grade, "model": model, "answer": display.snippet(answer or "", 200),
               "ts": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        data = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, data)
            finally:
                os.close(fd)
