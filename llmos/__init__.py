"""llmos: an LLM operating system on the Claude Agent SDK."""

__version__ = "0.1.0"
