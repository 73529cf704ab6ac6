"""`python -m core import …`: the catalog from a shell (big files, cron refreshes, notebooks' friends).

    import list
    import file PATH --name N --kind posts [--map raw_text=text ...] [--text q,a] [--meta a,b | --no-meta]
    import sql --name N --kind posts (--sql "SELECT …" | --sql-file F) [--url URL] [--map …]
    import refresh NAME [--url URL]
    import remove NAME
    import embed NAME [--model e5-small]
    import vectors --name N (--parquet F [--id-column id] [--vector-column emb] | --npy F --ids F |
                             --sql "SELECT id, emb …" [--url URL]) [--base e5-large-instruct]

The URL defaults to $VECSCOPE_PG_URL. Exit status 2 on a data problem, with the message on stderr.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

from core.config import Settings
from core.corpora.catalog import Catalog
from core.corpora.errors import CorpusError
from core.corpora.prepare import KINDS, remaining_columns


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core import", description="Manage imported corpora.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="corpora with kind, rows and source")

    def mapping_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--name", required=True)
        q.add_argument("--kind", required=True, choices=KINDS)
        q.add_argument("--map", action="append", default=[], metavar="OURS=THEIRS",
                       help="column mapping, e.g. raw_text=text (repeatable)")
        q.add_argument("--text", default="", help="generic kind: comma-separated text columns to join")
        q.add_argument("--joiner", default="\n\n")
        meta = q.add_mutually_exclusive_group()
        meta.add_argument("--meta", default=None, help="comma-separated metadata columns (default: all others)")
        meta.add_argument("--no-meta", action="store_true", help="keep only the kind's own columns")

    f = sub.add_parser("file", help="import a CSV or Parquet file")
    f.add_argument("path", type=Path)
    mapping_args(f)
    q = sub.add_parser("sql", help="import the result of a PostgreSQL query")
    mapping_args(q)
    src = q.add_mutually_exclusive_group(required=True)
    src.add_argument("--sql")
    src.add_argument("--sql-file", type=Path)
    q.add_argument("--url", default=None)
    r = sub.add_parser("refresh", help="re-run a database import's SQL")
    r.add_argument("name")
    r.add_argument("--url", default=None)
    d = sub.add_parser("remove", help="remove an imported corpus")
    d.add_argument("name")
    e = sub.add_parser("embed", help="embed a corpus into the cache (only missing texts)")
    e.add_argument("name")
    e.add_argument("--model", default=None, help="registry name (default: the registry's default)")
    v = sub.add_parser("vectors", help="store precomputed embeddings as a model")
    v.add_argument("--name", required=True)
    vs = v.add_mutually_exclusive_group(required=True)
    vs.add_argument("--parquet", type=Path)
    vs.add_argument("--npy", type=Path)
    vs.add_argument("--sql")
    v.add_argument("--ids", type=Path, help="with --npy: ids file (.txt, .csv/.parquet with id, .npy)")
    v.add_argument("--id-column", default=None)
    v.add_argument("--vector-column", default=None)
    v.add_argument("--url", default=None)
    v.add_argument("--base", default="", help="registry name of the encoder that made them (encodes queries)")
    return p


def _mapping(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        ours, sep, theirs = pair.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise CorpusError(f"--map {pair!r}: write OURS=THEIRS, e.g. raw_text=text.")
        out[ours.strip()] = theirs.strip()
    return out


def _split(text: str | None) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def _import_args(args, columns: Sequence[str]) -> dict:
    mapping, text = _mapping(args.map), _split(args.text) or None
    if args.no_meta:
        meta = []
    elif args.meta is not None:
        meta = _split(args.meta)
    else:
        meta = remaining_columns(list(columns), args.kind, mapping, text)
    return {"name": args.name, "kind": args.kind, "mapping": mapping, "text_columns": text,
            "joiner": args.joiner, "meta_columns": meta}


def _print_info(info) -> None:
    print(f"{info.name}: {info.kind}, {info.rows:,} rows, from {info.source} ({info.content_hash})")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings.from_env()
    catalog = Catalog(settings)
    from core.corpora.db_guard import DatabaseError
    from core.models.encoders import EncoderLoadError
    from core.models.precomputed import PrecomputedError
    try:
        return _run(args, settings, catalog)
    except (CorpusError, DatabaseError, PrecomputedError, EncoderLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args, settings: Settings, catalog: Catalog) -> int:
    from core.corpora import database
    if args.command == "list":
        for info in catalog.list():
            flag = "demo" if info.builtin else "imported"
            print(f"{info.name}\t{info.kind}\t{info.rows}\t{flag}\t{info.problem or info.source}")
    elif args.command == "file":
        t = time.perf_counter()
        frame = catalog.read(args.path)
        info = catalog.import_table(frame, source=str(args.path), **_import_args(args, frame.columns))
        _print_info(info)
        print(f"imported in {time.perf_counter() - t:.1f} s")
    elif args.command == "sql":
        sql = args.sql if args.sql is not None else args.sql_file.read_text(encoding="utf-8")
        url = database.resolve_url(args.url)
        frame = database.fetch_frame(url, sql)
        _print_info(database.import_query(catalog, url, sql, frame=frame, **_import_args(args, frame.columns)))
    elif args.command == "refresh":
        _print_info(database.refresh(args.name, catalog, url=args.url))
    elif args.command == "remove":
        catalog.remove(args.name)
        print(f"removed {args.name}")
    elif args.command == "embed":
        from core.models.registry import load_encoder, load_registry
        from core.retrieval.cache import embed_catalog_corpus
        default, specs = load_registry(*settings.registry_files)
        name = args.model or default
        spec = next((s for s in specs if s.name == name), None)
        if spec is None:
            raise CorpusError(f"модели {name!r} нет в {settings.models_yaml}; выберите одну из: "
                              f"{', '.join(s.name for s in specs)}.")
        encoder = load_encoder(spec, specs, [settings.models_dir])
        t = time.perf_counter()
        vectors = embed_catalog_corpus(catalog, args.name, encoder,
                                       progress=lambda d, n: print(f"\r{d}/{n}", end="", flush=True))
        print(f"\n{args.name}: {len(vectors):,} векторов модели {encoder.id} за {time.perf_counter() - t:.1f} с")
        if len(vectors) >= settings.ann.min_vectors:   # the app will search an ANN index: build it here, once
            del vectors
            _build_ann_index(settings, catalog, args.name, encoder)
    elif args.command == "vectors":
        return _vectors(args, settings)
    return 0


def _build_ann_index(settings: Settings, catalog, name: str, encoder) -> None:
    """The ANN index the app loads for this corpus, its recall@10 measured on the labelled queries."""
    from core import display
    from core.labels.store import open_label_store
    from core.retrieval.cache import EmbeddingCache, cache_id
    from core.retrieval.search import build_corpus_index
    labels = open_label_store(settings).read().frame
    queries = list(labels.loc[labels["corpus"] == name, "query"].unique())
    t = time.perf_counter()
    ci = build_corpus_index(catalog.load(name), encoder, EmbeddingCache(settings.cache_dir, cache_id(encoder)),
                            ann=settings.ann, queries=queries)
    m = ci.index.meta
    on = "запросах из разметки и примерах" if m["recall_query_source"] == "queries" else "документах корпуса"
    print(f"{name}: приближённый индекс {m['recipe']} ({m['knob']} {m[m['knob']]}), recall@10 "
          f"{display.decimal(m['recall@10'], 3)} на {m['recall_queries']} {on}, {time.perf_counter() - t:.1f} с")


def _vectors(args, settings: Settings) -> int:
    from core.corpora import database
    from core.models import precomputed, registry
    if args.parquet:
        ids, matrix = precomputed.read_parquet_vectors(args.parquet, args.id_column or "id", args.vector_column)
        source = str(args.parquet)
    elif args.npy:
        if not args.ids:
            raise CorpusError("--npy needs --ids (the ids in the same row order).")
        ids, matrix = precomputed.read_npy_vectors(args.npy, args.ids)
        source = f"{args.npy} + {args.ids}"
    else:
        url = database.resolve_url(args.url)
        ids, matrix = database.fetch_embeddings(url, args.sql, args.id_column, args.vector_column)
        source = f"PostgreSQL query on {database.redact(url)}"
    spec = precomputed.save_vectors(settings.models_dir, args.name, ids, matrix, source, base=args.base)
    print(f"{args.name}: {len(ids):,} vectors of dimension {matrix.shape[1]} in {settings.models_dir / spec.path}")
    if "precomputed" in registry.BACKENDS:
        registry.register_model(settings.user_registry, spec)
        print(f"зарегистрирована в {settings.user_registry}")
    else:   # an older registry would refuse the whole file with this entry in it
        print("this registry does not know the precomputed backend yet; not registered", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
