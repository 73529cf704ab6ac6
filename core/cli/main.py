"""Command line: evaluate search configurations and fine-tune models on the held-out split.

    python -m core evaluate --corpus memes --models e5-small e5-small-memes-adapter --mode dense hybrid
    python -m core finetune --method full --base e5-small --corpus memes      # the bundled model, via its torch twin
    python -m core finetune --method light --base e5-small --corpus my-import --dry-run
    python -m core finetune --method adapter --base e5-small --corpus memes
    python -m core import --help        (files, PostgreSQL, precomputed vectors; see core/cli/imports.py)
    python -m core embed --corpus posts --engine ray     (batch embedding; see core/jobs/batch_embed.py)
    python -m core map --corpus posts    (UMAP map + clusters into the cache the Map page reads; see core/jobs/map_job.py)
    python -m core warmup               (prepare the demo before the server opens; scripts/start.sh)

Paths (data, labels, cache, models.yaml, models folder) come from core.config.Settings, i.e.
the VECSCOPE_* environment variables.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from core.config import Settings


def _load(settings: Settings, corpus_name: str):
    """Any corpus the catalog offers: the demo ones and every imported one."""
    from core.corpora.catalog import Catalog
    from core.corpora.errors import CorpusError
    from core.labels.store import open_label_store

    catalog = Catalog(settings)
    if corpus_name not in catalog.names():
        raise CorpusError(f"корпуса «{corpus_name}» нет; есть: {', '.join(catalog.names())} "
                          "(свой корпус добавляется командой python -m core import file …).")
    corpus = catalog.load(corpus_name)
    read = open_label_store(settings).read()
    if read.skipped:
        print(f"внимание: пропущено повреждённых строк в {settings.labels_path}: {len(read.skipped)} "
              f"(первая: строка {read.skipped[0].line_no}, {read.skipped[0].reason}).", file=sys.stderr)
    return corpus, read.frame


def _specs(settings: Settings):
    from core.models.registry import load_registry
    return load_registry(*settings.registry_files)


def _spec(name: str, specs):
    from core.models.registry import RegistryError
    for s in specs:
        if s.name == name:
            return s
    raise RegistryError(f"модели «{name}» нет в реестре; есть: {', '.join(s.name for s in specs)}")


def _progress(label: str):
    """step/total on stderr: one updating line on a terminal, about ten lines otherwise."""
    tty = sys.stderr.isatty()

    def report(step: int, total: int, **info) -> None:
        extra = "".join([f", {info['rate']:.1f}/с" if "rate" in info else "",
                         f", loss {info['loss']:.3f}" if "loss" in info else "",
                         f", эпоха {info['epoch']} из {info['epochs']}" if "epoch" in info else "",
                         f", осталось ~{int(info['eta_s'])} с" if "eta_s" in info else ""])
        if tty:
            print(f"\r{label}: {step}/{total}{extra}   ", end="\n" if step >= total else "", file=sys.stderr,
                  flush=True)
        elif step == total or step % max(1, total // 10) == 0:
            print(f"{label}: {step}/{total}{extra}", file=sys.stderr, flush=True)
    return report


def cmd_evaluate(args, settings: Settings) -> int:
    from core.evaluation.evaluate import SearchConfig, evaluate_configs
    from core.finetune import eval_queries
    from core.models.registry import load_encoder

    corpus, labels = _load(settings, args.corpus)
    qrels = eval_queries(corpus, labels, corpus_name=args.corpus, use_examples=not args.no_examples)
    if args.split == "train":
        from core.finetune.data import training_pairs
        pairs = training_pairs(corpus, labels, corpus_name=args.corpus, use_examples=not args.no_examples)
        qrels = {}
        for q, d, _ in pairs.pairs:
            qrels.setdefault(q, {})[d] = 2
    if not qrels:
        print(f"у корпуса «{args.corpus}» нет запросов {args.split}-сплита: оцените результаты поиска "
              "или добавьте примеры запросов (колонка examples).", file=sys.stderr)
        return 1
    default, specs = _specs(settings)
    configs = []
    for name in args.models or [default]:
        enc = load_encoder(_spec(name, specs), specs, [settings.models_dir])
        if enc.notice:
            print(f"note: {enc.notice}", file=sys.stderr)
        configs += [SearchConfig(name, enc, mode) for mode in args.mode]
    table = evaluate_configs(configs, corpus, qrels, k=args.k, cache_root=settings.cache_dir,
                             n_resamples=args.bootstrap,
                             progress=lambda label: print(f"считаем {label}…", file=sys.stderr))
    what = "отложенных (eval)" if args.split == "eval" else "обучающих (train: только чтобы увидеть запоминание)"
    print(f"{args.corpus}: {len(qrels)} {what} запросов, {len(corpus)} документов")
    print(table.to_text(n_disagreements=args.show))
    return 0


def cmd_finetune(args, settings: Settings) -> int:
    from core.finetune import METHODS, plan_finetune, run_finetune

    corpus, labels = _load(settings, args.corpus)
    plan = plan_finetune(settings, corpus, labels, args.base, args.method, use_examples=not args.no_examples,
                         epochs=args.epochs, mix=args.mix)
    print(f"{args.base} → {METHODS[plan.method]}")
    for line in plan.describe():
        print(line)
    if args.dry_run:
        for q, d, source in plan.pairs.pairs:
            negs = plan.pairs.negatives.get(q, ())
            print(f"pair\t{source}\t{q}\t{d}" + (f"\tнегативы: {', '.join(negs)}" if negs else ""))
        return 0
    result = run_finetune(settings, corpus, labels, args.base, plan.method, name=args.name, epochs=args.epochs,
                          lr=args.lr, mix=args.mix, rank=args.rank, batch_size=args.batch_size, seed=args.seed,
                          use_examples=not args.no_examples, force=args.force,
                          progress=_progress("шаги") if plan.method != "adapter" else None)
    if result.table is not None:
        print(result.table.to_text(n_disagreements=args.show))
    for note in result.notes:
        print(note)
    print(f"сохранено: {result.path}")
    if result.registered:
        print(f"зарегистрирована «{result.name}» ({result.spec.backend}) в {settings.user_registry}")
        return 0
    print("не зарегистрирована", file=sys.stderr)
    return 3


def cmd_embed(args, settings: Settings) -> int:
    from core.jobs.batch_embed import embed_corpus

    out = embed_corpus(settings, args.corpus, args.model, engine=args.engine, workers=args.workers,
                       budget=args.budget, ray_address=args.address, gpus_per_worker=args.gpus,
                       progress=_progress("тексты"))
    print(f"{out['corpus']} · {out['model']}: посчитано {out['embedded']}, уже было в кэше {out['skipped']} "
          f"из {out['documents']} документов; {out['seconds']:.1f} с"
          + (f", {out['rate']:.1f} текстов/с" if out["embedded"] else ""))
    return 0


def _map_timings(out: dict) -> str:
    """" (UMAP выборки 80 с, размещение 950 000 точек 60 с, …)" for a sampled map built now."""
    from core.display import number
    t = out.get("timings") or {}
    if out["cached"] or "fit_s" not in t:
        return ""
    return (f" (UMAP выборки {t['fit_s']:.1f} с, размещение {number(t['placed'])} точек {t['place_s']:.1f} с, "
            f"поиск соседей: {t['place_index']})")


def cmd_map(args, settings: Settings) -> int:
    from core.jobs.map_job import build_map

    params = {k: v for k, v in (("n_neighbors", args.n_neighbors), ("min_dist", args.min_dist),
                                ("metric", args.metric)) if v is not None}
    out = build_map(settings, args.corpus, args.model, params, sample=args.sample, posts_name=args.posts,
                    progress=_progress("карта, %"))
    from core.display import number
    how = (f"UMAP по выборке {number(out['sample'])}, остальные точки размещены" if out["sample"]
           else "UMAP по всем точкам" if out["method"] == "umap" else "PCA")
    print(f"{out['corpus']} · {out['model']}: {number(out['points'])} точек ({how}); "
          + ("карта уже была в кэше" if out["cached"] else f"карта за {out['map_s']:.1f} с")
          + _map_timings(out)
          + f"; кластеров {out['clusters']} за {out['clusters_s']:.1f} с")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core", description="vecscope evaluation and fine-tuning")
    sub = p.add_subparsers(dest="command", required=True)

    ev = sub.add_parser("evaluate", help="score models on the held-out queries of a corpus")
    ev.add_argument("--corpus", default="memes", help="any corpus of the catalog (demo or imported)")
    ev.add_argument("--split", choices=["eval", "train"], default="eval",
                    help="eval: held-out queries (default); train: the training queries, to see memorisation")
    ev.add_argument("--no-examples", action="store_true", help="ignore the corpus' example queries; labels only")
    ev.add_argument("--models", nargs="+",
                    help="registry names; the first is the baseline (default: the default model)")
    ev.add_argument("--mode", nargs="+", default=["dense"], choices=["dense", "hybrid"])
    ev.add_argument("--k", type=int, default=10)
    ev.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples")
    ev.add_argument("--show", type=int, default=5, help="disagreeing queries to print per comparison")

    em = sub.add_parser("embed", help="embed a corpus into the cache as a batch job (resumable)")
    em.add_argument("--corpus", required=True, help="any corpus of the catalog (demo or imported)")
    em.add_argument("--model", help="registry name (default: the registry's default)")
    em.add_argument("--engine", choices=["local", "ray"], default="local")
    em.add_argument("--workers", type=int, default=1, help="processes (local) or actors (ray)")
    em.add_argument("--address", help="Ray cluster address (default: start a local Ray)")
    em.add_argument("--gpus", type=float, default=0.0, help="GPUs per Ray actor")
    em.add_argument("--budget", type=int, default=16384, help="tokens per chunk (one shard per chunk)")

    mp = sub.add_parser("map", help="build a corpus's UMAP map and clusters into the cache (the Map page reads it)")
    mp.add_argument("--corpus", required=True, help="any corpus of the catalog (demo or imported)")
    mp.add_argument("--model", help="registry name (default: the registry's default)")
    mp.add_argument("--sample", type=int, help="fit UMAP on this many rows, place the rest "
                    "(default: VECSCOPE_MAP_SAMPLE or 50000)")
    mp.add_argument("--posts", help="channels: the posts corpus of the channel space (default: posts for the demo)")
    mp.add_argument("--n-neighbors", type=int)
    mp.add_argument("--min-dist", type=float)
    mp.add_argument("--metric", choices=["cosine", "euclidean"])

    ft = sub.add_parser("finetune", help="train an adapter or fine-tune a model, evaluate, register it")
    ft.add_argument("--method", choices=["full", "light", "adapter"],
                    help="default: full (for the bundled e5-small via its torch twin, or a sentence-transformers base)")
    ft.add_argument("--base", default="e5-small", help="registry name of the base model")
    ft.add_argument("--corpus", default="memes", help="any corpus of the catalog (demo or imported)")
    ft.add_argument("--no-examples", action="store_true", help="train and evaluate on labels only")
    ft.add_argument("--dry-run", action="store_true", help="print the pairs and negatives that would be used")
    ft.add_argument("--force", action="store_true", help="register even when it does not beat its base")
    ft.add_argument("--name", help="registry name of the new model")
    ft.add_argument("--epochs", type=int, help="max epochs, early-stopped (adapter 100; full / light 2)")
    ft.add_argument("--lr", type=float, help="adapter 3e-3; full 1e-4 (twin) or 2e-5; light 1e-3")
    ft.add_argument("--mix", type=float, help="share of the fine-tune kept, 0–1 (WiSE-FT: base + mix × change); "
                    "less forgets less of general retrieval. Twin full 0.3, light 0.5; other bases 1")
    ft.add_argument("--rank", type=int, default=16, help="adapter rank")
    ft.add_argument("--batch-size", type=int, default=16, help="full fine-tune batch size")
    ft.add_argument("--seed", type=int, default=0)
    ft.add_argument("--show", type=int, default=5, help="disagreeing queries to print")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from core.corpora.errors import CorpusError
    from core.models.encoders import EncoderLoadError
    from core.models.registry import RegistryError

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["import"]:
        from core.cli.imports import main as import_main
        return import_main(argv[1:])
    if argv[:1] == ["warmup"]:
        from core.jobs.warmup import main as warmup_main
        return warmup_main()
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    try:
        if args.command == "evaluate":
            return cmd_evaluate(args, settings)
        if args.command == "embed":
            return cmd_embed(args, settings)
        if args.command == "map":
            return cmd_map(args, settings)
        return cmd_finetune(args, settings)
    except (CorpusError, EncoderLoadError, RegistryError, ValueError) as exc:
        print(f"ошибка: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
