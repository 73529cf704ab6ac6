"""The query adapter: identity at init, training, weights on disk, and that it learns a map
that generalises to held-out queries. Synthetic data and the keyword encoder only: no model."""
import numpy as np
import pytest

from core.models.adapter import AdapterEncoder, AdapterWeights, retrieval_scores, train_adapter
from core.models.encoders import EncoderLoadError, l2_normalise
from core.models.registry import ModelSpec, load_encoder, load_registry, register_model
from tests.conftest import KeywordEncoder

TEXTS = ["кот спит на диване", "собака бежит", "мем про кота"]


def reflected_pairs(n=300, d=32, sub=12, noise=0.05, seed=0):
    """Docs are random unit vectors; each query is its doc reflected in a fixed 12-d subspace
    (an orthogonal map, so q . d is ~0 on average) plus a little noise."""
    rng = np.random.default_rng(seed)
    docs = l2_normalise(rng.normal(size=(n, d)))
    basis = np.linalg.qr(rng.normal(size=(d, sub)))[0]
    reflect = np.eye(d) - 2 * basis @ basis.T
    queries = l2_normalise(docs @ reflect.T + noise * rng.normal(size=(n, d)))
    return queries, docs


def test_adapter_at_init_equals_the_base_encoder(tmp_path):
    base = KeywordEncoder()
    path = AdapterWeights.identity(base.dim, rank=8).save(tmp_path / "a.npz")
    enc = AdapterEncoder(base, path)
    assert enc.dim == base.dim and enc.passage_id == base.id
    assert enc.id.startswith(f"{base.id}+adapter:") and len(enc.id.split(":")[-1]) == 12
    for kind in ("query", "passage"):
        np.testing.assert_allclose(enc.encode(TEXTS, kind), base.encode(TEXTS, kind), atol=1e-6)
    assert enc.encode([], "query").shape == (0, base.dim)


def test_only_queries_move_and_vectors_stay_normalised(tmp_path):
    base = KeywordEncoder()
    w = AdapterWeights.identity(base.dim, rank=4, seed=1)
    w.U = np.random.default_rng(2).normal(size=w.U.shape).astype(np.float32)
    enc = AdapterEncoder(base, w.save(tmp_path / "a.npz"))
    q = enc.encode(TEXTS, "query")
    assert q.dtype == np.float32 and np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(q, base.encode(TEXTS, "query"))
    np.testing.assert_array_equal(enc.encode(TEXTS, "passage"), base.encode(TEXTS, "passage"))


def test_training_reduces_loss_and_weights_round_trip_through_npz(tmp_path):
    q, d = reflected_pairs(n=120)
    w, history = train_adapter(q, d, val_fraction=0.0, epochs=15, rank=8, seed=0)
    assert history[0]["epoch"] == 0 and len(history) == 16
    assert history[-1]["train_loss"] < 0.7 * history[0]["train_loss"]
    path = w.save(tmp_path / "w.npz")
    with np.load(path, allow_pickle=False) as z:      # plain arrays: no pickle needed to read
        assert set(z.files) == {"U", "V", "meta"}
    back = AdapterWeights.load(path)
    np.testing.assert_array_equal(back.U, w.U)
    np.testing.assert_array_equal(back.V, w.V)
    assert back.meta["rank"] == 8 and back.meta["format"] == "vecscope-adapter/1"
    np.testing.assert_allclose(back.apply(q[:5]), w.apply(q[:5]), atol=1e-6)


def test_adapter_learns_a_fixed_map_and_improves_held_out_recall():
    q, d = reflected_pairs()
    train, held = np.arange(len(q)) < 200, np.arange(len(q)) >= 200
    w, history = train_adapter(q[train], d[train], doc_vecs=d, rank=16, seed=0)
    pos = np.flatnonzero(held)                        # query i's doc is row i of d
    before = retrieval_scores(q[held], d, pos)
    after = retrieval_scores(w.apply(q[held]), d, pos)
    # measured: recall@10 0.38 -> 0.85 on these 100 unseen queries (docs never trained on)
    assert after["recall@10"] > before["recall@10"] + 0.3
    assert after["mrr@10"] > before["mrr@10"] + 0.3
    assert w.meta["best_epoch"] > 0 and w.meta["n_val"] > 0


def test_early_stopping_returns_identity_when_training_cannot_help():
    """Queries equal to their docs: base retrieval is already perfect, so epoch 0 (identity) wins."""
    _, d = reflected_pairs(n=80)
    w, _ = train_adapter(d, d, epochs=5, rank=4, seed=0)
    assert w.meta["best_epoch"] == 0
    np.testing.assert_array_equal(w.U, 0)


def test_batch_negatives_ignore_repeated_positives():
    """Two queries of one doc in a batch: neither is pushed away from the other's positive."""
    q, d = reflected_pairs(n=60)
    q2 = np.concatenate([q, l2_normalise(q + 0.01)])
    d2 = np.concatenate([d, d])
    w, history = train_adapter(q2, d2, epochs=3, rank=4, batch_size=120, val_fraction=0.0)
    assert np.isfinite([h["train_loss"] for h in history]).all()


def test_bad_weights_files_are_refused_with_a_clear_message(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(EncoderLoadError, match="cannot be read"):
        AdapterWeights.load(bad)
    path = AdapterWeights.identity(16, rank=2).save(tmp_path / "small.npz")
    with pytest.raises(EncoderLoadError, match="16-d"):
        AdapterEncoder(KeywordEncoder(dim=64), path)


def test_registry_loads_an_adapter_on_the_bundled_model(tmp_path):
    models = tmp_path / "models"
    AdapterWeights.identity(384, rank=4).save(models / "adapters" / "memes.npz")
    yaml_path = tmp_path / "models.yaml"
    register_model(yaml_path, ModelSpec("memes-adapter", "adapter", base="e5-small", path="adapters/memes.npz"))
    _, specs = load_registry(tmp_path / "no-bundled.yaml", yaml_path)
    enc = load_encoder(specs[-1], specs, [models])
    assert isinstance(enc, AdapterEncoder) and enc.passage_id == enc.base.id and enc.dim == 384
