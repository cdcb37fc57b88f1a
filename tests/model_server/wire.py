"""The four wire formats the agent CLIs speak, reduced to what a scripted turn needs.

Each API gets three functions: read the request (offered tool names, assistant turns so far),
and render one reply (a tool call or a text) as a streamed (SSE) or a plain JSON body.
Token counts are rough (4 characters a token) but deterministic, so tests can assert > 0.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """One assistant turn: a tool call (``tool`` + ``args``) or, when ``tool`` is None, ``text``."""

    text: str = ""
    tool: str | None = None
    args: JSON | None = None
    # A Responses "custom" (freeform) tool call: its input is raw text, not JSON arguments.
    custom_input: str | None = None

    def payload(self) -> str:
        if self.custom_input is not None:
            return self.custom_input
        return json.dumps(self.args) if self.tool else self.text


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int


def usage_for(body: bytes, reply: Reply) -> Usage:
    return Usage(max(1, len(body) // 4), max(1, len(reply.payload()) // 4))


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def sse(event: str | None, data: JSON | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {text}\n\n".encode()


def _merged_count(roles: list[bool]) -> int:
    """How many runs of consecutive True: an assistant turn may span several items."""
    return sum(1 for i, r in enumerate(roles) if r and (i == 0 or not roles[i - 1]))


# --- Anthropic Messages (claude) ---------------------------------------------------------


def anthropic_tools(req: JSON) -> list[str]:
    return [t.get("name", "") for t in req.get("tools") or []]


def anthropic_turns(req: JSON) -> int:
    return _merged_count([m.get("role") == "assistant" for m in req.get("messages") or []])


def anthropic_message(reply: Reply, model: str, usage: Usage) -> JSON:
    if reply.tool:
        block: JSON = {"type": "tool_use", "id": _id("toolu"), "name": reply.tool, "input": reply.args}
    else:
        block = {"type": "text", "text": reply.text}
    return {
        "id": _id("msg"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block],
        "stop_reason": "tool_use" if reply.tool else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def anthropic_sse(reply: Reply, model: str, usage: Usage) -> Iterator[bytes]:
    msg = anthropic_message(reply, model, usage)
    block = msg["content"][0]
    start = dict(msg, content=[], stop_reason=None, usage=dict(msg["usage"], output_tokens=1))
    yield sse("message_start", {"type": "message_start", "message": start})
    if reply.tool:
        empty = dict(block, input={})
        delta: JSON = {"type": "input_json_delta", "partial_json": json.dumps(reply.args)}
    else:
        empty = dict(block, text="")
        delta = {"type": "text_delta", "text": reply.text}
    yield sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": empty})
    yield sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
    yield sse("content_block_stop", {"type": "content_block_stop", "index": 0})
    yield sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": msg["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": usage.output_tokens},
        },
    )
    yield sse("message_stop", {"type": "message_stop"})


# --- OpenAI Responses (codex) ------------------------------------------------------------


def responses_tools(req: JSON) -> list[str]:
    # Function tools carry "name"; built-in ones (web_search, ...) only a "type". Codex may
    # also send tools as an "additional_tools" input item, grouped in namespaces (its
    # "code mode" for its default model: one custom `exec` tool that runs JavaScript).
    tools = list(req.get("tools") or [])
    items = req.get("input")
    for item in items if isinstance(items, list) else []:
        if item.get("type") == "additional_tools":
            tools += item.get("tools") or []
    names: list[str] = []
    while tools:
        tool = tools.pop(0)
        if tool.get("type") == "namespace":
            tools[:0] = tool.get("tools") or []
        else:
            names.append(tool.get("name") or tool.get("type", ""))
    return names


def responses_turns(req: JSON) -> int:
    items = req.get("input") or []
    if isinstance(items, str):
        return 0
    return _merged_count(
        [
            i.get("type") in ("function_call", "custom_tool_call", "local_shell_call")
            or (i.get("type", "message") == "message" and i.get("role") == "assistant")
            for i in items
        ]
    )


def responses_sse(reply: Reply, model: str, usage: Usage) -> Iterator[bytes]:
    resp_id = _id("resp")
    if reply.custom_input is not None:
        item: JSON = {
            "type": "custom_tool_call",
            "id": _id("ctc"),
            "call_id": _id("call"),
            "name": reply.tool,
            "input": reply.custom_input,
            "status": "completed",
        }
    elif reply.tool:
        item = {
            "type": "function_call",
            "id": _id("fc"),
            "call_id": _id("call"),
            "name": reply.tool,
            "arguments": json.dumps(reply.args),
            "status": "completed",
        }
    else:
        item = {
            "type": "message",
            "id": _id("msg"),
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": reply.text, "annotations": []}],
        }
    base: JSON = {
        "id": resp_id,
        "object": "response",
        "created_at": int(time.time()),
        "model": model,
        "status": "in_progress",
        "output": [],
    }
    yield sse("response.created", {"type": "response.created", "response": base})
    yield sse("response.output_item.added", {"type": "response.output_item.added", "output_index": 0, "item": item})
    if not reply.tool:
        yield sse(
            "response.output_text.delta",
            {
                "type": "response.output_text.delta",
                "item_id": item["id"],
                "output_index": 0,
                "content_index": 0,
                "delta": reply.text,
            },
        )
    yield sse("response.output_item.done", {"type": "response.output_item.done", "output_index": 0, "item": item})
    done = dict(
        base,
        status="completed",
        output=[item],
        usage={
            "input_tokens": usage.input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": usage.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage.input_tokens + usage.output_tokens,
        },
    )
    yield sse("response.completed", {"type": "response.completed", "response": done})


# --- OpenAI chat completions (opencode, aider, mini via litellm) -------------------------


def chat_tools(req: JSON) -> list[str]:
    return [(t.get("function") or {}).get("name", "") for t in req.get("tools") or []]


def chat_turns(req: JSON) -> int:
    return _merged_count([m.get("role") == "assistant" for m in req.get("messages") or []])


def _chat_message(reply: Reply) -> JSON:
    if reply.tool:
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": _id("call"),
                    "type": "function",
                    "function": {"name": reply.tool, "arguments": json.dumps(reply.args)},
                }
            ],
        }
    return {"role": "assistant", "content": reply.text}


def _chat_usage(usage: Usage) -> JSON:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def chat_completion(reply: Reply, model: str, usage: Usage) -> JSON:
    return {
        "id": _id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": _chat_message(reply), "finish_reason": "tool_calls" if reply.tool else "stop"}
        ],
        "usage": _chat_usage(usage),
    }


def chat_sse(reply: Reply, model: str, usage: Usage) -> Iterator[bytes]:
    head: JSON = {"id": _id("chatcmpl"), "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    delta = _chat_message(reply)
    if reply.tool:
        delta["tool_calls"][0]["index"] = 0
    yield sse(None, dict(head, choices=[{"index": 0, "delta": delta, "finish_reason": None}]))
    yield sse(
        None, dict(head, choices=[{"index": 0, "delta": {}, "finish_reason": "tool_calls" if reply.tool else "stop"}])
    )
    # Sent whatever stream_options.include_usage says: clients that did not ask ignore it.
    yield sse(None, dict(head, choices=[], usage=_chat_usage(usage)))
    yield sse(None, "[DONE]")


# --- Gemini generateContent / streamGenerateContent (gemini) ------------------------------


def gemini_tools(req: JSON) -> list[str]:
    names = []
    for tool in req.get("tools") or []:
        names += [f.get("name", "") for f in tool.get("functionDeclarations") or []]
    return names


def gemini_turns(req: JSON) -> int:
    return _merged_count([c.get("role") == "model" for c in req.get("contents") or []])


def gemini_response(reply: Reply, model: str, usage: Usage) -> JSON:
    part: JSON = {"functionCall": {"name": reply.tool, "args": reply.args}} if reply.tool else {"text": reply.text}
    return {
        "candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {
            "promptTokenCount": usage.input_tokens,
            "candidatesTokenCount": usage.output_tokens,
            "totalTokenCount": usage.input_tokens + usage.output_tokens,
        },
        "modelVersion": model,
    }


def gemini_sse(reply: Reply, model: str, usage: Usage) -> Iterator[bytes]:
    yield sse(None, gemini_response(reply, model, usage))
