"""The console's HTTP side: a Starlette application of pages and a JSON API over `views.py`.

Pages: `/` (the approvals inbox), `/runs`, `/runs/{id}`, `/traces`, `/traces/{id}`,
`/budget`, `/memory`, `/schedule`; a page's live region is `?part=NAME` of the same path.
Their forms POST to the same paths and are answered with a redirect (303) back to the
page, with a note of what happened. The JSON API is the same under `/api/...` (GET to read,
POST with a JSON body to act; errors are `{"error": {"message", "hint"}}` with 400, 404 or
409). Every route but `/static/` needs the session cookie (`auth.py`); every POST its CSRF
token and a same-origin request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from llmos._internal.console import pages, views
from llmos._internal.console.auth import Gatekeeper, Session, csrf_ok, same_origin
from llmos._internal.console.redact import redact_all
from llmos._internal.errors import LlmosError
from llmos._internal.security.approval_inbox import AlreadyAnswered, UnknownQuestion
from llmos._internal.workspace import Workspace

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}

Action = Callable[[Workspace, dict[str, Any]], dict[str, Any]]


@dataclass
class Console:
    """One console: its workspace, its gatekeeper, the hosts it answers to."""

    ws: Workspace
    gate: Gatekeeper
    port: int = 0
    loopback: bool = True
    cookie: str = field(init=False, default="llmos_console")

    def app(self) -> Starlette:
        routes = [
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/", self.page_inbox),
            Route("/runs", self.page_runs),
            Route("/runs/{run_id}", self.page_run),
            Route("/traces", self.page_traces),
            Route("/traces/{trace_id}", self.page_trace),
            Route("/budget", self.page_budget),
            Route("/memory", self.page_memory),
            Route("/schedule", self.page_schedule),
            Route("/api/session", self.api_session),
            Route("/api/approvals", self.api_read(lambda ws, q: views.approvals(ws))),
            Route("/api/runs", self.api_read(lambda ws, q: views.runs(ws))),
            Route(
                "/api/runs/{run_id}", self.api_read(lambda ws, q: views.run_detail(ws, q["run_id"]))
            ),
            Route("/api/traces", self.api_read(lambda ws, q: views.traces(ws, search=q.get("q")))),
            Route(
                "/api/traces/{trace_id}",
                self.api_read(lambda ws, q: views.trace_detail(ws, q["trace_id"])),
            ),
            Route("/api/budget", self.api_read(lambda ws, q: views.budget(ws))),
            Route("/api/memory", self.api_read(lambda ws, q: views.memory(ws, search=q.get("q")))),
            Route("/api/schedule", self.api_read(lambda ws, q: views.schedule(ws))),
        ]
        for path, action, back in _ACTIONS:
            routes.append(Route(path, self.form_action(action, back), methods=["POST"]))
            routes.append(Route("/api" + path, self.api_action(action), methods=["POST"]))
        app = Starlette(routes=routes)
        self.cookie = f"llmos_console_{self.port}"  # cookies are shared across ports
        return _Guarded(app, self)  # type: ignore[return-value]

    # Sessions ---------------------------------------------------------------------------------
    def session_of(self, request: Request) -> Session | None:
        return self.gate.session(request.cookies.get(self.cookie))

    def set_cookie(self, response: Response, sid: str) -> None:
        response.set_cookie(
            self.cookie, sid, httponly=True, samesite="strict", path="/", max_age=12 * 3600
        )

    async def login(self, request: Request) -> Response:
        form = await _form(request)
        sid = await run_in_threadpool(self.gate.log_in, form.get("password", ""))
        if sid is None:
            return _html(pages.message_page("Log in", "Wrong password.", login=True), 401)
        response = RedirectResponse("/", status_code=303)
        self.set_cookie(response, sid)
        return response

    async def logout(self, request: Request) -> Response:
        self.gate.log_out(request.cookies.get(self.cookie))
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(self.cookie, path="/")
        return response

    async def api_session(self, request: Request) -> Response:
        session = self.session_of(request)
        assert session is not None  # _Guarded let it through
        return JSONResponse({"csrf": session.csrf})

    # Pages ------------------------------------------------------------------------------------
    async def _page(
        self,
        request: Request,
        title: str,
        active: str,
        render: Callable[[Session], str],
        parts: dict[str, Callable[[Session], str]] | None = None,
    ) -> Response:
        session = self.session_of(request)
        assert session is not None
        part = request.query_params.get("part")
        try:
            if part:
                if part == "count":
                    data = await run_in_threadpool(views.approvals, self.ws)
                    return JSONResponse({"count": data["count"]})
                if not parts or part not in parts:
                    return _html("unknown part", 404)
                return _html(await run_in_threadpool(parts[part], session))
            body = await run_in_threadpool(render, session)
            pending = (await run_in_threadpool(views.approvals, self.ws))["count"]
        except views.NotFound as exc:
            return _html(pages.message_page("Not found", exc.message), 404)
        note = request.query_params.get("note", "")
        html = pages.layout(
            title, body, csrf=session.csrf, active=active, pending=pending, note=note
        )
        return _html(html)

    async def page_inbox(self, request: Request) -> Response:
        def body(s: Session) -> str:
            return pages.inbox(views.approvals(self.ws), s.csrf)

        def pending(s: Session) -> str:
            return _inner(body(s), "pending")

        return await self._page(request, "Approvals", "/", body, {"pending": pending})

    async def page_runs(self, request: Request) -> Response:
        def body(s: Session) -> str:
            return pages.runs(views.runs(self.ws))

        def live(s: Session) -> str:
            return _inner(body(s), "runs")

        return await self._page(request, "Runs", "/runs", body, {"runs": live})

    async def page_run(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]

        def body(s: Session) -> str:
            return pages.run_page(views.run_detail(self.ws, run_id), s.csrf)

        def live(s: Session) -> str:
            return _inner(body(s), "run")

        return await self._page(request, f"Run {run_id}", "/runs", body, {"run": live})

    async def page_traces(self, request: Request) -> Response:
        search = request.query_params.get("q", "")

        def body(s: Session) -> str:
            return pages.traces(views.traces(self.ws, search=search), search)

        return await self._page(request, "Traces", "/traces", body)

    async def page_trace(self, request: Request) -> Response:
        trace_id = request.path_params["trace_id"]

        def body(s: Session) -> str:
            return pages.trace_page(views.trace_detail(self.ws, trace_id), s.csrf)

        return await self._page(request, f"Trace {trace_id[:12]}", "/traces", body)

    async def page_budget(self, request: Request) -> Response:
        return await self._page(
            request, "Budget", "/budget", lambda s: pages.budget(views.budget(self.ws))
        )

    async def page_memory(self, request: Request) -> Response:
        search = request.query_params.get("q", "")

        def body(s: Session) -> str:
            return pages.memory(views.memory(self.ws, search=search), search, s.csrf)

        return await self._page(request, "Memory", "/memory", body)

    async def page_schedule(self, request: Request) -> Response:
        return await self._page(
            request,
            "Schedule",
            "/schedule",
            lambda s: pages.schedule(views.schedule(self.ws), s.csrf),
        )

    # Actions ----------------------------------------------------------------------------------
    def form_action(
        self, action: Action, back: Callable[[dict[str, Any]], str]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            params = {**await _form(request), **request.path_params}
            try:
                result = await run_in_threadpool(action, self.ws, params)
                note = result.pop("note", "done")
            except LlmosError as exc:
                note = f"{exc.message}" + (f" {exc.hint}" if exc.hint else "")
            except ValueError as exc:
                note = str(exc)
            target = back(params)
            sep = "&" if "?" in target else "?"
            return RedirectResponse(f"{target}{sep}{urlencode({'note': note})}", status_code=303)

        return endpoint

    def api_action(self, action: Action) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                return _error(400, "the body is not JSON")
            if not isinstance(body, dict):
                return _error(400, "the body must be a JSON object")
            params = {**body, **request.path_params}
            try:
                result = await run_in_threadpool(action, self.ws, params)
            except LlmosError as exc:
                return _error(_status_of(exc), exc.message, exc.hint)
            except ValueError as exc:
                return _error(400, str(exc))
            result.pop("note", None)
            return JSONResponse(redact_all(result))

        return endpoint

    def api_read(
        self, read: Callable[[Workspace, dict[str, Any]], dict[str, Any]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            query = {**request.query_params, **request.path_params}
            try:
                result = await run_in_threadpool(read, self.ws, query)
            except LlmosError as exc:
                return _error(_status_of(exc), exc.message, exc.hint)
            return JSONResponse(redact_all(result))

        return endpoint


class _Guarded:
    """The app behind the gate: the session cookie (or the one-time token, traded for it),
    the Host header, and for a POST the CSRF token and the request's origin."""

    def __init__(self, app: Starlette, console: Console) -> None:
        self.app, self.console = app, console

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        response = await self.check(request)
        if response is None:
            receive = _replaying(request, receive)

            async def send_with_headers(message: MutableMapping[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers", []))
                    names = {k for k, _ in headers}
                    for key, value in _HEADERS.items():
                        if key.encode() not in names:
                            headers.append((key.encode(), value.encode()))
                    message = {**message, "headers": headers}
                await send(message)

            await self.app(scope, receive, send_with_headers)
            return
        for key, value in _HEADERS.items():
            response.headers.setdefault(key, value)
        await response(scope, receive, send)

    async def check(self, request: Request) -> Response | None:
        console = self.console
        host = request.headers.get("host", "").lower()
        if console.loopback and host.split(":")[0] not in ("127.0.0.1", "localhost", "[::1]"):
            return _plain("this console answers only to 127.0.0.1 and localhost", 421)
        path = request.url.path
        if path.startswith("/static/"):
            return None
        if path == "/login" and request.method == "POST":
            if console.gate.password is None:
                return _plain("no password set", 403)
            if not same_origin({k.lower(): v for k, v in request.headers.items()}, {host}):
                return _plain("cross-site request refused", 403)
            return None
        token = request.query_params.get("token")
        if token is not None and request.method == "GET":
            sid = console.gate.redeem_token(token)
            if sid is None:
                return _html(
                    pages.message_page(
                        "Not allowed",
                        "This token is wrong or was used already. Start the console again "
                        "for a new one (llmos console).",
                        login=console.gate.password is not None,
                    ),
                    401,
                )
            # The token leaves the address bar (and the history) at once.
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = path + ("?" + urlencode(rest) if rest else "")
            response = RedirectResponse(target, status_code=303)
            console.set_cookie(response, sid)
            return response
        session = console.session_of(request)
        if session is None:
            if path.startswith("/api/"):
                return _error(401, "not logged in: open the address llmos console printed")
            return _html(
                pages.message_page(
                    "Not allowed",
                    "Open the address `llmos console` printed (with its one-time token).",
                    login=console.gate.password is not None,
                ),
                401,
            )
        if request.method == "POST":
            headers = {k.lower(): v for k, v in request.headers.items()}
            if not same_origin(headers, {host}):
                return _plain("cross-site request refused", 403)
            offered = headers.get("x-csrf-token")
            if offered is None and "form" in headers.get("content-type", ""):
                body = await request.body()
                fields = parse_qs(body.decode("utf-8", "replace"))
                offered = (fields.get("csrf") or [""])[0] or None
            if not csrf_ok(session, offered):
                return _plain("missing or wrong CSRF token", 403)
        return None


def _replaying(request: Request, receive: Any) -> Any:
    """`receive` for the app, giving it the body the gate read already (the CSRF field)."""
    body: bytes | None = getattr(request, "_body", None)
    if body is None:
        return receive
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        message: dict[str, Any] = await receive()
        return message

    return replay


# What each POST does, and where its form goes back to ------------------------------------------
def _answer(ws: Workspace, p: dict[str, Any]) -> dict[str, Any]:
    question_id = int(p["question"])
    decision = str(p.get("decision", ""))
    new_input = p.get("input")
    if decision == "modify" and not isinstance(new_input, dict):
        new_input = views.modified_input(ws, question_id, {k: str(v) for k, v in p.items()})
    done = views.answer(
        ws,
        question_id,
        decision,
        new_input=new_input,
        reason=str(p.get("reason") or ""),
        by="the web console",
    )
    return {**done, "note": f"request {question_id}: {done['status']}"}


def _interrupt(ws: Workspace, p: dict[str, Any]) -> dict[str, Any]:
    done = views.interrupt(ws, str(p["run_id"]))
    return {**done, "note": f"interrupt sent to run {p['run_id']} (pid {done['pid']})"}


def _trust(ws: Workspace, p: dict[str, Any]) -> dict[str, Any]:
    done = views.trust_trace(ws, str(p["trace_id"]), by="the web console")
    return {**done, "note": f"trace {done['id'][:12]} is trusted"}


def _delete_trace(ws: Workspace, p: dict[str, Any]) -> dict[str, Any]:
    done = views.delete_trace(ws, str(p["trace_id"]))
    return {**done, "note": f"trace {done['id'][:12]} deleted"}


def _add_fact(ws: Workspace, p: dict[str, Any]) -> dict[str, Any]:
    done = views.add_fact(ws, str(p.get("text") or ""), project=p.get("project") or None)
    return {**done, "note": f"remembered {done['id']}"}


def _remove_memory(ws: Workspace, p: dict[str, Any]) -> dict[str, Any]:
    done = views.remove_memory(ws, str(p["item_id"]), project=p.get("project") or None)
    return {**done, "note": f"removed {done['id']}"}


def _pause(ws: Workspace, p: dict[str, Any]) -> dict[str, Any]:
    done = views.pause_job(ws, str(p["job_id"]), paused=True)
    return {**done, "note": f"job {done['id']} paused"}


def _resume(ws: Workspace, p: dict[str, Any]) -> dict[str, Any]:
    done = views.pause_job(ws, str(p["job_id"]), paused=False)
    return {**done, "note": f"job {done['id']} resumed"}


_ACTIONS: list[tuple[str, Action, Callable[[dict[str, Any]], str]]] = [
    ("/approvals/{question:int}", _answer, lambda p: "/"),
    ("/runs/{run_id}/interrupt", _interrupt, lambda p: f"/runs/{quote(str(p['run_id']))}"),
    ("/traces/{trace_id}/trust", _trust, lambda p: f"/traces/{quote(str(p['trace_id']))}"),
    ("/traces/{trace_id}/delete", _delete_trace, lambda p: "/traces"),
    ("/memory", _add_fact, lambda p: "/memory"),
    ("/memory/{item_id}/delete", _remove_memory, lambda p: "/memory"),
    ("/schedule/{job_id}/pause", _pause, lambda p: "/schedule"),
    ("/schedule/{job_id}/resume", _resume, lambda p: "/schedule"),
]


def _status_of(exc: LlmosError) -> int:
    if isinstance(exc, AlreadyAnswered):
        return 409
    if isinstance(exc, views.NotFound | UnknownQuestion) or "no trace" in exc.message:
        return 404
    return 400


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items() if k != "csrf"}


def _inner(section: str, name: str) -> str:
    """The inside of `<section data-live="NAME">` in a page body: a live region's part."""
    start = section.index(f'data-live="{name}">') + len(f'data-live="{name}">')
    end = section.rindex("</section>")
    return section[start:end]


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status)


def _plain(text: str, status: int) -> Response:
    return Response(text + "\n", status_code=status, media_type="text/plain")


def _error(status: int, message: str, hint: str | None = None) -> JSONResponse:
    return JSONResponse(
        redact_all({"error": {"message": message, "hint": hint}}), status_code=status
    )
