"""Corpus-level post-processing: each transform does what its name says, on numbers that can
be checked, and a fitted transform is stored and found again under its key."""
import numpy as np
import pytest

from core.retrieval import postprocess
from core.retrieval.postprocess import cached_fit, fit, parse_spec, transform_key


def cone(n=200, d=16, seed=0):
    """Vectors crowded around one direction (like e5's), plus a weaker second direction."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * 0.1
    x[:, 0] += 3.0                     # the shared offset: every cosine is high
    x[:, 1] += rng.choice([-1.0, 1.0], size=n)   # the dominant direction of variance
    return x.astype(np.float32)


def test_spec_names_parse_and_unknown_ones_are_refused():
    assert parse_spec("centre") == ("centre", 0) and parse_spec("abtt2") == ("abtt", 2)
    assert parse_spec("whiten32") == ("whiten", 32)
    for bad in ("centre1", "abtt", "abtt0", "pca", "whiten-3"):
        with pytest.raises(ValueError):
            parse_spec(bad)
    assert all(postprocess.spec_name(s) for s in postprocess.SPECS)


def test_none_only_normalises_and_centre_removes_the_mean():
    x = cone()
    np.testing.assert_allclose(fit([x], "none").apply(x), x / np.linalg.norm(x, axis=1, keepdims=True), atol=1e-6)
    pp = fit([x], "centre")
    np.testing.assert_allclose(pp.mean, x.mean(axis=0), atol=1e-6)
    raw_cos = (x[0] @ x[1]) / np.linalg.norm(x[0]) / np.linalg.norm(x[1])
    y = pp.apply(x)
    assert raw_cos > 0.75                       # crowded: (9 - 1) / 10 at worst
    assert abs(float(y.mean(axis=0) @ y.mean(axis=0))) < 0.05   # centred vectors no longer share a direction
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-5)


def test_abtt_removes_the_top_principal_direction():
    x = cone()
    y = fit([x], "abtt1").apply(x)
    # the dominant variance was along axis 1: after removing it, nothing is left there
    assert np.abs(y[:, 1]).max() < 0.05
    assert np.abs(fit([x], "centre").apply(x)[:, 1]).mean() > 0.5


def test_whitening_gives_unit_variance_along_kept_directions():
    x = cone(n=500)
    pp = fit([x], "whiten4")
    z = ((x - pp.mean) @ pp.basis.T) * pp.scale      # before the final normalisation
    np.testing.assert_allclose(np.cov(z.T, bias=True), np.eye(4), atol=1e-3)
    assert pp.apply(x).shape == (500, 4)


def test_parts_weigh_equally_whatever_their_size():
    a = np.tile([[1.0, 0.0]], (1000, 1)).astype(np.float32)
    b = np.tile([[0.0, 1.0]], (10, 1)).astype(np.float32)
    np.testing.assert_allclose(fit([a, b], "centre").mean, [0.5, 0.5], atol=1e-6)


def test_single_vector_is_transformed_like_a_row():
    x = cone()
    pp = fit([x], "abtt2")
    np.testing.assert_allclose(pp.apply(x[3]), pp.apply(x)[3], atol=1e-6)


def test_fitted_transform_is_stored_and_found_again_under_its_key(tmp_path, monkeypatch):
    x = cone()
    key = transform_key("model-a", "corpus-hash", "abtt1")
    first = cached_fit(tmp_path, [x], "abtt1", key)
    calls = []
    monkeypatch.setattr(postprocess, "fit", lambda *a, **k: calls.append(1) or first)
    again = cached_fit(tmp_path, [x], "abtt1", key)
    assert calls == []                                     # read from disk, not refitted
    np.testing.assert_array_equal(again.basis, first.basis)
    other = transform_key("model-a", "corpus-hash", "abtt2")
    assert other != key and transform_key("model-b", "corpus-hash", "abtt1") != key
    cached_fit(tmp_path, [x], "abtt2", other)
    assert calls == [1]                                     # another spec is another entry


def test_damaged_cache_file_is_refitted(tmp_path):
    x = cone()
    key = transform_key("m", "c", "centre")
    (tmp_path / "postprocess").mkdir()
    (tmp_path / "postprocess" / f"{key}.npz").write_bytes(b"not a zip")
    pp = cached_fit(tmp_path, [x], "centre", key)
    np.testing.assert_allclose(pp.mean, x.mean(axis=0), atol=1e-6)
