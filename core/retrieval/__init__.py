"""Vectors -> ranked lists.

- cache: EmbeddingCache, embed_cached, cache_id, corpus_coverage (nothing embedded twice)
- index / ann: FlatIndex (exact), build_ann / load_ann (IVF, PQ, HNSW with measured recall)
- search: build_corpus_index, search, search_vector, list_changes
- lexical: BM25Index, rrf_fuse (hybrid search)
- channels / postprocess / score_scale: channel spaces from texts and posts, corpus-fitted post-processing
"""
