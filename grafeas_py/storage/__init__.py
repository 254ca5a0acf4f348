"""Storage: one interface whose methods mirror the API's RPCs, and its SQL implementation."""

from .base import Page, PageRequest, Storage
from .sql import SqlStorage

__all__ = ["Page", "PageRequest", "Storage", "SqlStorage"]
