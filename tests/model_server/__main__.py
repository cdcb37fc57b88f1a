"""Run the scripted model server by hand: ``python -m tests.model_server --port 8765``.

Each request is logged on stderr; ^C stops it.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Sequence

from .server import MODES, ModelServer


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.model_server")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--mode", choices=MODES, default="normal")
    args = parser.parse_args(argv)
    srv = ModelServer(mode=args.mode, port=args.port, host=args.host, verbose=True).start()
    print(f"scripted model server ({args.mode}) on {srv.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
