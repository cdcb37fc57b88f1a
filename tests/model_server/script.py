"""What the scripted "model" makes an agent do: a list of steps, one per assistant turn.

The server is stateless about sessions: it picks the step from the number of assistant turns
already present in the request (see ``Script.step_for``). That is what lets one server feed
several agents running in parallel, and a resumed session pick up where it stopped.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from pe.tree.results import RESULTS_SECTIONS  # what pe requires of RESULTS.md

# The shell line mini-swe-agent looks for (first line of a command's output) to end its run.
MINI_SUBMIT = "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"

# Heredoc delimiter for writing files through a shell tool (codex, mini). Quoted, so the
# content is taken literally: no $-expansion, no backslash processing.
_EOF = "PE_SCRIPTED_EOF"


@dataclass(frozen=True)
class WriteFile:
    """One assistant turn that writes ``content`` to ``path`` (relative to the agent's cwd)."""

    path: str
    content: str

    def shell(self) -> str:
        """The same write as one shell command, for agents whose only tool is a shell."""
        if _EOF in self.content:
            raise ValueError(f"content may not contain {_EOF}")
        body = self.content if self.content.endswith("\n") else self.content + "\n"
        return f"cat > {shlex.quote(self.path)} <<'{_EOF}'\n{body}{_EOF}"


def default_results_md(title: str = "Scripted change") -> str:
    """A RESULTS.md with the six ``## `` sections the project's report format requires."""
    parts = [f"# {title}\n"]
    for section in RESULTS_SECTIONS:
        parts.append(f"## {section}\n\nScripted by tests/model_server for {section.lower()}.\n")
    return "\n".join(parts)


@dataclass(frozen=True)
class Script:
    """Steps for turns 1..n, then ``final``: a plain text answer that ends the agent's turn."""

    steps: tuple[WriteFile, ...] = field(
        default_factory=lambda: (
            WriteFile("impl.txt", "implemented by the scripted model\n"),
            WriteFile("RESULTS.md", default_results_md()),
        )
    )
    final: str = "Done: wrote impl.txt and RESULTS.md."
    # Plain text for side calls that offer no tools (titles, routing, summaries).
    side_text: str = "Scripted task"

    def step_for(self, assistant_turns: int) -> WriteFile | None:
        """The step for a request that already holds ``assistant_turns`` turns; None = final."""
        if 0 <= assistant_turns < len(self.steps):
            return self.steps[assistant_turns]
        return None

    def aider_reply(self) -> str:
        """All steps at once in aider's ``whole`` edit format: path line, then a fenced listing.

        aider makes one model call per --message and applies every listing in the reply.
        """
        out = []
        for step in self.steps:
            body = step.content if step.content.endswith("\n") else step.content + "\n"
            # aider takes any line starting with ``` as a fence: content must not have one.
            if any(line.startswith("```") for line in body.splitlines()):
                raise ValueError(f"{step.path}: a line starting with ``` breaks aider's listing")
            out.append(f"{step.path}\n```\n{body}```\n")
        out.append(self.final)
        return "\n".join(out)
