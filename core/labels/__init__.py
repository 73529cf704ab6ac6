"""People -> judgements: the eval set.

- store: open_label_store (CSV file or PostgreSQL), LabelStore; base: Label, split_of (train / eval split)
- csv_store / pg_store / export: the two stores' formats and the spreadsheet-safe CSV download
- quality: krippendorff_alpha, pairwise_agreement, disagreement_queue, trec_qrels, quepid_csv
- channel_labels: labels of channel look-alikes and ad placement as qrels
"""
