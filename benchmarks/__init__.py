"""Benchmarks that measure sceneline and write reports (benchmarks/reports/)."""
