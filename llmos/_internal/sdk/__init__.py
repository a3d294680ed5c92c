"""The one package of llmos that imports `claude_agent_sdk`: in `runner.py`, and in
`plugin_tools.py` (plugin tools as in-process MCP servers), which `runner.py` loads.

Everything else talks to the agent through `AgentRequest` and `AgentOutcome` in
`llmos._internal.sdk.types`, plain llmos types, so the kernel, memory and policies stay testable
and fast to import. Import `llmos._internal.sdk.runner` lazily, at the moment a model is needed:
Follower runs and `--help` must never load the SDK (it costs about a second).
"""
