"""The attribute names llmos's spans use: OpenTelemetry's GenAI conventions, and llmos's own.

Pinned to the GenAI attributes of **OpenTelemetry semantic conventions v1.44.0**, as the
Python package `opentelemetry-semantic-conventions` 0.66b2 ships them
(`opentelemetry.semconv._incubating.attributes.gen_ai_attributes`; schema URL below). From
that release on, the GenAI conventions live in their own repository
(open-telemetry/semantic-conventions-genai) and are still "development": the names below
are the ones this package emits until llmos moves on deliberately (a test checks they match
the installed package). Written out here rather than imported: importing the package costs
time on every run, and its GenAI names are marked as moved.
"""

from __future__ import annotations

SEMCONV_VERSION = "1.44.0"
SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"
SCOPE_NAME = "llmos"

# gen_ai.* (v1.44.0)
OPERATION_NAME = "gen_ai.operation.name"
PROVIDER_NAME = "gen_ai.provider.name"
AGENT_NAME = "gen_ai.agent.name"
AGENT_ID = "gen_ai.agent.id"
CONVERSATION_ID = "gen_ai.conversation.id"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"  # content: opt-in
TOOL_CALL_RESULT = "gen_ai.tool.call.result"  # content: opt-in
INPUT_MESSAGES = "gen_ai.input.messages"  # content: opt-in
OUTPUT_MESSAGES = "gen_ai.output.messages"  # content: opt-in
EVALUATION_NAME = "gen_ai.evaluation.name"
EVALUATION_SCORE_VALUE = "gen_ai.evaluation.score.value"
EVALUATION_SCORE_LABEL = "gen_ai.evaluation.score.label"
ERROR_TYPE = "error.type"

# gen_ai.operation.name values
INVOKE_AGENT = "invoke_agent"
EXECUTE_TOOL = "execute_tool"
CHAT = "chat"

# gen_ai.provider.name: the model's runs go to Anthropic's API (or a compatible gateway); a
# Follower replay has no model: llmos itself does the work.
ANTHROPIC = "anthropic"
LLMOS = "llmos"

# llmos.* (llmos's own attributes, on the spans above)
RUN_ID = "llmos.run.id"
PARENT_RUN_ID = "llmos.run.parent_id"
MODE = "llmos.mode"
MODE_REASON = "llmos.mode.reason"
PROJECT = "llmos.project"
WORKDIR = "llmos.workdir"
BUDGET_USD = "llmos.budget_usd"
COST_USD = "llmos.cost_usd"
SAVED_USD = "llmos.saved_usd"
STATUS = "llmos.run.status"
TURNS = "llmos.run.turns"
TOOL_CALLS = "llmos.run.tool_calls"
TRACE_ID = "llmos.trace.id"  # the learned execution trace (its signature), not the OTel trace
UNFINISHED = "llmos.run.unfinished"
REPLAYED = "llmos.replayed"
REPLAY_STEP = "llmos.replay.step"
POLICY_ALLOWED = "llmos.policy.allowed"
POLICY_DECISION = "llmos.policy.decision"
POLICY_RULE = "llmos.policy.rule"
POLICY_GUARD = "llmos.policy.guard"
POLICY_APPROVED_BY = "llmos.policy.approved_by"
POLICY_REASON = "llmos.policy.reason"  # content: opt-in (it quotes the call)
SUBAGENT = "llmos.subagent"
ATTEMPT = "llmos.attempt"
HTTP_STATUS = "http.response.status_code"
