"""llmos plugin tools as in-process MCP servers for the Claude Agent SDK.

One SDK MCP server per plugin, keyed `llmos_<plugin>`, so the model sees each tool as
`mcp__llmos_<plugin>__<tool>`. Each handler runs the plain Python function through
`RunTools.call` in a worker thread (a slow tool never stalls the event loop that streams
the run), which also journals the result for the trace.
"""

from __future__ import annotations

import asyncio
from typing import Any

from claude_agent_sdk import McpSdkServerConfig, SdkMcpTool, create_sdk_mcp_server, tool

from llmos._internal.plugins.run_tools import RunTools
from llmos._internal.plugins.types import PluginTool

_SERVER_VERSION = "1.0.0"  # informational only; each tool carries its own version


def plugin_servers(run_tools: RunTools) -> dict[str, McpSdkServerConfig]:
    """The `mcp_servers` option: a server per plugin with at least one tool in this run."""
    by_server: dict[str, list[SdkMcpTool[Any]]] = {}
    for plugin_tool in run_tools.registry.tools():
        by_server.setdefault(plugin_tool.server, []).append(_sdk_tool(run_tools, plugin_tool))
    return {
        server: create_sdk_mcp_server(server, _SERVER_VERSION, tools)
        for server, tools in by_server.items()
    }


def _sdk_tool(run_tools: RunTools, plugin_tool: PluginTool) -> SdkMcpTool[Any]:
    full_name = plugin_tool.full_name

    async def handler(arguments: dict[str, Any]) -> dict[str, Any]:
        result = await asyncio.to_thread(run_tools.call, full_name, arguments)
        return {"content": [{"type": "text", "text": result.text}], "is_error": not result.ok}

    described = tool(plugin_tool.name, plugin_tool.description, plugin_tool.input_schema)
    return described(handler)
