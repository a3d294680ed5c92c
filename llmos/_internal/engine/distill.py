"""`llmos memory distill`: the model merges insights into a few durable facts.

Insights pile up one per learned goal; facts are what is worth knowing across goals. This
asks the model (through `llmos._internal.sdk.structured`: no tools, a plain system prompt, an answer
the CLI validates against a JSON schema) to merge the insights not yet distilled into facts,
keeping clear of the facts already known. Like any
run it is authorized against the battery, capped at `--budget` (the SDK's
`max_budget_usd`), charged to the ledger (mode `distill`) whatever its end, and logged in a
session log. The insights it was shown are marked distilled, so recall no longer offers them
beside the facts made of them.

Scope: with `--project P`, P's insights become P's facts. Without, every scope's insights
are read and the model says of each fact whether it holds across projects (a workspace
fact) or for one project only.
"""

from __future__ import annotations

from dataclasses import asdict, field
from typing import Any

from llmos._internal.engine.lifecycle import ModelRun, model_run
from llmos._internal.errors import UsageError
from llmos._internal.frozen import frozen
from llmos._internal.kernel.economy import TokenEconomy
from llmos._internal.memory.facts import MemoryStore
from llmos._internal.memory.memory_index import IndexedItem
from llmos._internal.memory.memory_item import MAX_TEXT_CHARS, Kind, clean_tags
from llmos._internal.text import one_line
from llmos._internal.workspace import DEFAULT_PROJECT, Workspace, validate_project_name

MAX_INSIGHTS = 60  # per distillation, most recent first: keeps the prompt (and cost) bounded
MAX_KNOWN_FACTS = 40
MAX_NEW_FACTS = 20
TIMEOUT_SECS = 300.0
FACTS: tuple[Kind, ...] = ("fact",)
INSIGHTS: tuple[Kind, ...] = ("insight",)

SYSTEM = (
    "You are distilling the memory of llmos, an LLM operating system. Answer only by calling "
    "the StructuredOutput tool with the facts."
)
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "facts": {
            "type": "array",
            "maxItems": MAX_NEW_FACTS,
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string", "minLength": 1},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "project": {"type": ["string", "null"]},
                    "from": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["text"],
            },
        }
    },
    "required": ["facts"],
}
PROMPT = """
Below are insights llmos wrote after successful runs{scope_note}. Merge them into a few
durable facts: general, reusable lessons (how goals of a kind are best done, which tools and
commands worked, what to avoid, what it costs). Leave out one-off details, and do not repeat
the facts already known (listed after the insights).

Each fact: "text" (one or two sentences), "tags" (a few single words), "project", and
"from" (the ids of the insights it comes from). {project_rule}
At most {max_facts} facts.

Insights:
{insights}

Facts already known:
{known}
""".strip()


@frozen
class DistillResult:
    """How one `llmos memory distill` went: the facts it made and what it cost."""

    status: str  # success | nothing (no insights to distill) | a failed run's status
    run_id: str | None = None
    cost_usd: float = 0.0
    balance_usd: float | None = None
    insights: int = 0  # insights shown to the model (and marked distilled on success)
    facts: list[dict[str, Any]] = field(default_factory=list)
    session_log: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("success", "nothing")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def distill(
    ws: Workspace,
    *,
    budget_usd: float,
    project: str | None = None,
    model: str | None = None,
    env: dict[str, str] | None = None,
) -> DistillResult:
    if project is not None:
        validate_project_name(project)
    with MemoryStore(ws) as memory:
        scopes = None if project is None else [project]
        insights = memory.listing(
            projects=scopes, kinds=INSIGHTS, include_distilled=False, limit=MAX_INSIGHTS
        )
        if not insights:
            return DistillResult("nothing")
        known = memory.listing(
            projects=None if project is None else [None, project],
            kinds=FACTS,
            limit=MAX_KNOWN_FACTS,
        )
        economy = TokenEconomy(ws.db_path, initial_balance_usd=ws.settings.initial_balance_usd)
        try:
            # Charged to the project it distills (to `default` for every scope's): that
            # project's budget is checked before anything is spent.
            async with model_run(
                ws,
                economy,
                goal=f"distill {len(insights)} insight(s) into facts ({_scope_name(project)})",
                project=project or DEFAULT_PROJECT,
                mode="distill",
                budget_usd=budget_usd,
                reason="merging insights into facts with the model",
                model=model,
                env=env,
            ) as run:
                facts = await _distill(
                    run,
                    ws=ws,
                    memory=memory,
                    insights=insights,
                    known=known,
                    project=project,
                    env=env,
                )
            recorded = run.recorded
            assert recorded is not None  # closed: its row is written
            return DistillResult(
                status=recorded.status,
                run_id=recorded.run_id,
                cost_usd=recorded.cost_usd,
                balance_usd=economy.balance,
                insights=len(insights),
                facts=facts,
                session_log=str(run.log.path),
                error=recorded.error,
            )
        finally:
            economy.close()


async def _distill(
    run: ModelRun,
    *,
    ws: Workspace,
    memory: MemoryStore,
    insights: list[IndexedItem],
    known: list[IndexedItem],
    project: str | None,
    env: dict[str, str] | None,
) -> list[dict[str, Any]]:
    """Ask the model; write the facts it proposes; mark the insights it was shown."""
    # loads the SDK: only when a model is needed
    from llmos._internal.sdk.structured import ask_structured

    ctx = run.ctx
    allowed: set[str | None] = (
        {project} if project else {None, *(entry.project for entry in insights)}
    )
    answer = await ask_structured(
        ctx,
        prompt=build_prompt(insights, known, project, allowed),
        system=SYSTEM,
        schema=SCHEMA,
        budget_usd=ctx.budget_usd,
        model=ctx.model,
        workdir=ctx.workdir,
        env=env,
        timeout_secs=TIMEOUT_SECS,
        stall_timeout_secs=ws.settings.stall_timeout_secs,
    )
    outcome = answer.outcome
    if answer.data is None:  # no facts: the run failed, or answered with something else
        run.end(outcome, status=outcome.status if not outcome.ok else "error", error=answer.problem)
        return []
    written: list[dict[str, Any]] = []
    for text, tags, fact_project, sources in parse_answer(answer.data, insights, allowed, project):
        item, path = memory.add_fact(
            text,
            project=fact_project,
            tags=tags,
            source=f"distill:{ctx.run_id}",
            meta={"derived_from": sources},
        )
        written.append(
            {
                "id": item.id,
                "project": fact_project,
                "path": str(path),
                "text": item.text,
                "tags": list(item.tags),
            }
        )
    ids = [str(fact["id"]) for fact in written]
    for entry in insights:
        memory.mark_distilled(entry, run_id=ctx.run_id, facts=ids)
    run.end(outcome)
    return written


def _scope_name(project: str | None) -> str:
    return "every project" if project is None else f"project {project}"


def build_prompt(
    insights: list[IndexedItem],
    known: list[IndexedItem],
    project: str | None,
    allowed: set[str | None],
) -> str:
    if project is not None:
        scope_note = f" in project {project}"
        project_rule = f'Every fact is about project {project}: set "project" to null.'
    else:
        names = ", ".join(sorted(p for p in allowed if p)) or "none"
        scope_note = " across projects"
        project_rule = (
            '"project": null for a fact that holds in any project, else the one project it is '
            f"about (one of: {names})."
        )
    shown = "\n".join(f"[{e.id} | {e.scope}] {one_line(e.text, 1500)}" for e in insights)
    facts = "\n".join(f"- {one_line(e.text, 500)}" for e in known) or "(none)"
    return PROMPT.format(
        scope_note=scope_note,
        project_rule=project_rule,
        max_facts=MAX_NEW_FACTS,
        insights=shown,
        known=facts,
    )


def parse_answer(
    answer: dict[str, Any],
    insights: list[IndexedItem],
    allowed: set[str | None],
    project: str | None,
) -> list[tuple[str, list[str], str | None, list[str]]]:
    """The facts in the model's answer: (text, tags, project, insight ids).

    The CLI has checked the answer against `SCHEMA`; this is defensive all the same, and
    keeps the model to the scopes it may write to."""
    facts = answer.get("facts")
    if not isinstance(facts, list):
        return []
    ids = {entry.id for entry in insights}
    found = []
    for fact in facts[:MAX_NEW_FACTS]:
        if not isinstance(fact, dict):
            continue
        text = fact.get("text")
        if not isinstance(text, str) or not text.strip():
            continue
        tags = [t for t in fact.get("tags") or [] if isinstance(t, str) and _is_tag(t)]
        scope = project if project is not None else fact.get("project")
        if scope not in allowed:
            scope = None  # a project the insights never came from: not the model's to name
        sources = [s for s in fact.get("from") or [] if isinstance(s, str) and s in ids]
        found.append((text.strip()[:MAX_TEXT_CHARS], tags, scope, sources))
    return found


def _is_tag(tag: str) -> bool:
    try:
        clean_tags([tag])
    except UsageError:
        return False
    return True
