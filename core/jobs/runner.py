"""Background jobs for slow work (UMAP, fine-tuning) so the UI never blocks.

A job runs a function in a daemon thread; the function receives `progress(done, total, **info)`
and `should_stop()` callables. The UI polls `.fraction`, `.done`, `.result`, `.error`.
Jobs live in a registry keyed by what they compute, so two sessions asking for the same
map share one job instead of computing it twice."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable


class Job:
    def __init__(self, fn: Callable[..., Any], *args, **kwargs) -> None:
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self.done_units, self.total_units = 0, 0
        self.info: dict[str, Any] = {}       # what the job says about its progress (loss, eta_s, …)
        self.result: Any = None
        self.error: BaseException | None = None
        self.started = time.time()
        self.finished: float | None = None
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Job":
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.result = self._fn(*self._args, progress=self._progress, should_stop=self._cancel.is_set,
                                   **self._kwargs)
        except BaseException as exc:  # reported to the UI, never lost in a thread
            self.error = exc
        finally:
            self.finished = time.time()

    def _progress(self, done: int, total: int, **info: Any) -> None:
        self.done_units, self.total_units = done, total
        if info:
            self.info = info

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def done(self) -> bool:
        return self.finished is not None

    @property
    def fraction(self) -> float:
        return self.done_units / self.total_units if self.total_units else 0.0

    def wait(self, timeout: float | None = None) -> "Job":
        self._thread.join(timeout)
        return self


class JobRegistry:
    """One job per key; a finished job stays until replaced or dropped."""

    def __init__(self) -> None:
        self._jobs: dict[Any, Job] = {}
        self._lock = threading.Lock()

    def get(self, key) -> Job | None:
        return self._jobs.get(key)

    def start(self, key, fn: Callable[..., Any], *args, **kwargs) -> Job:
        with self._lock:
            job = self._jobs.get(key)
            if job is None or (job.done and (job.error or job.cancelled)):
                job = self._jobs[key] = Job(fn, *args, **kwargs).start()
            return job

    def drop(self, key) -> None:
        with self._lock:
            self._jobs.pop(key, None)
