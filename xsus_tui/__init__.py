"""xsus-tui: a terminal chat client for pydantic-ai agents."""

__version__ = "0.1.0"
