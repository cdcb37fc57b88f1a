"""A scripted model server on 127.0.0.1 that real agent CLIs can talk to with no network.

    with ModelServer(mode="normal") as srv:
        run_agent(base_url=srv.url)
        assert srv.requests[-1].assistant_turns == 2

Modes: ``normal`` replays the script; ``401`` answers every request with HTTP 401 and the
API's own JSON auth error; ``429`` (rate limited) and ``503`` (overloaded) the same with that
status and the API's own error body, the failures an orchestrator should retry; ``hang``
accepts the connection and never answers (until the server stops). ``srv.mode`` may be
changed while it runs.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import wire
from .script import MINI_SUBMIT, Script, WriteFile

MODES = ("normal", "401", "429", "503", "hang", "hold")
MODEL = "scripted-model"


@dataclass
class Recorded:
    """One request as the server saw it (``body`` is the parsed JSON, or None)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    api: str  # anthropic | responses | chat | gemini | other
    tools: list[str] = field(default_factory=list)
    assistant_turns: int = 0
    reply: str = ""  # what was answered: a tool name, "text", "401", "hang", ...
    input_tokens: int = 0  # the usage the reply reported (0 for errors and listings)
    output_tokens: int = 0

    def is_turn(self) -> bool:
        """A main-loop model call (not a title, routing or token-count side call)."""
        return bool(self.tools) or (self.api == "chat" and isinstance(self.body, dict) and is_aider(self.body))


def _api_of(path: str) -> str:
    if path.endswith("/messages") or path.endswith("/messages/count_tokens"):
        return "anthropic"
    if path.endswith("/responses"):
        return "responses"
    if path.endswith("/chat/completions"):
        return "chat"
    if ":" in path.rsplit("/", 1)[-1]:  # /v1beta/models/<m>:streamGenerateContent
        return "gemini"
    return "other"


_READERS = {
    "anthropic": (wire.anthropic_tools, wire.anthropic_turns),
    "responses": (wire.responses_tools, wire.responses_turns),
    "chat": (wire.chat_tools, wire.chat_turns),
    "gemini": (wire.gemini_tools, wire.gemini_turns),
}

# Each API's own error body for the error modes, as its real service sends it: the CLIs read
# these fields (type, status, code) to decide what failed and whether to retry.
_ERRORS: dict[str, dict[str, Any]] = {
    "401": {
        "anthropic": {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}},
        "gemini": {
            "error": {
                "code": 401,
                "message": "API key not valid. Please pass a valid API key.",
                "status": "UNAUTHENTICATED",
            }
        },
        "openai": {
            "error": {
                "message": "Incorrect API key provided: sk-fake.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        },
    },
    "429": {
        "anthropic": {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limited (scripted)."}},
        "gemini": {
            "error": {"code": 429, "message": "Resource has been exhausted (scripted).", "status": "RESOURCE_EXHAUSTED"}
        },
        "openai": {
            "error": {
                "message": "Rate limit reached (scripted).",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        },
    },
    "503": {
        "anthropic": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded (scripted)."}},
        "gemini": {"error": {"code": 503, "message": "The model is overloaded (scripted).", "status": "UNAVAILABLE"}},
        "openai": {
            "error": {"message": "The server is overloaded (scripted).", "type": "server_error", "param": None, "code": None}
        },
    },
}


def is_aider(req: dict[str, Any]) -> bool:
    """aider offers no tools: its main call is told to answer with whole-file listings."""
    first = (req.get("messages") or [{}])[0]
    content = first.get("content")
    text = content if isinstance(content, str) else json.dumps(content)
    return first.get("role") == "system" and "file listing" in text


def _json_for_schema(schema: dict[str, Any]) -> Any:
    """A minimal value for a JSON-mode side call (gemini's next-speaker check, router)."""
    kind = str(schema.get("type", "object")).lower()
    if schema.get("enum"):
        return schema["enum"][0]  # next_speaker: ["user", "model"] -> the user speaks next
    if kind == "object":
        props = schema.get("properties") or {}
        return {k: _json_for_schema(v) for k, v in props.items()}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    return "scripted"


def choose_reply(script: Script, api: str, tools: list[str], turns: int, req: dict[str, Any]) -> wire.Reply:
    """The scripted turn for this request, in the tool vocabulary the client offered."""
    names = set(tools)
    if not names:
        if api == "chat" and is_aider(req):
            return wire.Reply(text=script.aider_reply())
        config = req.get("generationConfig") or {}
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        if api == "gemini" and schema:
            return wire.Reply(text=json.dumps(_json_for_schema(schema)))
        return wire.Reply(text=script.side_text)
    step = script.step_for(turns)
    if names == {"bash"}:
        # mini-swe-agent: its one tool is a shell; it stops only when a command prints the
        # submit marker, a text answer is a format error.
        return wire.Reply(tool="bash", args={"command": step.shell() if step else MINI_SUBMIT})
    if step is None:
        return wire.Reply(text=script.final)
    return _write_call(step, names)


def _write_call(step: WriteFile, names: set[str]) -> wire.Reply:
    if "Write" in names:  # claude
        return wire.Reply(tool="Write", args={"file_path": step.path, "content": step.content})
    if "write_file" in names:  # gemini
        return wire.Reply(tool="write_file", args={"file_path": step.path, "content": step.content})
    if "write" in names:  # opencode
        return wire.Reply(tool="write", args={"filePath": step.path, "content": step.content})
    if "exec_command" in names:  # codex (unified exec)
        return wire.Reply(tool="exec_command", args={"cmd": step.shell()})
    if "exec" in names:  # codex code mode: JavaScript that calls the nested tools
        js = f"await tools.exec_command({{cmd: {json.dumps(step.shell())}}});"
        return wire.Reply(tool="exec", custom_input=js)
    if "shell" in names:  # older codex
        return wire.Reply(tool="shell", args={"command": ["bash", "-lc", step.shell()]})
    for shell in ("bash", "Bash"):
        if shell in names:
            return wire.Reply(tool=shell, args={"command": step.shell()})
    return wire.Reply(text=f"scripted server: no known write tool among {sorted(names)}")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive: node and httpx clients reuse connections

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        api = _api_of(url.path)
        req = body if isinstance(body, dict) else {}
        tools, turns = [], 0
        if api in _READERS:
            read_tools, read_turns = _READERS[api]
            tools, turns = read_tools(req), read_turns(req)
        rec = Recorded(self.command, url.path, parse_qs(url.query), dict(self.headers.items()), body, api, tools, turns)
        self.server.record(rec)
        mode = self.server.owner.mode
        if mode == "hold":  # answer only once the test releases it (a run in flight, on demand)
            self.server.owner.released.wait()
        elif mode == "hang":
            rec.reply = "hang"
            self.server.stop.wait()  # never answer; released (and dropped) when the server stops
            self.close_connection = True
            return
        if mode in _ERRORS:
            rec.reply = mode
            key = api if api in ("anthropic", "gemini") else "openai"
            self._send(int(mode), "application/json", json.dumps(_ERRORS[mode][key]).encode())
            return
        if rec.is_turn():
            self.server.owner.gather(rec)
        self._answer(rec, req, raw, url.query)

    def _answer(self, rec: Recorded, req: dict[str, Any], raw: bytes, query: str) -> None:
        path = rec.path
        if self.command == "GET" or rec.api == "other":
            if path.endswith("/models"):  # model listings (codex, opencode may ask)
                models = {"object": "list", "data": [{"id": MODEL, "object": "model"}]}
                self._send(200, "application/json", json.dumps(models).encode())
            else:
                rec.reply = "404"
                self._send(404, "application/json", b'{"error": {"message": "not scripted"}}')
            return
        tokens = max(1, len(raw) // 4)
        if path.endswith("/count_tokens"):
            self._send(200, "application/json", json.dumps({"input_tokens": tokens}).encode())
            return
        if path.endswith(":countTokens"):
            self._send(200, "application/json", json.dumps({"totalTokens": tokens}).encode())
            return
        reply = choose_reply(self.server.owner.script, rec.api, rec.tools, rec.assistant_turns, req)
        rec.reply = reply.tool or "text"
        usage = wire.usage_for(raw, reply)
        rec.input_tokens, rec.output_tokens = usage.input_tokens, usage.output_tokens
        model = str(req.get("model") or MODEL)
        chunks: Iterable[bytes]
        if rec.api == "anthropic":
            if not req.get("stream"):
                return self._json(wire.anthropic_message(reply, model, usage))
            chunks = wire.anthropic_sse(reply, model, usage)
        elif rec.api == "responses":
            chunks = wire.responses_sse(reply, model, usage)
        elif rec.api == "chat":
            if not req.get("stream"):
                return self._json(wire.chat_completion(reply, model, usage))
            chunks = wire.chat_sse(reply, model, usage)
        else:
            gmodel = path.rsplit("/", 1)[-1].split(":")[0]
            if ":streamGenerateContent" not in path:
                return self._json(wire.gemini_response(reply, gmodel, usage))
            if "alt=sse" not in query:  # without alt=sse the stream is one JSON array
                return self._json([wire.gemini_response(reply, gmodel, usage)])
            chunks = wire.gemini_sse(reply, gmodel, usage)
        self._send(200, "text/event-stream", b"".join(chunks))

    def _json(self, obj: Any) -> None:
        self._send(200, "application/json", json.dumps(obj).encode())

    def _send(self, status: int, ctype: str, data: bytes) -> None:
        # The whole (short) stream is known up front, so it goes with a Content-Length:
        # every client accepts that for SSE, and the connection stays reusable.
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        if ctype == "text/event-stream":
            self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hung or keep-alive connection must not block shutdown

    def __init__(self, addr: tuple[str, int], owner: ModelServer, verbose: bool) -> None:
        super().__init__(addr, _Handler)
        self.owner = owner
        self.verbose = verbose
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def record(self, rec: Recorded) -> None:
        with self.lock:
            self.owner.requests.append(rec)


class ModelServer:
    """Start with ``start()`` or ``with``; ``url`` is ``http://127.0.0.1:PORT`` (no /v1)."""

    def __init__(
        self,
        mode: str = "normal",
        script: Script | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        verbose: bool = False,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.mode = mode
        self.released = threading.Event()  # mode "hold": requests wait for this, then are answered
        self.script = script or Script()
        self.requests: list[Recorded] = []
        # gather_apis: hold each API's first model turn until every API in the set has sent
        # one (agents provably running at the same time), for at most gather_timeout seconds.
        self.gather_apis: frozenset[str] = frozenset()
        self.gather_timeout = 60.0
        self._gathered: set[str] = set()
        self.gather_missed: list[Recorded] = []  # turns answered after gather_timeout, alone
        self._gather_cond = threading.Condition()
        self._addr = (host, port)
        self._verbose = verbose
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        port = self._httpd.server_address[1]
        return f"http://{self._addr[0]}:{port}"

    def start(self) -> ModelServer:
        self._httpd = _Server(self._addr, self, self._verbose)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.stop.set()  # releases handlers held by "hang"
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd = None

    def gather(self, rec: Recorded) -> bool:
        """Wait for the other APIs of gather_apis to arrive; False if they did not in time."""
        if rec.api not in self.gather_apis:
            return True
        with self._gather_cond:
            self._gathered.add(rec.api)
            self._gather_cond.notify_all()
            met = self._gather_cond.wait_for(lambda: self.gather_apis <= self._gathered, self.gather_timeout)
            if not met:
                self.gather_missed.append(rec)
            return met

    def model_requests(self) -> list[Recorded]:
        """Requests that asked for a model turn with tools (not side calls, not listings)."""
        return [r for r in list(self.requests) if r.tools]

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def dump(requests: list[Recorded], path: str | os.PathLike[str]) -> None:
    """Write the recorded requests as JSON lines, for debugging a failed test."""
    with open(path, "w") as f:
        for r in requests:
            f.write(json.dumps(r.__dict__, default=str) + "\n")
