"""The scripted model server on its own (no agent CLI needed): formats, turns, modes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .script import MINI_SUBMIT, Script, WriteFile
from .server import ModelServer

ROOT = Path(__file__).resolve().parents[2]


def post(url: str, body: dict[str, Any], timeout: float = 10) -> tuple[int, str, str]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read().decode()


def events(sse: str) -> list[Any]:
    return [json.loads(line[6:]) for line in sse.splitlines() if line.startswith("data: ") and line != "data: [DONE]"]


def test_anthropic_turns_follow_the_history() -> None:
    with ModelServer() as srv:
        body: dict[str, Any] = {
            "model": "m",
            "stream": True,
            "tools": [{"name": "Write"}],
            "messages": [{"role": "user", "content": "go"}],
        }
        _, ctype, text = post(srv.url + "/v1/messages", body)
        assert ctype == "text/event-stream"
        delta = next(e for e in events(text) if e["type"] == "content_block_delta")["delta"]
        assert json.loads(delta["partial_json"])["file_path"] == "impl.txt"
        body["messages"] += [{"role": "assistant", "content": []}, {"role": "user", "content": "ok"}]
        text = post(srv.url + "/v1/messages", body)[2]
        delta = next(e for e in events(text) if e["type"] == "content_block_delta")["delta"]
        assert json.loads(delta["partial_json"])["file_path"] == "RESULTS.md"
        assert [r.assistant_turns for r in srv.requests] == [0, 1]


def test_chat_completions_streamed_plain_and_side_calls() -> None:
    script = Script(steps=(WriteFile("a.txt", "A\n"),), final="bye")
    with ModelServer(script=script) as srv:
        url = srv.url + "/v1/chat/completions"
        tools = [{"type": "function", "function": {"name": "write"}}]
        msgs = [{"role": "user", "content": "go"}]
        plain = json.loads(post(url, {"messages": msgs, "tools": tools})[2])
        call = plain["choices"][0]["message"]["tool_calls"][0]["function"]
        assert json.loads(call["arguments"]) == {"filePath": "a.txt", "content": "A\n"}
        done = [*msgs, {"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]
        chunks = events(post(url, {"messages": done, "tools": tools, "stream": True})[2])
        assert chunks[0]["choices"][0]["delta"]["content"] == "bye"
        assert chunks[-1]["usage"]["prompt_tokens"] > 0
        title = json.loads(post(url, {"messages": msgs})[2])  # no tools: plain text
        assert title["choices"][0]["message"]["content"] == script.side_text
        mini = json.loads(
            post(url, {"messages": done, "tools": [{"type": "function", "function": {"name": "bash"}}]})[2]
        )
        args = mini["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
        assert json.loads(args)["command"] == MINI_SUBMIT


def test_responses_and_gemini_formats() -> None:
    with ModelServer() as srv:
        text = post(srv.url + "/v1/responses", {"input": [], "tools": [{"type": "function", "name": "exec_command"}]})[
            2
        ]
        item = next(e for e in events(text) if e["type"] == "response.output_item.done")["item"]
        assert item["name"] == "exec_command" and "impl.txt" in json.loads(item["arguments"])["cmd"]
        url = srv.url + "/v1beta/models/g:streamGenerateContent?alt=sse"
        body = {
            "contents": [{"role": "user", "parts": [{"text": "go"}]}],
            "tools": [{"functionDeclarations": [{"name": "write_file"}]}],
        }
        part = events(post(url, body)[2])[0]["candidates"][0]["content"]["parts"][0]
        assert part["functionCall"]["args"]["file_path"] == "impl.txt"
        schema = {"type": "OBJECT", "properties": {"next_speaker": {"type": "STRING", "enum": ["user", "model"]}}}
        side = json.loads(
            post(
                srv.url + "/v1beta/models/g:generateContent",
                {"contents": [], "generationConfig": {"responseJsonSchema": schema}},
            )[2]
        )
        answer = side["candidates"][0]["content"]["parts"][0]["text"]
        assert json.loads(answer) == {"next_speaker": "user"}


@pytest.mark.parametrize(
    "path,needle",
    [
        ("/v1/messages", "authentication_error"),
        ("/v1/responses", "invalid_api_key"),
        ("/v1/chat/completions", "invalid_api_key"),
        ("/v1beta/models/g:generateContent", "UNAUTHENTICATED"),
    ],
)
def test_401_mode(path: str, needle: str) -> None:
    with ModelServer(mode="401") as srv:
        status, ctype, text = post(srv.url + path, {"messages": []})
        assert status == 401 and ctype == "application/json" and needle in text


@pytest.mark.parametrize(
    "mode,path,needle",
    [
        ("429", "/v1/messages", "rate_limit_error"),
        ("429", "/v1/chat/completions", "rate_limit_exceeded"),
        ("429", "/v1beta/models/g:generateContent", "RESOURCE_EXHAUSTED"),
        ("503", "/v1/messages", "overloaded_error"),
        ("503", "/v1/responses", "server_error"),
        ("503", "/v1beta/models/g:generateContent", "UNAVAILABLE"),
    ],
)
def test_retryable_error_modes(mode: str, path: str, needle: str) -> None:
    with ModelServer(mode=mode) as srv:
        status, ctype, text = post(srv.url + path, {"messages": []})
        assert status == int(mode) and ctype == "application/json" and needle in text
        assert [r.reply for r in srv.requests] == [mode]


def test_gather_holds_first_turns_until_every_api_arrived() -> None:
    anthropic = {"tools": [{"name": "Write"}], "messages": []}
    chat = {"tools": [{"type": "function", "function": {"name": "write"}}], "messages": []}
    with ModelServer() as srv:
        srv.gather_apis = frozenset({"anthropic", "chat"})
        srv.gather_timeout = 0.5
        # Alone, the anthropic turn waits out the timeout, then is answered and noted as missed.
        assert post(srv.url + "/v1/messages", anthropic)[0] == 200
        assert [r.api for r in srv.gather_missed] == ["anthropic"]
    with ModelServer() as srv:
        srv.gather_apis = frozenset({"anthropic", "chat"})
        done: list[float] = []
        thread = threading.Thread(target=lambda: (post(srv.url + "/v1/messages", anthropic), done.append(1.0)))
        thread.start()
        time.sleep(0.5)
        assert done == []  # still held: chat has not arrived
        assert post(srv.url + "/v1/chat/completions", chat)[0] == 200
        thread.join(timeout=20)
        assert done == [1.0] and srv.gather_missed == []


def test_hang_mode_never_answers_and_stops_cleanly() -> None:
    with ModelServer(mode="hang") as srv:
        with pytest.raises((socket.timeout, TimeoutError, urllib.error.URLError)):
            post(srv.url + "/v1/messages", {"messages": []}, timeout=0.5)
        assert [r.reply for r in srv.requests] == ["hang"]
    # stop() returned although a handler was still waiting: hung handlers do not block it.


def test_module_runs_by_hand() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.model_server", "--mode", "401"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "(401) on http://127.0.0.1:" in line
        url = line.rsplit(" ", 1)[-1].strip()
        assert post(url + "/v1/chat/completions", {})[0] == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)
