"""I/O: input listing, Pub/Sub, bucket events, dead letters and file access through Beam FileSystems."""
