"""Fine-tuning from labels: data (pairs, hard negatives, held-out qrels), the MNRL loop, the
bundled model's torch twin and adapters, and one entry point for the page and the CLI."""
from core.finetune.adapter_job import finetune_adapter
from core.finetune.data import (
    MIN_PAIRS,
    PairSet,
    eval_queries,
    example_queries,
    label_grades,
    n_examples,
    training_pairs,
)
from core.finetune.full import finetune_sentence_transformer, finetune_twin
from core.finetune.mnrl import no_duplicate_batches
from core.finetune.result import FinetuneCancelled, FinetuneResult
from core.finetune.run import METHOD_SHORT, METHODS, FinetunePlan, default_mix, methods_for, plan_finetune, run_finetune

__all__ = ["MIN_PAIRS", "METHOD_SHORT", "METHODS", "FinetuneCancelled", "FinetunePlan", "FinetuneResult", "PairSet", "eval_queries",
           "example_queries", "finetune_adapter", "finetune_sentence_transformer", "finetune_twin", "label_grades",
           "default_mix", "methods_for", "n_examples", "no_duplicate_batches", "plan_finetune", "run_finetune", "training_pairs"]
