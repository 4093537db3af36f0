"""Dataset to corpus: readers, tag repair, corpus writing, staging of outputs."""
