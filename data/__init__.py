"""Datasets: records from adapters, the shared mapper, samples, synthetic world."""
