"""Everything the demo's pages need, prepared once before the server opens, so a first session
waits on nothing: the bundled corpora embedded with the default model, numba's UMAP code
compiled (and cached on disk), the default maps of channels and posts.

    python -m core warmup            # what scripts/start.sh runs; seconds when all is cached

All of it lands in the same disk caches the pages read (embeddings, projections, fitted
post-processing), keyed as the pages key them, so nothing is recomputed on the first click.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Callable, TextIO

from core.config import Settings

Report = Callable[[str, int, int], None]      # (step label, done, total)


@dataclass
class Step:
    label: str
    seconds: float
    done: int


def _encoder(settings: Settings):
    from core.models.registry import load_encoder, load_registry
    default, specs = load_registry(*settings.registry_files)
    spec = next(s for s in specs if s.name == default)
    return load_encoder(spec, specs, [settings.models_dir])


def warm(settings: Settings, report: Report | None = None) -> list[Step]:
    """Prepare the demo; returns what each step took. `report(label, done, total)` is called
    often (every 16 texts while embedding) so a progress bar can move and estimate."""
    from core.corpora.catalog import Catalog
    from core.maps import projection as proj
    from core.retrieval.cache import EmbeddingCache, cache_id
    from core.retrieval.channels import SpaceSpec, build_space
    from core.retrieval.search import build_corpus_index

    report = report or (lambda *_: None)
    steps: list[Step] = []

    def step(label: str, fn, total: int = 1):
        t = time.perf_counter()
        report(label, 0, total)
        out = fn(lambda d, n: report(label, d, n or total))
        report(label, total, total)
        steps.append(Step(label, time.perf_counter() - t, total))
        return out

    enc = step("модель e5-small", lambda _p: _encoder(settings))
    catalog = Catalog(settings)
    cache = EmbeddingCache(settings.cache_dir, cache_id(enc))
    indexes = {}
    for name in catalog.builtin():
        corpus = catalog.load(name)
        indexes[name] = step(f"эмбеддинги «{name}»",
                             lambda p, c=corpus: build_corpus_index(c, enc, cache, progress=p), len(corpus))
    step("компиляция UMAP (numba, один раз на машину)", lambda _p: proj.warm_up())
    maps = {}
    if "channels" in indexes:
        posts = indexes.get("posts")
        space = build_space(SpaceSpec(), cache_id(enc), indexes["channels"].corpus, indexes["channels"].vectors,
                            posts.corpus if posts else None, posts.vectors if posts else None, settings.cache_dir)
        maps["channels"] = space.index
    if "posts" in indexes:
        maps["posts"] = indexes["posts"]
    for name, ci in maps.items():
        step(f"карта «{name}» (UMAP)", lambda p, ci=ci: proj.cached_projection(
            settings.cache_dir, ci.model_id, ci.corpus.content_hash, ci.vectors, {}, progress=p), len(ci.corpus))
    return steps


class TerminalBar:
    """One line per step: a bar, done of total, rate and time left; redrawn in place on a
    terminal (at most ~10 times a second), a line every few seconds in a log."""

    def __init__(self, out: TextIO = sys.stderr, width: int = 28) -> None:
        self.out, self.width, self.tty = out, width, out.isatty()
        self.label, self.started, self.last = None, 0.0, 0.0

    def __call__(self, label: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if label != self.label:
            if self.label is not None and self.tty:
                self.out.write("\n")
            self.label, self.started, self.last = label, now, 0.0
        final = done >= total
        if not final and now - self.last < (0.1 if self.tty else 5.0):
            return
        self.last = now
        self.out.write(("\r" if self.tty else "") + self.line(label, done, total, now - self.started)
                       + ("" if self.tty else "\n"))
        self.out.flush()

    def line(self, label: str, done: int, total: int, elapsed: float) -> str:
        share = done / total if total else 1.0
        bar = "█" * int(share * self.width) + "·" * (self.width - int(share * self.width))
        tail = f"{elapsed:.0f} с" if done >= total else (
            f"осталось ~{elapsed / done * (total - done):.0f} с" if done else "оцениваем…")
        count = f"{done} из {total}" if total > 1 else ("готово" if done >= total else "…")
        return f"{label:<44} {bar} {count:>14}  {tail:<18}"

    def close(self) -> None:
        if self.tty and self.label is not None:
            self.out.write("\n")
            self.out.flush()


def main() -> int:
    settings = Settings.from_env()
    print("Готовим демо: модель, эмбеддинги корпусов, компиляция UMAP и карты. Первый раз — несколько "
          "минут, потом — секунды (всё берётся из кэша на диске).", file=sys.stderr, flush=True)
    bar = TerminalBar()
    t = time.perf_counter()
    warm(settings, bar)
    bar.close()
    print(f"Готово за {time.perf_counter() - t:.0f} с.", file=sys.stderr, flush=True)
    return 0
