"""Assembled pipelines (batch and streaming index), their options, the query side and the CLI."""
