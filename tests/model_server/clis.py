"""How to run each real agent CLI headless against a model server, and how to read its result.

This is the knowledge pe's presets are built from; every flag and variable below was checked
against the pinned versions in .ci/install-agent-clis (see README.md here for the versions).

Each CLI has ``<cli>_run(...)`` and, where the CLI can resume, ``<cli>_resume(...)``: both
return an ``Invocation`` (argv, env, cwd, stdin) to run with the workdir as cwd, in its own
process group, with a timeout (codex never gives up on a silent server). ``parse(name, ...)``
turns what the process left behind into an ``Outcome``. Exit code 0 is NOT success for several
of them (aider, mini, gemini's JSON error, claude's is_error): each parser has its own test.

All state (HOME, XDG dirs, CODEX_HOME, configs) lives under ``state``: a run never reads or
writes the real home directory, and resuming needs the same ``state`` and ``workdir``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .parsers import Outcome, parse_aider, parse_claude, parse_codex, parse_gemini, parse_mini, parse_opencode

FAKE_KEY = "sk-pe-offline-fake-key"
# Name the model server answers to; the CLIs with a provider block need one (claude, codex and
# gemini fall back to their own default model when ``model`` is None).
OFFLINE_MODEL = "scripted-model"
# Per-token prices for OFFLINE_MODEL, in litellm's registry format: aider and mini compute cost
# with litellm, which knows no price for an unknown model (aider then prints no cost; mini
# aborts unless MSWEA_COST_TRACKING=ignore_errors). Registered, both report a real cost.
_LITELLM_PRICES = {
    "input_cost_per_token": 1e-06,
    "output_cost_per_token": 2e-06,
    "max_input_tokens": 128000,
    "max_output_tokens": 8192,
    "litellm_provider": "openai",
    "mode": "chat",
}


@dataclass(frozen=True)
class Invocation:
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    stdin: str | None = None  # text to feed; None means /dev/null (never a TTY or a pipe left open)
    output_file: Path | None = None  # a result file the CLI writes besides stdout (mini)


def base_env(state: Path) -> dict[str, str]:
    """A clean environment: nothing of the caller's (API keys, config dirs) leaks in."""
    home = state / "home"
    for sub in ("", ".config", ".local/share", ".cache", ".local/state"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),  # node, git, bash
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",  # plain text in aider's/mini's human output, which is parsed
    }


def _bin(bin_dir: Path, name: str) -> str:
    return str(bin_dir / name)


# --- claude (Claude Code): Anthropic Messages, POST {base}/v1/messages ----------------------


def _claude_env(state: Path, base_url: str) -> dict[str, str]:
    return base_env(state) | {
        "ANTHROPIC_BASE_URL": base_url,  # without /v1: claude appends /v1/messages
        "ANTHROPIC_API_KEY": FAKE_KEY,
        # As root, --dangerously-skip-permissions exits 1 ("cannot be used with root/sudo")
        # unless the process says it is sandboxed.
        "IS_SANDBOX": "1",
        # A 401 is otherwise retried ~9 times over ~120 s before claude gives up.
        "CLAUDE_CODE_MAX_RETRIES": "0",
        # No telemetry, error reporting or update checks: hosts that are not the model server.
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    }


def _claude_argv(bin_dir: Path, prompt: str, model: str | None) -> list[str]:
    # --dangerously-skip-permissions: Bash and edits run unasked. --permission-mode acceptEdits
    # alone silently denies Bash (only visible in permission_denials, exit 0).
    argv = [_bin(bin_dir, "claude"), "-p", prompt, "--output-format", "json", "--dangerously-skip-permissions"]
    return argv + (["--model", model] if model else [])


def claude_run(
    bin_dir: Path, workdir: Path, state: Path, base_url: str, prompt: str, model: str | None = None
) -> Invocation:
    return Invocation(_claude_argv(bin_dir, prompt, model), _claude_env(state, base_url), workdir)


def claude_resume(
    bin_dir: Path, workdir: Path, state: Path, base_url: str, session_id: str, prompt: str, model: str | None = None
) -> Invocation:
    # Sessions live under ~/.claude/projects/<cwd>/: same HOME and same cwd, or "not found".
    argv = _claude_argv(bin_dir, prompt, model)
    argv[1:1] = ["--resume", session_id]
    return Invocation(argv, _claude_env(state, base_url), workdir)


# --- codex (Codex CLI): OpenAI Responses, POST {base}/v1/responses --------------------------


def _codex_env(state: Path) -> dict[str, str]:
    codex_home = state / "codex"
    codex_home.mkdir(parents=True, exist_ok=True)
    # CODEX_HOME holds config, auth and sessions (resume reads them). Under /tmp codex warns
    # that it will not create its PATH helper links there: harmless.
    return base_env(state) | {"CODEX_HOME": str(codex_home), "PE_CODEX_KEY": FAKE_KEY}


def _codex_config(base_url: str, model: str | None) -> list[str]:
    # OPENAI_BASE_URL does not redirect codex: a provider block does. env_key names the
    # variable holding the key; wire_api="responses" is the Responses API. Retries off so a
    # 401 fails at once (a silent server still hangs forever: callers need a timeout).
    provider = (
        f'model_providers.pe={{name="pe",base_url="{base_url}/v1",env_key="PE_CODEX_KEY",'
        'wire_api="responses",request_max_retries=0,stream_max_retries=0}'
    )
    argv = [
        "-c",
        "model_provider=pe",
        "-c",
        provider,
        # Even with a custom provider codex calls out at start-up: api.github.com (update
        # check, curated plugins), chatgpt.com (plugin export), ab.chatgpt.com (metrics).
        # With no network each costs a ~5 s DNS timeout; these three stop all of them.
        "-c",
        "check_for_update_on_startup=false",
        "-c",
        "analytics.enabled=false",
        "-c",
        "features.plugins=false",
    ]
    return argv + (["-m", model] if model else [])


def codex_run(
    bin_dir: Path, workdir: Path, state: Path, base_url: str, prompt: str, model: str | None = None
) -> Invocation:
    # --dangerously-bypass-approvals-and-sandbox: --full-auto and `exec -a` are rejected by
    # this version. stdin must be /dev/null, or codex waits for "additional input" on it.
    argv = [
        _bin(bin_dir, "codex"),
        "exec",
        "--json",
        "--dangerously-bypass-approvals-and-sandbox",
        "-C",
        str(workdir),
        *_codex_config(base_url, model),
        prompt,
    ]
    return Invocation(argv, _codex_env(state), workdir)


def codex_resume(
    bin_dir: Path, workdir: Path, state: Path, base_url: str, session_id: str, prompt: str, model: str | None = None
) -> Invocation:
    # `exec resume` has no -C: run it with cwd = workdir.
    argv = [
        _bin(bin_dir, "codex"),
        "exec",
        "resume",
        session_id,
        prompt,
        "--json",
        "--dangerously-bypass-approvals-and-sandbox",
        *_codex_config(base_url, model),
    ]
    return Invocation(argv, _codex_env(state), workdir)


# --- gemini (Gemini CLI): POST {base}/v1beta/models/<m>:streamGenerateContent?alt=sse -----


def _gemini_env(state: Path, base_url: str) -> dict[str, str]:
    env = base_env(state)
    settings = Path(env["HOME"]) / ".gemini" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(
        json.dumps(
            {
                # Without a selected auth type, headless gemini exits 41 even with GEMINI_API_KEY set.
                "security": {"auth": {"selectedType": "gemini-api-key"}},
                "privacy": {"usageStatisticsEnabled": False},  # no clearcut logging to Google
                "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
            }
        )
    )
    return env | {"GEMINI_API_KEY": FAKE_KEY, "GOOGLE_GEMINI_BASE_URL": base_url}


def _gemini_argv(bin_dir: Path, prompt: str, model: str | None) -> list[str]:
    # --yolo approves every tool; --skip-trust, or an untrusted folder drops back to the
    # default approval mode and writes are refused.
    argv = [_bin(bin_dir, "gemini"), "-p", prompt, "-o", "json", "--yolo", "--skip-trust"]
    return argv + (["-m", model] if model else [])


def gemini_run(
    bin_dir: Path, workdir: Path, state: Path, base_url: str, prompt: str, model: str | None = None
) -> Invocation:
    return Invocation(_gemini_argv(bin_dir, prompt, model), _gemini_env(state, base_url), workdir)


def gemini_resume(
    bin_dir: Path, workdir: Path, state: Path, base_url: str, session_id: str, prompt: str, model: str | None = None
) -> Invocation:
    argv = _gemini_argv(bin_dir, prompt, model)
    argv[1:1] = ["--resume", session_id]
    return Invocation(argv, _gemini_env(state, base_url), workdir)


# --- opencode: OpenAI chat completions via a provider in OPENCODE_CONFIG_CONTENT ------------


def _opencode_env(state: Path, base_url: str, model: str) -> dict[str, str]:
    provider, _, model_id = model.partition("/")
    config = {
        "$schema": "https://opencode.ai/config.json",
        # @ai-sdk/openai-compatible is bundled in the binary: nothing to install.
        "provider": {
            provider: {
                "npm": "@ai-sdk/openai-compatible",
                "name": provider,
                "options": {"baseURL": f"{base_url}/v1", "apiKey": FAKE_KEY},
                # cost is per million tokens; with none, step_finish reports cost 0.
                "models": {model_id: {"name": model_id, "cost": {"input": 1.0, "output": 2.0}}},
            }
        },
        "model": model,
        "small_model": model,  # titles and summaries go to the same server, not to a default
        "autoupdate": False,
        "share": "disabled",
    }
    return base_env(state) | {
        "OPENCODE_CONFIG_CONTENT": json.dumps(config),  # inline config, no file to write
        "OPENCODE_DISABLE_AUTOUPDATE": "1",
        "OPENCODE_DISABLE_MODELS_FETCH": "1",  # no models.dev catalogue download
        "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",  # no language servers fetched on first edit
    }


def _opencode_argv(bin_dir: Path, workdir: Path, prompt: str, model: str) -> list[str]:
    # --auto approves permissions not explicitly denied (edits, bash).
    return [_bin(bin_dir, "opencode"), "run", "--auto", "--format", "json", "--dir", str(workdir), "-m", model, prompt]


def opencode_run(
    bin_dir: Path, workdir: Path, state: Path, base_url: str, prompt: str, model: str | None = None
) -> Invocation:
    m = model or f"pe/{OFFLINE_MODEL}"
    return Invocation(_opencode_argv(bin_dir, workdir, prompt, m), _opencode_env(state, base_url, m), workdir)


def opencode_resume(
    bin_dir: Path, workdir: Path, state: Path, base_url: str, session_id: str, prompt: str, model: str | None = None
) -> Invocation:
    m = model or f"pe/{OFFLINE_MODEL}"
    argv = _opencode_argv(bin_dir, workdir, prompt, m)
    argv[2:2] = ["-s", session_id]
    return Invocation(argv, _opencode_env(state, base_url, m), workdir)


# --- mini (mini-swe-agent): OpenAI chat completions via litellm (not streamed) --------------


def litellm_registry(state: Path, model: str) -> Path:
    """A litellm model registry giving ``model`` a price (aider --model-metadata-file, mini)."""
    state.mkdir(parents=True, exist_ok=True)
    path = state / "litellm-models.json"
    bare = model.split("/", 1)[-1]
    path.write_text(json.dumps({model: _LITELLM_PRICES, bare: _LITELLM_PRICES}))
    return path


def mini_run(
    bin_dir: Path, workdir: Path, state: Path, base_url: str, prompt: str, model: str | None = None
) -> Invocation:
    m = model or f"openai/{OFFLINE_MODEL}"  # litellm routes "openai/..." to OPENAI_API_BASE
    traj = state / "mini-trajectory.json"
    env = base_env(state) | {
        "OPENAI_API_KEY": FAKE_KEY,
        "OPENAI_API_BASE": f"{base_url}/v1",
        "MSWEA_CONFIGURED": "true",  # skip the first-run setup wizard (it reads a TTY)
        "MSWEA_GLOBAL_CONFIG_DIR": str(state / "mini-config"),  # its .env, not ~/.config's
        "MSWEA_SILENT_STARTUP": "1",
        # litellm would otherwise download its model price map from GitHub at import.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_MODEL_REGISTRY_PATH": str(litellm_registry(state, m)),  # a price: real cost
        # A model litellm has no price for aborts the run unless cost errors are ignored.
        "MSWEA_COST_TRACKING": "ignore_errors",
    }
    # -y (yolo: no confirmation) and --exit-immediately (no "anything else?" prompt at the
    # end): without both, mini reads stdin and dies on EOF. -o: the trajectory is the result.
    argv = [_bin(bin_dir, "mini"), "-y", "--exit-immediately", "-m", m, "-t", prompt, "-o", str(traj)]
    return Invocation(argv, env, workdir, output_file=traj)


# --- aider: OpenAI chat completions (streamed) via litellm --------------------------------


def aider_run(
    bin_dir: Path, workdir: Path, state: Path, base_url: str, prompt: str, model: str | None = None
) -> Invocation:
    m = model or f"openai/{OFFLINE_MODEL}"
    env = base_env(state) | {
        "OPENAI_API_KEY": FAKE_KEY,  # env, not --openai-api-key: a real key stays out of ps
        "OPENAI_API_BASE": f"{base_url}/v1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    argv = [
        _bin(bin_dir, "aider"),
        "--message",
        prompt,
        "--model",
        m,
        "--yes-always",  # create new files, run nothing interactive
        "--no-auto-commits",  # each commit costs a model call for its message; pe commits
        "--no-gitignore",  # else aider adds .aider* to the worktree's .gitignore
        "--no-check-update",
        "--no-analytics",
        "--no-show-release-notes",
        "--no-show-model-warnings",  # unknown context window: a warning that waits for Enter
        "--no-pretty",
        "--no-fancy-input",  # plain text output, parsed below
        # A price file also stops aider fetching litellm's price map from GitHub (it ignores
        # LITELLM_LOCAL_MODEL_COST_MAP for its own lookup) and makes it print a cost.
        "--model-metadata-file",
        str(litellm_registry(state, m)),
        # Its history and cache files would otherwise land in the worktree as untracked files.
        "--chat-history-file",
        str(state / "aider.chat.history.md"),
        "--input-history-file",
        str(state / "aider.input.history"),
        "--map-tokens",
        "0",  # no repo map: no .aider.tags.cache in the worktree
    ]
    # No resume: --restore-chat-history only replays the chat history file into a new chat.
    return Invocation(argv, env, workdir)


# --- the registry --------------------------------------------------------------------------

RunFn = Callable[..., Invocation]  # (bin_dir, workdir, state, base_url, prompt, model=None)
ResumeFn = Callable[..., Invocation]  # (..., base_url, session_id, prompt, model=None)
ParseFn = Callable[[int, str, str, Path | None], Outcome]  # (rc, stdout, stderr, output_file)


@dataclass(frozen=True)
class Cli:
    name: str
    run: RunFn
    resume: ResumeFn | None  # None: the CLI cannot continue a session headless
    parse: ParseFn
    has_session_id: bool = True
    reports_cost: bool = True


CLIS: dict[str, Cli] = {
    "claude": Cli("claude", claude_run, claude_resume, parse_claude),
    "codex": Cli("codex", codex_run, codex_resume, parse_codex, reports_cost=False),
    "gemini": Cli("gemini", gemini_run, gemini_resume, parse_gemini, reports_cost=False),
    "opencode": Cli("opencode", opencode_run, opencode_resume, parse_opencode),
    "aider": Cli("aider", aider_run, None, parse_aider, has_session_id=False),
    "mini": Cli("mini", mini_run, None, parse_mini, has_session_id=False),
}

__all__ = ["CLIS", "FAKE_KEY", "OFFLINE_MODEL", "Cli", "Invocation", "Outcome", "litellm_registry"]
