"""The FastAPI application `zoo serve` runs: routes, request reading, errors, the API key, the page.

Every refusal is a JSON answer `{"error": "<one line>", "status": <code>}` with a 4xx status, and
the server goes on serving: a body over `max_body` bytes is 413, a content type other than JSON,
multipart or form is 415, an image that is no image (or is cut short, or claims too many pixels)
400/413, an option the model's task does not have or a value it refuses 422, a model the server
does not hold 404. Clients never name files: a path names a loaded model or nothing, and a field
that would name a file (`out`, `weights`, ...) is refused before anything else is read.
"""

from __future__ import annotations

import hmac
import json
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from zoo.errors import ZooError
from zoo.serve.batching import Batcher
from zoo.serve.images import RequestError, b64, decode_image, from_base64, grid_png, png
from zoo.serve.metrics import Metrics
from zoo.serve.models import PredictOptions, Served
from zoo.tasks.options import OptionError, TaskOptions, validate_options

STATIC = Path(__file__).parent / "static"
FILE_FIELDS = ("out", "weights", "path", "file_path", "extractor_weights", "config", "dir", "directory")
MAX_BODY = 8 * 1024 * 1024
ROUTES = ("predict", "sample", "encode", "decode", "inpaint")


def build_app(served: list[Served], max_batch: int = 64, max_wait_ms: float = 5.0, api_key: str | None = None,
              max_body: int = MAX_BODY) -> FastAPI:
    """The application for the loaded models `served` (each reachable by its name and aliases)."""
    metrics = Metrics()
    by_name: dict[str, Served] = {}
    for s in served:
        for alias in s.aliases:
            by_name.setdefault(alias, s)
    batchers = {s.name: Batcher(s.name, s.run, max_batch, max_wait_ms, metrics.batch) for s in served}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        for b in batchers.values():
            b.start()
        yield
        for b in batchers.values():
            await b.stop()

    app = FastAPI(title="zoo serve", version="1", docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="The zoo's loaded models over HTTP: predict, sample, encode, decode, inpaint.")
    app.state.served, app.state.metrics, app.state.batchers = served, metrics, batchers

    # ------------------------------------------------------------ errors: one JSON line each

    @app.exception_handler(RequestError)
    async def _request_error(request: Request, err: RequestError) -> JSONResponse:
        return _error(err.status, err.message)

    @app.exception_handler(OptionError)
    async def _option_error(request: Request, err: OptionError) -> JSONResponse:
        return _error(422, _http_words(str(err)))

    @app.exception_handler(ZooError)
    async def _zoo_error(request: Request, err: ZooError) -> JSONResponse:
        return _error(400, _http_words(str(err)))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        return _error(err.status_code, str(err.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {"loc": (), "msg": "invalid request"}
        return _error(422, f"{'.'.join(map(str, first['loc']))}: {first['msg']}")

    @app.exception_handler(Exception)
    async def _internal(request: Request, err: Exception) -> JSONResponse:
        return _error(500, f"internal error ({type(err).__name__}); the server is still serving")

    @app.middleware("http")
    async def _measure(request: Request, call_next: Any) -> Response:
        start = time.perf_counter()
        parts = request.url.path.strip("/").split("/")
        model, route = "-", request.url.path if parts[0] != "v1" else "/v1/models"
        if len(parts) == 4 and parts[:2] == ["v1", "models"] and parts[3] in ROUTES:
            model = by_name[parts[2]].name if parts[2] in by_name else "-"
            route = parts[3]
        if route not in (*ROUTES, "/", "/healthz", "/metrics", "/v1/models", "/docs", "/openapi.json"):
            route = "other"  # labels stay few whatever paths clients send
        if api_key is not None and parts[0] == "v1" and not _authorised(request, api_key):
            response: Response = _error(401, "this server needs its API key: send Authorization: Bearer KEY "
                                             "(or X-API-Key: KEY)")
        else:
            try:
                response = await call_next(request)
            except Exception as err:  # noqa: BLE001 - the client gets a 500 line, the server keeps serving
                response = _error(500, f"internal error ({type(err).__name__}); the server is still serving")
        metrics.request(model, route, response.status_code, time.perf_counter() - start)
        return response

    # ------------------------------------------------------------ the page, health, metrics, docs

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Up, and which models it holds."""
        return {"status": "ok", "models": [s.name for s in served]}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus() -> PlainTextResponse:
        """Requests, errors, latency and batch sizes in the Prometheus text format."""
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(_docs_page(app.openapi()))

    # ------------------------------------------------------------ /v1

    def lookup(name: str, route: str | None = None) -> Served:
        s = by_name.get(name)
        if s is None:
            raise RequestError(404, f"no model {name!r} is served here; served: {', '.join(x.name for x in served)}")
        if route is not None and route not in s.routes:
            raise RequestError(404, f"{s.name} ({s.task_name}) does not {route}; its routes: {', '.join(s.routes)}")
        return s

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        """The loaded models: task, tags, card, routes and the option schema of each route."""
        return {"models": [s.describe() for s in served]}

    @app.get("/v1/models/{name}")
    async def model(name: str) -> dict[str, Any]:
        """One loaded model, as `/v1/models` lists it."""
        return lookup(name).describe()

    @app.post("/v1/models/{name}/predict")
    async def predict(name: str, request: Request) -> dict[str, Any]:
        """An image (multipart `file` or JSON `image`, base64 PNG) -> the top-k classes with probabilities."""
        s = lookup(name, "predict")
        fields, files = await read_request(request, max_body, files=("file",))
        opts = validate_options(PredictOptions, fields, _owner(s))
        image = decode_image(_need(files, "file"), s.task.in_chans, "the image")
        top = await batchers[s.name].submit("predict", (tuple(image.shape), opts.top_k), (image, opts.top_k))
        return {"model": s.name, "top": [{"label": label, "class": i, "probability": p} for label, i, p in top]}

    @app.post("/v1/models/{name}/sample")
    async def sample(name: str, request: Request) -> Response:
        """n, seed, label or prompt, truncation -> a PNG grid, or with `"format": "base64"` a JSON list of PNGs."""
        s = lookup(name, "sample")
        fields, _ = await read_request(request, max_body)
        fmt = _format(fields)
        if isinstance(fields.get("prompt"), str):
            fields["prompt"] = [fields["prompt"]]
        opts = validate_options(s.sample_schema, fields, _owner(s))
        condition = s.sample_condition(opts)
        images = await batchers[s.name].submit("sample", None, (opts, condition), size=opts.n)
        return _images(s, images, fmt, seed=opts.seed)

    @app.post("/v1/models/{name}/encode")
    async def encode(name: str, request: Request) -> dict[str, Any]:
        """An image -> its code (the autoencoder's deterministic code: a VAE's posterior mean)."""
        s = lookup(name, "encode")
        fields, files = await read_request(request, max_body, files=("file",))
        validate_options(_NoOptions, fields, _owner(s))
        image = decode_image(_need(files, "file"), s.task.in_chans, "the image")
        code = await batchers[s.name].submit("encode", tuple(image.shape), image)
        return {"model": s.name, "code": code}

    @app.post("/v1/models/{name}/decode")
    async def decode(name: str, request: Request) -> Response:
        """A code (JSON list of floats, as /encode answers) -> the decoded image (PNG, or base64 JSON)."""
        s = lookup(name, "decode")
        fields, _ = await read_request(request, max_body)
        fmt = _format(fields)
        code, label = fields.pop("code", None), fields.pop("label", None)
        validate_options(_NoOptions, fields, _owner(s))
        code = _code(code, s.code_size())
        if label is not None:
            if not isinstance(label, int) or isinstance(label, bool):
                raise RequestError(422, "label must be an integer class")
            s.task.check_label(label)
        image = await batchers[s.name].submit("decode", None, (code, label))
        return _images(s, image[None], fmt)

    @app.post("/v1/models/{name}/inpaint")
    async def inpaint(name: str, request: Request) -> Response:
        """An image and its mask (white = missing; multipart `file` and `mask`, or JSON `image` and `mask`, base64
        PNGs) -> the image with the hole filled by the GAN (PNG, or base64 JSON)."""
        from zoo.inpaint import InpaintOptions

        s = lookup(name, "inpaint")
        fields, files = await read_request(request, max_body, files=("file", "mask"))
        fmt = _format(fields)
        opts = validate_options(InpaintOptions, fields, _owner(s))
        image = decode_image(_need(files, "file"), s.task.in_chans, "the image")
        mask = decode_image(_need(files, "mask"), 1, "the mask")[0] > 127
        if tuple(mask.shape) != tuple(image.shape[-2:]):
            raise RequestError(422, f"the mask is {mask.shape[1]}x{mask.shape[0]} pixels and the image "
                                    f"{image.shape[-1]}x{image.shape[-2]}: they must match")
        if image.shape[-1] * image.shape[-2] > 512 * 512:
            raise RequestError(413, "inpainting takes images of at most 512 x 512 pixels")
        key = (tuple(image.shape), tuple(sorted(opts.model_dump(exclude={"seed"}).items())))
        fixed = await batchers[s.name].submit("inpaint", key, (image, mask, opts))
        return _images(s, fixed[None], fmt)

    return app


class _NoOptions(TaskOptions):
    """/encode and /decode take no option: any other field is refused."""


async def read_request(request: Request, max_body: int, files: tuple[str, ...] = ()) -> tuple[dict[str, Any], dict[str, bytes]]:
    """(fields, files) of a JSON, multipart or urlencoded body of at most `max_body` bytes. In JSON a file is a
    base64 PNG under the field `image` (for `file`) or `mask`; in multipart, an upload or a base64 text field."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_body):
        raise RequestError(413, f"the body is larger than this server takes ({max_body:,} bytes)")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_body:
            raise RequestError(413, f"the body is larger than this server takes ({max_body:,} bytes)")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not body and kind in ("", "application/json"):
        return {}, {}
    if kind == "application/json":
        try:
            fields = json.loads(body)
        except (ValueError, UnicodeDecodeError) as err:
            raise RequestError(400, f"the body is not valid JSON ({err})") from None
        if not isinstance(fields, dict):
            raise RequestError(422, "the body must be a JSON object of fields")
        _refuse_file_fields(fields)
        found = {}
        for name in files:
            key = "image" if name == "file" else name
            if key in fields:
                found[name] = from_base64(fields.pop(key), key)
        return fields, found
    if kind in ("multipart/form-data", "application/x-www-form-urlencoded"):
        request._body = bytes(body)  # the form parser reads the body already read
        try:
            form = await request.form(max_files=len(files) or 1, max_fields=64)
        except Exception as err:  # noqa: BLE001 - the multipart parser's refusals vary; each is a bad body
            raise RequestError(400, f"malformed form body ({getattr(err, 'detail', err)})") from None
        fields, found = {}, {}
        for key in form.keys():
            values = form.getlist(key)
            if key in files or (key == "image" and "file" in files):
                value = values[0]
                name = "file" if key == "image" else key
                found[name] = await value.read() if hasattr(value, "read") else from_base64(value, key)
                continue
            if any(hasattr(v, "read") for v in values):
                raise RequestError(422, f"field {key!r} is an upload; uploads go in {', '.join(files) or 'no field here'}")
            fields[key] = values[0] if len(values) == 1 else list(values)
        _refuse_file_fields(fields)
        return fields, found
    raise RequestError(415, f"content type {kind or '(none)'} is not taken: send application/json or multipart/form-data")


def _refuse_file_fields(fields: dict[str, Any]) -> None:
    named = [k for k in fields if k in FILE_FIELDS]
    if named:
        raise RequestError(422, f"field {named[0]!r} would name a file: this server reads and writes no file a client "
                                "names (it answers with the picture itself)")


def _need(files: dict[str, bytes], name: str) -> bytes:
    if name not in files:
        how = "multipart field 'file' or JSON 'image'" if name == "file" else f"multipart or JSON field '{name}'"
        raise RequestError(422, f"no {'image' if name == 'file' else name} sent (a PNG as {how})")
    return files[name]


def _format(fields: dict[str, Any]) -> str:
    fmt = fields.pop("format", "png")
    if fmt not in ("png", "base64"):
        raise RequestError(422, f"format must be png or base64, not {fmt!r}")
    return fmt


def _code(code: Any, size: int) -> list[float]:
    import math

    if not isinstance(code, list) or len(code) != size or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in code):
        raise RequestError(422, f"code must be a list of {size} finite numbers (as /encode answers)")
    return [float(v) for v in code]


def _images(s: Served, images: Any, fmt: str, seed: int | None = None) -> Response:
    if fmt == "base64":
        return JSONResponse({"model": s.name, "n": len(images), "seed": seed, "images": [b64(png(x)) for x in images]})
    return Response(grid_png(images) if len(images) > 1 else png(images[0]), media_type="image/png")


def _owner(s: Served) -> str:
    return f"{s.name} (task {s.task_name})"


def _http_words(message: str) -> str:
    """A CLI option's spelling (`--top-k`) as the JSON field it is over HTTP (`top_k`)."""
    import re

    return re.sub(r"--([a-z][a-z0-9-]*)", lambda m: m.group(1).replace("-", "_"), message)


def _authorised(request: Request, key: str) -> bool:
    given = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    return given is not None and hmac.compare_digest(given.encode(), key.encode())


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.split()), "status": status}, status_code=status)


def _docs_page(spec: dict[str, Any]) -> str:
    """The OpenAPI document as a plain local page (Swagger UI would be fetched from a CDN)."""
    import html

    rows = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            rows.append(f"<h3><code>{method.upper()} {html.escape(path)}</code></h3><p>"
                        f"{html.escape(op.get('description') or op.get('summary') or '')}</p>")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>zoo serve: API</title>"
            "<link rel='stylesheet' href='/static/style.css'></head><body><main><h1>zoo serve: API</h1>"
            "<p>The machine-readable document: <a href='/openapi.json'>/openapi.json</a>. Each model's options: "
            "<a href='/v1/models'>/v1/models</a>.</p>" + "".join(rows) + "</main></body></html>")


