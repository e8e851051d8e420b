"""The embedded default: the API on loopback over SQLite, and local workers."""
