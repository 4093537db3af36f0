"""Development tools, not product: the deps checker, the meter the benchmarks use, the tiny BERT the tests train."""
