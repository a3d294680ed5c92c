"""The security policy: whether a tool call may run.

bashlex's tables are cached before anything here imports bashlex (see bashlex_cache).
"""

from llmos.security import bashlex_cache

bashlex_cache.install()
