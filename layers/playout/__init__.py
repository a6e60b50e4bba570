"""Playout's domain package: shared by the API Lambda (as a layer), the stream task and local mode."""
