"""vecscope's logic, no Streamlit. Packages follow the data flow, each importing only those
before it (tests/unit/test_core_boundaries.py checks it):

corpora -> models -> retrieval -> labels -> evaluation -> finetune -> maps -> jobs -> cli

plus plumbing importable from anywhere: config (paths and settings), atomic (crash-safe
writes), access (who may do what), display (Russian formatting, text shown as text).
"""
