"""Offline test boundary for real coding-agent CLIs: a scripted model server on 127.0.0.1.

See README.md in this directory.
"""

from .script import RESULTS_SECTIONS, Script, WriteFile, default_results_md
from .server import MODES, ModelServer, Recorded

__all__ = ["MODES", "RESULTS_SECTIONS", "ModelServer", "Recorded", "Script", "WriteFile", "default_results_md"]
