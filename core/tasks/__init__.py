"""The team's other tasks on the same corpora, models and metrics: pairs, outcomes, recommendations."""
