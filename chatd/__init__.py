"""chatd: a self-hosted chat server in one Python process and one SQLite file."""

__version__ = "0.1.0"
