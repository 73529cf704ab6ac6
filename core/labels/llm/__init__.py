"""An optional LLM judge behind an OpenAI-compatible endpoint: config, client, cache, judge."""
