"""Annotation: the block engine, its inputs, the Ray engine and memory-mapped pipeline loading."""
