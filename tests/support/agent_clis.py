"""Pointing pe's real agent presets at the scripted model server, the way a user would.

Everything that redirects a CLI goes through the manifest: the agent's `env:` (base URL,
key, an isolated HOME), its `args:` (codex's provider, aider's price file) and `model:`.
pe itself has no test hook: the presets run exactly as they would against the real APIs.

The CLIs come from .agents/bin (.ci/install-agent-clis), or PE_AGENT_BIN_DIR. A missing
one skips its tests, unless PE_REQUIRE_AGENT_CLIS=1 (then they fail), as in tests/model_server.
Used by tests/agents, which write their manifests with tests.support.write_manifest.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.model_server.clis import FAKE_KEY, OFFLINE_MODEL, base_env, litellm_registry

ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("PE_AGENT_BIN_DIR") or ROOT / ".agents" / "bin")
REQUIRE = os.environ.get("PE_REQUIRE_AGENT_CLIS") == "1"

PRESETS = ("claude", "codex", "gemini", "opencode", "aider", "mini")
RESUMABLE = frozenset({"claude", "codex", "gemini", "opencode"})  # continue the same session
REPORTS_COST = frozenset({"claude", "opencode", "aider", "mini"})  # codex and gemini report none
# The model each preset is given here (None: the CLI's own default, which the server accepts).
# codex needs one without metadata to get plain function tools; opencode, aider and mini
# need the provider prefix that routes to the server.
MODELS: dict[str, str | None] = {
    "claude": None,
    "codex": OFFLINE_MODEL,
    "gemini": None,
    "opencode": f"pe/{OFFLINE_MODEL}",
    "aider": f"openai/{OFFLINE_MODEL}",
    "mini": f"openai/{OFFLINE_MODEL}",
}
PACKAGES = {
    "claude": "@anthropic-ai/claude-code",
    "codex": "@openai/codex",
    "gemini": "@google/gemini-cli",
    "opencode": "opencode-ai",
    "aider": "aider-chat",
    "mini": "mini-swe-agent",
}


def need(name: str) -> None:
    """Skip (or, with PE_REQUIRE_AGENT_CLIS=1, fail) when the CLI is not installed."""
    if not (BIN_DIR / name).exists():
        msg = f"{BIN_DIR / name} is missing: run .ci/install-agent-clis"
        if REQUIRE:
            pytest.fail(msg + " (PE_REQUIRE_AGENT_CLIS=1)")
        pytest.skip(msg)


def available(names: tuple[str, ...] = PRESETS) -> list[str]:
    """The installed ones among `names`; with PE_REQUIRE_AGENT_CLIS=1 all must be."""
    for name in names:
        if REQUIRE:
            need(name)
    found = [n for n in names if (BIN_DIR / n).exists()]
    if not found:
        need(names[0])
    return found


def _home(state: Path) -> dict[str, str]:
    """A HOME of its own: the CLIs read and write nothing of the real user's config."""
    env = base_env(state)
    return env | {
        # The installed CLIs first; node, git and bash from the system after.
        "PATH": os.pathsep.join([str(BIN_DIR), env["PATH"]]),
        # opencode asks the npm registry about its plugins on a fresh HOME (it works
        # without): a closed local port keeps the test on this machine.
        "npm_config_registry": "http://127.0.0.1:9/",
    }


def offline_agent(name: str, url: str, state: Path, **settings: Any) -> dict[str, Any]:
    """The manifest's `agent:` mapping that runs preset `name` against the server at `url`."""
    env = _home(state)
    args: list[str] = []
    if name == "claude":
        env |= {
            "ANTHROPIC_BASE_URL": url,  # claude appends /v1/messages
            "ANTHROPIC_API_KEY": FAKE_KEY,
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",  # no telemetry hosts
        }
    elif name == "codex":
        codex_home = state / "codex"
        codex_home.mkdir(parents=True, exist_ok=True)
        env |= {"CODEX_HOME": str(codex_home), "PE_CODEX_KEY": FAKE_KEY}
        # OPENAI_BASE_URL does not redirect codex; a provider does. Retries off, so a 401 or a
        # 503 ends the run at once.
        provider = (
            f'model_providers.pe={{name="pe",base_url="{url}/v1",env_key="PE_CODEX_KEY",'
            'wire_api="responses",request_max_retries=0,stream_max_retries=0}'
        )
        # features.plugins=false: its plugin export would call chatgpt.com at start-up.
        args = ["-c", "model_provider=pe", "-c", provider, "-c", "features.plugins=false"]
    elif name == "gemini":
        settings_file = Path(env["HOME"]) / ".gemini" / "settings.json"
        settings_file.parent.mkdir(parents=True, exist_ok=True)
        settings_file.write_text(
            json.dumps(
                {
                    # With GOOGLE_GEMINI_BASE_URL set, gemini picks its "gateway" auth, which
                    # headless mode refuses (exit 41) unless the API-key type is selected.
                    "security": {"auth": {"selectedType": "gemini-api-key"}},
                    "privacy": {"usageStatisticsEnabled": False},
                    "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
                }
            )
        )
        env |= {"GEMINI_API_KEY": FAKE_KEY, "GOOGLE_GEMINI_BASE_URL": url}
    elif name == "opencode":
        model = MODELS["opencode"] or ""
        provider, _, model_id = model.partition("/")
        config = {
            "$schema": "https://opencode.ai/config.json",
            "provider": {
                provider: {
                    "npm": "@ai-sdk/openai-compatible",  # bundled in the binary
                    "name": provider,
                    "options": {"baseURL": f"{url}/v1", "apiKey": FAKE_KEY},
                    # Per million tokens; with none, opencode reports cost 0.
                    "models": {model_id: {"name": model_id, "cost": {"input": 1.0, "output": 2.0}}},
                }
            },
            "small_model": model,  # titles go to the server too
            "share": "disabled",
        }
        env |= {
            "OPENCODE_CONFIG_CONTENT": json.dumps(config),
            "OPENCODE_DISABLE_MODELS_FETCH": "1",  # no models.dev download
            "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
        }
    elif name in ("aider", "mini"):
        registry = litellm_registry(state, MODELS[name] or "")
        env |= {
            "OPENAI_API_KEY": FAKE_KEY,
            "OPENAI_API_BASE": f"{url}/v1",
            # litellm would download its price map from GitHub at import.
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        }
        if name == "aider":
            # A price for the model: aider prints a cost, and does not fetch litellm's map.
            args = ["--model-metadata-file", str(registry)]
        else:
            env |= {
                "MSWEA_GLOBAL_CONFIG_DIR": str(state / "mini-config"),
                "LITELLM_MODEL_REGISTRY_PATH": str(registry),  # a price: a real cost
            }
    else:
        raise ValueError(name)
    entry: dict[str, Any] = {"preset": name, "env": env}
    if args:
        entry["args"] = args
    if MODELS[name]:
        entry["model"] = MODELS[name]
    extra_env = settings.pop("env", {})
    entry["env"] = {**entry["env"], **extra_env}
    return entry | settings


def agent_log(root: Path, tree: str) -> str:
    return (root / ".pe" / "logs" / tree / "agent.log").read_text(errors="replace")
