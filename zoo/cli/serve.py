from __future__ import annotations

import os
from typing import Annotated, Optional

import typer

from zoo.cli.app import app, console, warn

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command("serve")
def serve_cmd(
    names: Annotated[Optional[list[str]], typer.Argument(help="Pretrained tags to serve (lenet5.mnist dcgan.mnist).", metavar="[TAG]...")] = None,
    weights: Annotated[Optional[list[str]], typer.Option("--weights", help="Bundle or run directory, zoo .safetensors file or hf:// URL to serve too (repeatable).")] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on; anything but loopback is reachable by others.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0: a free one, printed).")] = 8000,
    device: Annotated[str, typer.Option("--device", help="auto (cuda if available), cpu, cuda, cuda:N.")] = "auto",
    max_batch: Annotated[int, typer.Option("--max-batch", min=1, max=4096, help="Most images one batch runs.")] = 64,
    max_wait_ms: Annotated[float, typer.Option("--max-wait-ms", min=0, max=10_000, help="Longest a request waits for others to join its batch.")] = 5.0,
    api_key: Annotated[Optional[str], typer.Option("--api-key", envvar="ZOO_API_KEY", help="Require this key (Authorization: Bearer KEY) on every /v1 route; also from ZOO_API_KEY.")] = None,
    max_body_mb: Annotated[float, typer.Option("--max-body-mb", min=0.001, max=1024, help="Largest request body taken, in MB.")] = 8.0,
) -> None:
    """Serve models over HTTP with a web page: `zoo serve lenet5.mnist dcgan.mnist`, then open http://127.0.0.1:8000/.

    Routes: GET /v1/models; POST /v1/models/NAME/predict|sample|encode|decode|inpaint; GET /healthz, /metrics, /docs."""
    import socket

    from zoo.errors import ZooError

    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        raise ZooError('zoo serve needs FastAPI and uvicorn: pip install "zoo[serve]"') from None
    from zoo.serve.app import build_app
    from zoo.serve.models import serve_model

    if not names and not weights:
        raise ZooError("name a pretrained tag or --weights to serve: zoo serve lenet5.mnist")
    served = [serve_model(None, name, device) for name in names or []]
    served += [serve_model(w, None, device) for w in weights or []]
    taken = [s.name for s in served]
    if len(set(taken)) != len(taken):
        raise ZooError(f"a model is named twice: {', '.join(taken)}")
    if host not in LOOPBACK and not api_key:
        warn(f"listening on {host}: anyone who can reach it can use these models, with no authentication; "
             "set --api-key (or ZOO_API_KEY) to require a key")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise ZooError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    shown = f"[{host}]" if ":" in host else host
    app_ = build_app(served, max_batch=max_batch, max_wait_ms=max_wait_ms, api_key=api_key,
                     max_body=int(max_body_mb * 1024 * 1024))
    console.print(f"serving {', '.join(taken)} on http://{shown}:{sock.getsockname()[1]}/ (Ctrl-C stops)",
                  markup=False, highlight=False)
    server = uvicorn.Server(uvicorn.Config(app_, log_level=os.environ.get("ZOO_SERVE_LOG", "warning"),
                                           timeout_graceful_shutdown=5))
    server.run(sockets=[sock])
