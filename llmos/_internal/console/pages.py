"""The console's pages: server-rendered HTML from the dicts of `views.py`.

Plain f-strings, and every value from outside goes through `esc` (control characters
removed, secrets hidden, HTML escaped): nothing is ever marked safe by accident. A region
with `data-live` is refreshed by console.js, which fetches the same page's `?part=` and
swaps the region in (while nothing in it is being edited).
"""

from __future__ import annotations

import datetime as dt
import html
import json
from typing import Any
from urllib.parse import quote

from llmos._internal.console.redact import redact
from llmos._internal.text import clean

NAV = (
    ("/", "Inbox"),
    ("/runs", "Runs"),
    ("/traces", "Traces"),
    ("/budget", "Budget"),
    ("/memory", "Memory"),
    ("/schedule", "Schedule"),
)


def esc(value: Any) -> str:
    return html.escape(redact(clean(str(value))), quote=True)


def when(timestamp: Any) -> str:
    if not isinstance(timestamp, int | float):
        return "-"
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def money(value: Any) -> str:
    return f"${float(value or 0):.4f}"


def layout(title: str, body: str, *, csrf: str, active: str, pending: int, note: str = "") -> str:
    links = "".join(
        f'<a href="{href}"{" aria-current=page" if href == active else ""}>{label}'
        + (f' <span class="badge" id="pending-count">{pending}</span>' if href == "/" else "")
        + "</a>"
        for href, label in NAV
    )
    flash = f'<p class="note" role="status">{esc(note)}</p>' if note else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{esc(csrf)}">
<title>{esc(title)} · llmos console</title>
<link rel="stylesheet" href="/static/console.css">
<script src="/static/console.js" defer></script>
</head>
<body>
<header><span class="brand">llmos</span><nav>{links}</nav></header>
<main>
<h1>{esc(title)}</h1>
{flash}
{body}
</main>
</body>
</html>
"""


def csrf_field(csrf: str) -> str:
    return f'<input type="hidden" name="csrf" value="{esc(csrf)}">'


def button_form(
    action: str, label: str, csrf: str, *, danger: bool = False, extra: str = ""
) -> str:
    cls = ' class="danger"' if danger else ""
    return (
        f'<form method="post" action="{esc(action)}" class="inline">{csrf_field(csrf)}{extra}'
        f"<button{cls}>{esc(label)}</button></form>"
    )


def table(headers: list[str], rows: list[str], *, empty: str, body_id: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    ident = f' id="{body_id}"' if body_id else ""
    content = (
        "".join(rows) or f'<tr><td colspan="{len(headers)}" class="empty">{esc(empty)}</td></tr>'
    )
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody{ident}>{content}</tbody></table></div>'


def status_badge(status: str) -> str:
    return f'<span class="status status-{esc(status.split(":")[0])}">{esc(status)}</span>'


# Inbox ----------------------------------------------------------------------------------------
def inbox(data: dict[str, Any], csrf: str) -> str:
    cards = "".join(_question_card(q, csrf) for q in data["pending"])
    if not cards:
        cards = '<p class="empty">Nothing waits for an answer.</p>'
    recent = [
        "<tr>"
        f"<td>{q['id']}</td><td>{when(q['asked_at'])}</td>"
        f'<td><a href="/runs/{quote(q["run_id"])}">{esc(q["run_id"])}</a></td>'
        f'<td>{esc(q["tool"])}</td><td class="code">{esc(_short_input(q["input"]))}</td>'
        f"<td>{status_badge(q['status'])}</td>"
        f"<td>{_answered(q)}</td>"
        "</tr>"
        for q in data["recent"]
    ]
    return (
        f'<section data-live="pending"><div id="pending" data-count="{data["count"]}">{cards}</div></section>'
        "<h2>Answered</h2>"
        + table(
            ["#", "asked", "run", "tool", "call", "outcome", "by / why"],
            recent,
            empty="No answered questions yet.",
        )
    )


def _short_input(value: dict[str, Any]) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."


def _question_card(q: dict[str, Any], csrf: str) -> str:
    action = f"/approvals/{q['id']}"
    field = q.get("edited_field")
    if field:
        editor = (
            f'<input type="hidden" name="field" value="{esc(field)}">'
            f'<label>{esc(field)}<textarea name="value" rows="3">{esc(q["input"][field])}</textarea></label>'
        )
    else:
        pretty = json.dumps(q["input"], indent=2, ensure_ascii=False)
        editor = (
            f'<label>input (JSON)<textarea name="input" rows="6">{esc(pretty)}</textarea></label>'
        )
    expires = max(0, int(q["expires_at"] - q["asked_at"]))
    agent = f" (agent {esc(q['agent'])})" if q.get("agent") else ""
    return f"""<article class="question" id="question-{q["id"]}" data-id="{q["id"]}">
<header><strong>{esc(q["tool"])}</strong>{agent} · {esc(q["source"])} run
<a href="/runs/{quote(q["run_id"])}">{esc(q["run_id"])}</a>
<span class="muted">asked {when(q["asked_at"])}, expires {when(q["expires_at"])} ({expires} s)</span></header>
<p class="goal">{esc(q["goal"])}</p>
<pre class="call">{esc(json.dumps(q["input"], indent=2, ensure_ascii=False))}</pre>
<p>rule <code>{esc(q["rule"])}</code>: {esc(q["reason"])}</p>
<div class="answers">
<form method="post" action="{action}" class="inline">{csrf_field(csrf)}
<input type="hidden" name="decision" value="approve"><button class="approve">Approve</button></form>
<details><summary>Modify</summary>
<form method="post" action="{action}">{csrf_field(csrf)}<input type="hidden" name="decision" value="modify">
{editor}<button>Approve changed call</button>
<p class="muted">The changed call is checked by the policy again.</p></form></details>
<details><summary>Reject</summary>
<form method="post" action="{action}">{csrf_field(csrf)}<input type="hidden" name="decision" value="reject">
<label>reason, for the model<input type="text" name="reason" placeholder="the user rejected this call"></label>
<button class="danger">Reject</button></form></details>
</div>
</article>"""


# Runs -----------------------------------------------------------------------------------------
def runs_rows(data: dict[str, Any]) -> str:
    return "".join(
        f'<tr data-run="{esc(r["run_id"])}">'
        f'<td><a href="/runs/{quote(r["run_id"])}">{esc(r["goal"] or r["run_id"])}</a></td>'
        f"<td>{esc(r['mode'])}</td><td>{status_badge(r['status'])}</td>"
        f'<td class="num">{money(r["cost_usd"])}</td><td class="num">{money(r["saved_usd"])}</td>'
        f"<td>{when(r['started_at'])}</td>"
        f'<td class="num">{_secs(r["duration_secs"])}</td><td>{esc(r["project"])}</td></tr>'
        for r in data["runs"]
    )


def runs(data: dict[str, Any]) -> str:
    return (
        '<section data-live="runs">'
        + table(
            ["goal", "mode", "status", "cost", "saved", "started", "time", "project"],
            [runs_rows(data)] if data["runs"] else [],
            empty='No runs yet: llmos run "goal".',
            body_id="runs-body",
        )
        + "</section>"
    )


def _secs(value: Any) -> str:
    return f"{float(value):.1f} s" if isinstance(value, int | float) else "-"


def run_page(run: dict[str, Any], csrf: str) -> str:
    trace = (
        f'<a href="/traces/{quote(run["trace_id"])}">{esc(run["trace_id"])}</a>'
        if run["trace_id"]
        else "none"
    )
    interrupt = (
        button_form(f"/runs/{run['run_id']}/interrupt", "Interrupt", csrf, danger=True)
        if run["interruptible"]
        else ""
    )
    facts = [
        ("goal", esc(run["goal"])),
        ("status", status_badge(run["status"]) + " " + interrupt),
        ("mode", esc(run["mode"])),
        ("project", esc(run["project"])),
        ("started", when(run["started_at"])),
        ("time", _secs(run["duration_secs"])),
        ("cost", money(run["cost_usd"])),
        ("saved", money(run["saved_usd"])),
        ("trace", trace),
        ("session log", esc(run["integrity"])),
    ]
    if run.get("error"):
        facts.append(("error", esc(run["error"])))
    if run.get("parent_run_id"):
        parent = run["parent_run_id"]
        facts.append(("part of", f'<a href="/runs/{quote(parent)}">{esc(parent)}</a>'))
    fields = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in facts)
    steps = []
    for event in run["timeline"]:
        cls = ""
        if event["kind"] == "tool_decision":
            cls = "allowed" if event["allowed"] else "denied"
        steps.append(
            f'<li class="ev ev-{esc(event["kind"])} {cls}"><span class="t">+{event["offset_secs"]:.2f}s</span>'
            f'<span class="label">{esc(event["label"])}</span><span class="text">{esc(event["text"])}</span></li>'
        )
    asked = "".join(
        f"<li>#{q['id']} {esc(q['tool'])} ({esc(q['rule'])}): {status_badge(q['status'])}"
        f" {_answered(q)}</li>"
        for q in run["approvals"]
    )
    approvals = f"<h2>Approvals</h2><ul>{asked}</ul>" if asked else ""
    return (
        f'<section data-live="run"><dl class="fields">{fields}</dl>{approvals}'
        f'<h2>Timeline</h2><ol class="timeline">{"".join(steps)}</ol></section>'
    )


def _answered(q: dict[str, Any]) -> str:
    """By whom, or why: "by the web console", "not now" (a rejection's reason)."""
    if q["status"] in ("approved", "modified") and q.get("answered_by"):
        return f"by {esc(q['answered_by'])}"
    return esc(q.get("answer_reason") or "")


# Traces ---------------------------------------------------------------------------------------
def traces(data: dict[str, Any], search: str) -> str:
    rows = [
        "<tr>"
        f'<td><a href="/traces/{quote(t["id"])}"><code>{esc(t["id"][:12])}</code></a></td>'
        f"<td>{esc(t['goal_text'])}</td><td>{esc(t['mode'])}</td><td>{esc(t['trust'])}</td>"
        f'<td class="num">{float(t["success_rating"]):.2f}</td><td class="num">{t["usage_count"]}</td>'
        f'<td class="num">{money(t["estimated_cost_usd"])}</td><td class="num">{money(t["saved_usd"])}</td>'
        f"<td>{esc(str(t['last_used']).replace('T', ' ')[:19])}</td></tr>"
        for t in data["traces"]
    ]
    form = (
        '<form method="get" action="/traces" class="search">'
        f'<input type="search" name="q" value="{esc(search)}" placeholder="search goals">'
        "<button>Search</button></form>"
    )
    return form + table(
        ["id", "goal", "mode", "trust", "rating", "uses", "cost", "saved", "last used"],
        rows,
        empty="No trace matches." if search else 'No traces yet: llmos run "goal" learns one.',
    )


def trace_page(t: dict[str, Any], csrf: str) -> str:
    facts = [
        ("goal", esc(t["goal_text"])),
        ("template", f"<code>{esc(t['template'])}</code>"),
        ("mode", esc(t["mode"])),
        ("project", esc(t["project"])),
        ("rating", f"{float(t['success_rating']):.2f} over {t['usage_count']} use(s)"),
        ("cost when learned", money(t["estimated_cost_usd"])),
        ("replayable", "yes" if t["replayable"] else f"no: {esc(t['not_replayable_because'])}"),
        ("trust", f"{esc(t['trust'])}: {esc(t['trust_explained'])}"),
    ]
    facts += [
        (f"slot {{{n}}}", f"{esc(s['kind'])}, learned as {esc(s['value'])}")
        for n, s in enumerate(t["slots"], 1)
    ]
    facts += [("alias", esc(a)) for a in t["aliases"]]
    fields = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in facts)
    plan = "".join(f"<li>{esc(line)}</li>" for line in t["plan"])
    trust = ""
    if not t["trusted"]:
        trust = (
            '<section class="trust"><h2>Trust this trace</h2>'
            f"<p>It was not learned here. Read its plan first:</p><ol>{plan}</ol>"
            + button_form(
                f"/traces/{t['id']}/trust", "Trust: it will replay inside the sandbox", csrf
            )
            + "</section>"
        )
    steps = "".join(
        f'<li class="{esc(s["outcome"])}"><strong>{esc(s["tool"])}</strong> '
        f'<code>{esc(json.dumps(s["input"], ensure_ascii=False))}</code> <span class="muted">{esc(s["summary"])}</span></li>'
        for s in t["steps"]
    )
    delete = button_form(
        f"/traces/{t['id']}/delete",
        "Delete trace",
        csrf,
        danger=True,
        extra='<input type="hidden" name="confirm" value="1">',
    )
    return (
        f'<dl class="fields">{fields}</dl>{trust}<h2>Steps</h2><ol class="steps">{steps}</ol>'
        f"<h2>Result</h2><pre>{esc(t['result'])}</pre>{delete}"
    )


# Budget ---------------------------------------------------------------------------------------
def budget(data: dict[str, Any]) -> str:
    days = data["per_day"]
    top = max([max(d["spent_usd"], d["saved_usd"]) for d in days] + [0.0001])
    width, height, bar = 28, 160, 11
    bars = []
    for i, d in enumerate(days):
        x = i * width + 4
        for j, (key, cls) in enumerate((("spent_usd", "spent"), ("saved_usd", "saved"))):
            h = round(d[key] / top * (height - 20), 1)
            bars.append(
                f'<rect class="{cls}" x="{x + j * bar}" y="{height - h}" width="{bar - 1}" height="{h}">'
                f"<title>{esc(d['day'])} {cls} {money(d[key])}</title></rect>"
            )
        if i % 2 == 0:
            bars.append(f'<text x="{x}" y="{height + 14}">{esc(d["day"][5:])}</text>')
    svg = (
        f'<svg class="chart" viewBox="0 0 {len(days) * width + 8} {height + 20}" role="img" '
        f'aria-label="spend and savings per day">{"".join(bars)}</svg>'
        '<p class="legend"><span class="spent">■</span> spent <span class="saved">■</span> saved (Follower replays)</p>'
    )

    def breakdown(rows: list[dict[str, Any]], key: str) -> str:
        return table(
            [key, "spent", "saved"],
            [
                f'<tr><td>{esc(r[key])}</td><td class="num">{money(r["spent_usd"])}</td>'
                f'<td class="num">{money(r["saved_usd"])}</td></tr>'
                for r in rows
            ],
            empty="No runs yet.",
        )

    return (
        f'<p class="balance">balance <strong>{money(data["balance_usd"])}</strong></p>'
        f"<h2>Per day (last {len(days)} days)</h2>{svg}"
        f'<div class="two"><div><h2>Per project</h2>{breakdown(data["per_project"], "project")}</div>'
        f"<div><h2>Per mode</h2>{breakdown(data['per_mode'], 'mode')}</div></div>"
    )


# Memory ---------------------------------------------------------------------------------------
def memory(data: dict[str, Any], search: str, csrf: str) -> str:
    rows = [
        "<tr>"
        f"<td><code>{esc(m['id'])}</code></td><td>{esc(m['kind'])}</td><td>{esc(m['project'] or 'workspace')}</td>"
        f"<td>{esc(m['text'])}</td><td>{when(m['created_at']) if isinstance(m['created_at'], int | float) else esc(m['created_at'])}</td>"
        "<td>"
        + button_form(
            f"/memory/{m['id']}/delete",
            "Remove",
            csrf,
            danger=True,
            extra=f'<input type="hidden" name="project" value="{esc(m["project"] or "")}">',
        )
        + "</td></tr>"
        for m in data["items"]
    ]
    forms = (
        '<form method="get" action="/memory" class="search">'
        f'<input type="search" name="q" value="{esc(search)}" placeholder="search memory">'
        "<button>Search</button></form>"
        f'<form method="post" action="/memory" class="add">{csrf_field(csrf)}'
        '<input type="text" name="text" placeholder="a fact to remember" required>'
        '<input type="text" name="project" placeholder="project (empty: every project)">'
        "<button>Add fact</button></form>"
    )
    return forms + table(
        ["id", "kind", "scope", "text", "created", ""],
        rows,
        empty="Nothing in memory matches that." if search else "No facts or insights yet.",
    )


# Schedule -------------------------------------------------------------------------------------
def schedule(data: dict[str, Any], csrf: str) -> str:
    kernel = data["kernel"]
    state = f"running (pid {kernel['pid']})" if kernel.get("running") else "not running"
    rows = []
    for job in data["jobs"]:
        toggle = (
            button_form(f"/schedule/{job['id']}/resume", "Resume", csrf)
            if job["paused"]
            else button_form(f"/schedule/{job['id']}/pause", "Pause", csrf)
        )
        rows.append(
            "<tr>"
            f"<td><code>{esc(job['id'])}</code></td><td>{esc(job['goal'])}</td><td>{esc(job['schedule'])}</td>"
            f"<td>{esc(job['project'])}</td><td>{'paused' if job['paused'] else 'active'}</td>"
            f"<td>{when(job['next_run_at'])}</td><td>{esc(job['last_status'] or '-')}</td><td>{toggle}</td></tr>"
        )
    return f"<p>kernel: {esc(state)}</p>" + table(
        ["id", "goal", "schedule", "project", "state", "next run", "last run", ""],
        rows,
        empty='No scheduled goals: llmos schedule add "goal" --every 1h.',
    )


def message_page(title: str, text: str, *, login: bool = False) -> str:
    form = ""
    if login:
        form = (
            '<form method="post" action="/login" class="login">'
            '<label>password <input type="password" name="password" autofocus></label>'
            "<button>Log in</button></form>"
        )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)} · llmos console</title><link rel="stylesheet" href="/static/console.css"></head>
<body><main class="narrow"><h1>{esc(title)}</h1><p>{esc(text)}</p>{form}</main></body></html>"""
