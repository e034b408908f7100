"""The version of dlrmock."""

__version__ = "0.1.0"
