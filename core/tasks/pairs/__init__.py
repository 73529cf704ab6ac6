"""Same or different: pair labels (labels), pair files (files), proposed pairs (propose), scores
at a target false-positive rate (metrics, evaluate), and pairs as fine-tuning rows (training)."""
