"""The index store: the one place a Qdrant client is opened, the payload, queries and status."""
