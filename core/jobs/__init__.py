"""Work that runs outside a page: background jobs and batch runs.

- runner: Job, JobRegistry (threads with progress and cancel, for the pages)
- batch_embed: embed_corpus, run_embed (resumable shards; local processes or Ray Data)
- warmup: warm (what the demo needs before the server opens)
"""
