"""Training: the optimizer the configs name, the `spacy train` driver, the resumable loop and its checkpoints, GPU settings."""
