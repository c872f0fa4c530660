"""Benchmarks: speed on the seed corpus now; quality on public data to come."""
