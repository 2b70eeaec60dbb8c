"""Containers: create/start/stop/... on top of the store and the runtime."""
