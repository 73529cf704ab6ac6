"""Model and vector folders load only files that really lie inside the models folders:
a symlinked file inside a model folder that points elsewhere is refused like a linked folder."""
from __future__ import annotations

import os

import numpy as np
import pytest

from core.models.encoders import EncoderLoadError
from core.models.precomputed import resolve_folder, save_vectors
from core.models.registry import resolve_model_path


@pytest.fixture
def places(tmp_path):
    models, outside = tmp_path / "models", tmp_path / "outside"
    (models / "my-e5" / "1_Pooling").mkdir(parents=True)
    outside.mkdir()
    for name in ("config.json", "model.safetensors", "1_Pooling/config.json"):
        (models / "my-e5" / name).write_text("{}")
    (outside / "config.json").write_text('{"secret": true}')
    return models, outside


def test_a_clean_model_folder_resolves(places):
    models, _ = places
    assert resolve_model_path("my-e5", [models]) == str((models / "my-e5").resolve())


def test_a_file_linked_to_outside_the_models_folder_is_refused(places):
    models, outside = places
    os.remove(models / "my-e5" / "config.json")
    (models / "my-e5" / "config.json").symlink_to(outside / "config.json")
    with pytest.raises(EncoderLoadError) as err:
        resolve_model_path("my-e5", [models])
    message = str(err.value)
    assert "config.json" in message and str(outside / "config.json") in message and "за пределами" in message


def test_a_deeper_file_or_a_subfolder_linked_outside_is_refused(places):
    models, outside = places
    os.remove(models / "my-e5" / "1_Pooling" / "config.json")
    (models / "my-e5" / "1_Pooling" / "config.json").symlink_to(outside / "config.json")
    with pytest.raises(EncoderLoadError, match=r"1_Pooling/config.json"):
        resolve_model_path("my-e5", [models])
    os.remove(models / "my-e5" / "1_Pooling" / "config.json")
    (models / "my-e5" / "extra").symlink_to(outside, target_is_directory=True)
    with pytest.raises(EncoderLoadError, match="extra"):
        resolve_model_path("my-e5", [models])


def test_links_that_stay_inside_are_fine_and_loops_end(places):
    models, _ = places
    (models / "shared.safetensors").write_text("weights")
    os.remove(models / "my-e5" / "model.safetensors")
    (models / "my-e5" / "model.safetensors").symlink_to(models / "shared.safetensors")
    (models / "my-e5" / "1_Pooling" / "up").symlink_to(models / "my-e5", target_is_directory=True)   # a loop
    assert resolve_model_path("my-e5", [models]) == str((models / "my-e5").resolve())
    (models / "my-e5" / "gone").symlink_to(models / "missing")
    with pytest.raises(EncoderLoadError, match="никуда не ведёт"):
        resolve_model_path("my-e5", [models])


def test_precomputed_vectors_with_a_linked_file_are_refused(tmp_path):
    models, outside = tmp_path / "models", tmp_path / "outside"
    outside.mkdir()
    spec = save_vectors(models, "emb", ["a", "b"], np.eye(2, dtype=np.float32), source="test")
    assert resolve_folder(spec.path, [models]) == (models / spec.path).resolve()
    np.save(outside / "vectors.npy", np.ones((2, 2), np.float32))
    os.remove(models / spec.path / "vectors.npy")
    (models / spec.path / "vectors.npy").symlink_to(outside / "vectors.npy")
    with pytest.raises(EncoderLoadError, match="vectors.npy"):
        resolve_folder(spec.path, [models])
