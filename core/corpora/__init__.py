"""Records in: corpora and where they come from.

- records: Corpus, make_corpus, load_demo, read_table, validate (schemas of memes / posts / channels)
- catalog: Catalog (the bundled and imported corpora, published atomically), prepare_import
- database: fetch_corpus, import_query (PostgreSQL imports, read-only roles)
"""
