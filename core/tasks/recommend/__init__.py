"""Recommendations: the next posts for a user from the embeddings of what they liked (interactions, split, methods, evaluate)."""
