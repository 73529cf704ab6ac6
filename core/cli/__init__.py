"""The command line, `python -m core …`: main (evaluate, finetune, embed, warmup) and imports."""
