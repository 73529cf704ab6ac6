"""Ranked lists + judgements -> numbers.

- metrics: ndcg / mrr / recall / precision / hit rate / judged@k, evaluate_run, paired_bootstrap
- evaluate: SearchConfig, evaluate_configs (held-out tables with coverage and intervals)
- judging: condensed metrics, compare (verdicts the labels support), judging_queue
- compare: rank_moves, blind_pool; channel_quality: look-alike and placement scores
"""
