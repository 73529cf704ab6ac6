"""Command line: evaluate search configurations and fine-tune models on the held-out split.

    python -m core evaluate --corpus memes --models e5-small e5-small-memes-adapter --mode dense hybrid
    python -m core finetune --method adapter --base e5-small --corpus memes
    python -m core finetune --method full --base my-e5 --epochs 1
    python -m core import --help        (files, PostgreSQL, precomputed vectors; see core/cli_import.py)

Paths (data, labels, cache, models.yaml, models folder) come from core.config.Settings, i.e.
the VECSCOPE_* environment variables.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from core.config import Settings


def _load(settings: Settings, corpus_name: str):
    from core.corpora import load_demo
    from core.labels import LabelStore

    corpus = load_demo(settings.data_dir, corpus_name)
    read = LabelStore(settings.labels_path).read()
    if read.skipped:
        print(f"note: {len(read.skipped)} damaged line(s) in {settings.labels_path} were skipped "
              f"(first: line {read.skipped[0].line_no}, {read.skipped[0].reason}).", file=sys.stderr)
    return corpus, read.frame


def _specs(settings: Settings):
    from core.registry import load_registry
    return load_registry(settings.models_yaml)


def _spec(name: str, specs):
    from core.registry import RegistryError
    for s in specs:
        if s.name == name:
            return s
    raise RegistryError(f"model {name!r} is not in the registry; known: {', '.join(s.name for s in specs)}")


def _progress(label: str):
    """step/total on stderr: one updating line on a terminal, about ten lines otherwise."""
    tty = sys.stderr.isatty()

    def report(step: int, total: int) -> None:
        if tty:
            print(f"\r{label}: {step}/{total}", end="\n" if step >= total else "", file=sys.stderr, flush=True)
        elif step == total or step % max(1, total // 10) == 0:
            print(f"{label}: {step}/{total}", file=sys.stderr, flush=True)
    return report


def cmd_evaluate(args, settings: Settings) -> int:
    from core.evaluate import SearchConfig, evaluate_configs
    from core.finetune import eval_queries
    from core.registry import load_encoder

    corpus, labels = _load(settings, args.corpus)
    qrels = eval_queries(corpus, labels, corpus_name=args.corpus)
    if not qrels:
        print(f"no held-out queries for {args.corpus}: label some results (eval split) or add example queries.",
              file=sys.stderr)
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
                             progress=lambda label: print(f"evaluating {label}…", file=sys.stderr))
    print(f"{args.corpus}: {len(qrels)} held-out queries, {len(corpus)} documents")
    print(table.to_text(n_disagreements=args.show))
    return 0


def cmd_finetune(args, settings: Settings) -> int:
    from core.finetune import eval_queries, run_finetune, training_pairs

    corpus, labels = _load(settings, args.corpus)
    print(training_pairs(corpus, labels, corpus_name=args.corpus).summary())
    print(f"held out for evaluation: {len(eval_queries(corpus, labels, corpus_name=args.corpus))} queries")
    result = run_finetune(settings, corpus, labels, args.base, args.method, name=args.name, epochs=args.epochs,
                          lr=args.lr, rank=args.rank, batch_size=args.batch_size, seed=args.seed,
                          progress=_progress("steps") if args.method == "full" else None)
    print(f"trained {result.name} ({result.method}) on {sum(result.pair_counts.values())} pairs: "
          + ", ".join(f"{n} from {s}" for s, n in result.pair_counts.items()))
    if result.table is not None:
        print(result.table.to_text(n_disagreements=args.show))
    print(f"saved {result.path}; registered {result.name!r} in {settings.models_yaml}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core", description="vecscope evaluation and fine-tuning")
    sub = p.add_subparsers(dest="command", required=True)

    ev = sub.add_parser("evaluate", help="score models on the held-out queries of a corpus")
    ev.add_argument("--corpus", default="memes", choices=["memes", "posts", "channels"])
    ev.add_argument("--models", nargs="+",
                    help="registry names; the first is the baseline (default: the default model)")
    ev.add_argument("--mode", nargs="+", default=["dense"], choices=["dense", "hybrid"])
    ev.add_argument("--k", type=int, default=10)
    ev.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples")
    ev.add_argument("--show", type=int, default=5, help="disagreeing queries to print per comparison")

    ft = sub.add_parser("finetune", help="train an adapter or fine-tune a model, evaluate, register it")
    ft.add_argument("--method", choices=["adapter", "full"], default="adapter")
    ft.add_argument("--base", default="e5-small", help="registry name of the base model")
    ft.add_argument("--corpus", default="memes", choices=["memes", "posts", "channels"])
    ft.add_argument("--name", help="registry name of the new model")
    ft.add_argument("--epochs", type=int, help="adapter: max epochs (100, early-stopped); full: epochs (1)")
    ft.add_argument("--lr", type=float, help="adapter: 3e-3; full: 2e-5")
    ft.add_argument("--rank", type=int, default=16, help="adapter rank")
    ft.add_argument("--batch-size", type=int, default=16, help="full fine-tune batch size")
    ft.add_argument("--seed", type=int, default=0)
    ft.add_argument("--show", type=int, default=5, help="disagreeing queries to print")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from core.corpora import CorpusError
    from core.encoders import EncoderLoadError
    from core.registry import RegistryError

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["import"]:
        from core.cli_import import main as import_main
        return import_main(argv[1:])
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    try:
        if args.command == "evaluate":
            return cmd_evaluate(args, settings)
        return cmd_finetune(args, settings)
    except (CorpusError, EncoderLoadError, RegistryError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
