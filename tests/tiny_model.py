"""A tiny sentence-transformers model built locally, so the sentence-transformers path is
tested without any download: a WordPiece tokenizer trained on the given texts + a 2-layer
BERT with random weights, mean pooling, normalisation, e5-style prompts, safetensors."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable


def build_tiny_model(folder: Path, texts: Iterable[str], seed: int = 0) -> Path:
    import torch
    from sentence_transformers import SentenceTransformer, models
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, trainers
    from tokenizers import models as tok_models
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    torch.manual_seed(seed)
    folder = Path(folder)
    raw = folder / "hf"
    raw.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(tok_models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    texts = [t for text in texts for t in (text, f"query: {text}", f"passage: {text}")]
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=2000, special_tokens=specials))
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                     cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                     model_max_length=128)
    hf_tok.save_pretrained(raw)
    config = BertConfig(vocab_size=hf_tok.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=130)
    BertModel(config).save_pretrained(raw, safe_serialization=True)
    word = models.Transformer(str(raw), max_seq_length=128)
    model = SentenceTransformer(modules=[word, models.Pooling(word.get_embedding_dimension(), "mean"),
                                         models.Normalize()],
                                prompts={"query": "query: ", "document": "passage: "}, device="cpu")
    out = folder / "tiny-e5"
    model.save(str(out), safe_serialization=True)
    return out
