"""Test doubles for llmos: a scripted Anthropic Messages API server for the real SDK and CLI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmos._internal.testing.scripted_model import (
        Answer,
        ApiError,
        RecordedRequest,
        ScriptedModelServer,
        Step,
        ToolCall,
        Turn,
        api_error,
        load_script,
        say,
        tools,
        turn_from_dict,
        use_tool,
    )

__all__ = [
    "Answer",
    "ApiError",
    "RecordedRequest",
    "ScriptedModelServer",
    "Step",
    "ToolCall",
    "Turn",
    "api_error",
    "load_script",
    "say",
    "tools",
    "turn_from_dict",
    "use_tool",
]


def __getattr__(name: str) -> Any:
    # Lazy, so `python -m llmos._internal.testing.scripted_model` does not import the module twice
    # (runpy warns when the package already imported it).
    if name in __all__:
        from llmos._internal.testing import scripted_model

        return getattr(scripted_model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
