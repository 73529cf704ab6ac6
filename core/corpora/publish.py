"""Publishing a folder atomically: written into .versions/, made current by replacing a symlink
(rename(2) is atomic), so a reader sees the old version or the new one, never half of one;
leftovers of killed imports are swept after an hour."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

from core.atomic import fsync_path
from core.corpora.errors import CorpusError

_VERSIONS = ".versions"


_STALE_S = 3600   # unpublished folders older than this are leftovers of killed imports


def publish_dir(root: Path, name: str, write: Callable[[Path], None]) -> Path:
    """Publish a folder as `root/name` atomically: `write` fills a temp folder, which is
    renamed into root/.versions/ and then made current by replacing the `root/name` symlink
    (rename(2) of a link is atomic). If `write` fails, the current version stays untouched."""
    versions = root / _VERSIONS
    versions.mkdir(parents=True, exist_ok=True)
    _sweep(root, versions)
    link = root / name
    if link.exists() and not link.is_symlink():
        raise CorpusError(f"{link} уже существует и создан не vecscope; сначала переместите его.")
    tmp = Path(tempfile.mkdtemp(dir=versions, prefix=f".tmp-{name}-"))
    try:
        write(tmp)
        for f in tmp.iterdir():
            fsync_path(f)
        final = versions / f"{name}-{time.strftime('%Y%m%d%H%M%S')}-{os.urandom(3).hex()}"
        os.replace(tmp, final)
        old = link.resolve() if link.is_symlink() else None
        new_link = root / f".link-{name}-{os.urandom(3).hex()}"
        os.symlink(Path(_VERSIONS) / final.name, new_link)
        os.replace(new_link, link)   # the one step that publishes the new version
        fsync_path(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None and old != final:
        shutil.rmtree(old, ignore_errors=True)
    return final


def unpublish_dir(root: Path, name: str) -> None:
    link = root / name
    folder = link.resolve()
    link.unlink()   # atomic: from here on it is gone for every reader
    shutil.rmtree(folder, ignore_errors=True)


def _sweep(root: Path, versions: Path) -> None:
    """Remove leftovers of killed writers: folders no link points to, older than an hour."""
    live = {p.resolve() for p in root.iterdir() if p.is_symlink()}
    for p in versions.iterdir():
        try:
            if p.resolve() not in live and time.time() - p.stat().st_mtime > _STALE_S:
                shutil.rmtree(p, ignore_errors=True)
        except FileNotFoundError:
            pass
