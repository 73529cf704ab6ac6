"""Where vecscope keeps things. Every path can be overridden by an environment variable,
so tests, CI and several deployments never share state by accident."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class AnnConfig:
    """When search becomes approximate, and how (core.retrieval.ann). Env: VECSCOPE_ANN_MIN, VECSCOPE_ANN,
    VECSCOPE_ANN_RECALL."""
    min_vectors: int = 200_000   # a corpus this large or larger gets an ANN index; below: exact search
    kind: str = "ivf-sq8"        # ivf-sq8 | ivf-pq (least memory) | hnsw
    target_recall: float = 0.97  # search width is tuned at build time until recall@10 reaches this

    @classmethod
    def from_env(cls) -> "AnnConfig":
        env = os.environ
        return cls(min_vectors=int(env.get("VECSCOPE_ANN_MIN") or cls.min_vectors),
                   kind=env.get("VECSCOPE_ANN") or cls.kind,
                   target_recall=float(env.get("VECSCOPE_ANN_RECALL") or cls.target_recall))


@dataclass(frozen=True)
class MapConfig:
    """Maps past 100K points (core.maps). Env: VECSCOPE_MAP_SAMPLE, VECSCOPE_MAP_AGGREGATE."""
    sample: int = 50_000           # UMAP is fitted on this many rows; the rest are placed (projection.place)
    aggregate_above: int = 100_000  # more points than this: the browser gets a density image, not points

    @classmethod
    def from_env(cls) -> "MapConfig":
        env = os.environ
        return cls(sample=int(env.get("VECSCOPE_MAP_SAMPLE") or cls.sample),
                   aggregate_above=int(env.get("VECSCOPE_MAP_AGGREGATE") or cls.aggregate_above))


@dataclass(frozen=True)
class Settings:
    data_dir: Path       # bundled / imported corpora
    labels_path: Path    # the one labels CSV (the eval set)
    cache_dir: Path      # embeddings, maps, indexes
    models_yaml: Path    # the bundled model registry (read-only, tracked)
    models_dir: Path     # local model folders the app may load from
    imports_dir: Path    # corpora imported from files or a database
    user_models_yaml: Path | None = None   # models users trained or registered [<models_dir>/../models.yaml]
    labels_url: str = ""  # a postgresql:// URL: labels live in that database instead (core.labels.pg_store)
    pair_labels: Path | None = None   # same / different judgements of pairs (core.tasks.pairs) [<labels dir>/pair_labels.csv]
    ann: AnnConfig = field(default_factory=AnnConfig)   # approximate search past ann.min_vectors
    map: MapConfig = field(default_factory=MapConfig)   # sampled UMAP and the aggregated view

    @classmethod
    def from_env(cls) -> "Settings":
        def path(var: str, default: Path) -> Path:
            return Path(os.environ.get(var) or default).expanduser()

        var = path("VECSCOPE_VAR_DIR", ROOT / "var")
        labels = os.environ.get("VECSCOPE_LABELS") or ""
        url = labels if labels.startswith(("postgresql://", "postgres://")) else ""   # several servers, one eval set
        return cls(
            data_dir=path("VECSCOPE_DATA_DIR", ROOT / "data" / "demo"),
            labels_path=var / "labels.csv" if url else path("VECSCOPE_LABELS", var / "labels.csv"),
            cache_dir=path("VECSCOPE_CACHE_DIR", var / "cache"),
            models_yaml=path("VECSCOPE_MODELS_YAML", ROOT / "data" / "models.yaml"),
            models_dir=path("VECSCOPE_MODELS_DIR", var / "models"),
            imports_dir=path("VECSCOPE_IMPORTS_DIR", var / "imports"),
            user_models_yaml=path("VECSCOPE_USER_MODELS_YAML", var / "models.yaml"),
            labels_url=url,
            pair_labels=path("VECSCOPE_PAIR_LABELS", var / "pair_labels.csv"),
            ann=AnnConfig.from_env(),
            map=MapConfig.from_env(),
        )

    @property
    def registry_files(self) -> tuple[Path, Path]:
        """(bundled, users'): core.models.registry.load_registry merges them, the second wins."""
        return self.models_yaml, self.user_registry

    @property
    def pair_labels_path(self) -> Path:
        """Pair labels get a CSV of their own: the relevance eval set stays what it was."""
        return self.pair_labels or self.labels_path.parent / "pair_labels.csv"

    @property
    def user_registry(self) -> Path:
        return self.user_models_yaml or self.models_dir.parent / "models.yaml"
