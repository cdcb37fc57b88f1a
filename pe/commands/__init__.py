"""One module per action, each thin: flags -> one domain call -> print.

Each module defines NAME, HELP, DESCRIPTION, add_arguments(parser) and run(args) -> int.
ACTIONS is the list pe.main offers, in the order `pe --help` shows them: a file
dropped into this folder does not become an action by being there.
"""

ACTIONS = ("demo", "init", "execute", "resume", "recover", "status", "compare", "logs", "adopt", "cleanup",
           "validate", "doit", "install-command")


def module_name(action: str) -> str:
    """The module of an action: `install-command` lives in install_command.py."""
    return "pe.commands." + action.replace("-", "_")
