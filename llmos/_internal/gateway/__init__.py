"""The llmos gateway: the Anthropic Messages API served on 127.0.0.1, governing any agent's
tool calls between the client (Claude Code, the Agent SDK, an app on the `anthropic` client)
and the model API.

Every `tool_use` the model returns is decided by llmos's security policy before the client
sees it: allowed calls are released, rejected ones go back to the model ("think again"), and
the policy's questions go to a human. Each client conversation is an llmos run: a session
log, audit rows, a ledger row, and a trace `llmos gateway save` can make of it.

The parts: `config` (settings), `toolmap` (other clients' tool names), `store` (keys and
conversations), `conversations` (grouping, runs), `guard` (the policy), `relay` (streams,
held and released tool calls), `think_again`, `upstream` (httpx2), `app` (Starlette),
`server` (uvicorn), `approvers`, `save` (a conversation as a trace). Only the `llmos
gateway` command imports them: they load Starlette, uvicorn and httpx2.
"""
