"""Start an ASGI app for ``bench_http.py --compare``, the same way for both contenders.

    python benchmarks/serve_app.py MODULE:APP PORT WORKERS

The listener is bound as ``fundflow serve`` binds it for several workers
(``fundflow.cli.serve._bind_tcp_socket``: ``IPPROTO_TCP`` and ``TCP_NODELAY``, so no reply
waits ~40 ms for a delayed ACK, uvicorn issue #3149), also for one worker; uvicorn's access
log is off for both (fundflow's own request log stays: it is part of what it does per request).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from fundflow.cli.serve import _bind_tcp_socket

    app, port, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, workers=workers, log_level="warning", access_log=False)
    sock = _bind_tcp_socket("127.0.0.1", port)
    try:
        if workers > 1:
            Multiprocess(config, sockets=[sock]).run()
        else:
            uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


if __name__ == "__main__":
    main()
