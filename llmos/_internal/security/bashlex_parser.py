"""bashlex, imported with its parser tables read from the cache (`bashlex_cache.py`): the one
place llmos imports it, so the cache is always installed first."""

from llmos._internal.security import bashlex_cache

bashlex_cache.install()

import bashlex  # noqa: E402

__all__ = ["bashlex"]
