"""`zoo serve` over HTTP: a real server (subprocess, uvicorn on 127.0.0.1) and httpx, every route, every loaded task."""

from __future__ import annotations

import asyncio
import base64
import io
import re
import struct
import zlib

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from serve_server import start_server

TAGS = ("lenet5.mnist", "dcgan.mnist", "cgan.mnist", "wgan_gp.mnist", "vae.mnist", "gan_cls.mnist")


@pytest.fixture(scope="module")
def server():
    s = start_server(*TAGS, "--max-batch", "64", "--max-wait-ms", "5")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def digits(mnist_test_digits):
    """The first 64 MNIST test digits (uint8, 1 x 28 x 28) and their labels."""
    return mnist_test_digits


def png_of(image: torch.Tensor) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image[0].numpy()).save(buf, format="PNG")
    return buf.getvalue()


def pixels(data: bytes) -> torch.Tensor:
    with Image.open(io.BytesIO(data)) as img:
        return torch.from_numpy(np.asarray(img.convert("L")).copy()).to(torch.int16)


def assert_still_serving(client: httpx.Client) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


# ---------------------------------------------------------------------- routes


def test_models_lists_every_loaded_model_with_its_task_routes_card_and_options(client):
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert set(models) == set(TAGS)
    assert models["lenet5.mnist"]["task"] == "classification" and models["lenet5.mnist"]["routes"] == ["predict"]
    assert models["dcgan.mnist"]["routes"] == ["sample", "inpaint"]
    assert models["cgan.mnist"]["routes"] == ["sample", "inpaint"] and models["cgan.mnist"]["num_classes"] == 10
    assert models["vae.mnist"]["routes"] == ["sample", "encode", "decode"]
    assert models["gan_cls.mnist"]["routes"] == ["sample"] and models["gan_cls.mnist"]["conditioning"] == "prompt"
    assert set(models["dcgan.mnist"]["options"]["sample"]["properties"]) == {"n", "seed", "label", "truncation", "interpolate"}
    assert "prompt" in models["gan_cls.mnist"]["options"]["sample"]["properties"]
    assert models["lenet5.mnist"]["card"]["data"] == "mnist"
    assert client.get("/v1/models/lenet5").json()["name"] == "lenet5.mnist"  # the registry name reaches the tag
    assert "/v1/models/{name}/predict" in client.get("/openapi.json").json()["paths"]
    assert "POST /v1/models/{name}/sample" in client.get("/docs").text


def test_predict_names_each_test_digit_as_zoo_predict_does_multipart_and_json(client, digits):
    from zoo.engine.inference import load_trained

    images, labels = digits
    task = load_trained(None, "lenet5.mnist", device="cpu").task
    expected = task.predict(images[:8]).softmax(1)
    for i in range(8):
        data = png_of(images[i])
        up = client.post("/v1/models/lenet5.mnist/predict", files={"file": ("d.png", data, "image/png")},
                         data={"top_k": "3"}).json()
        js = client.post("/v1/models/lenet5.mnist/predict", json={"image": base64.b64encode(data).decode()}).json()
        assert up["model"] == "lenet5.mnist" and len(up["top"]) == 3 and len(js["top"]) == 5
        assert up["top"][0]["class"] == js["top"][0]["class"] == int(expected[i].argmax()) == int(labels[i])
        assert up["top"][0]["label"].startswith(str(int(labels[i])))
        assert abs(up["top"][0]["probability"] - float(expected[i].max())) < 1e-5


@pytest.mark.parametrize("tag,body", [("dcgan.mnist", {}), ("wgan_gp.mnist", {"truncation": 0.8}),
                                      ("cgan.mnist", {"label": 3}), ("vae.mnist", {}),
                                      ("gan_cls.mnist", {"prompt": "a thin handwritten seven"})])
def test_sample_answers_a_png_grid_or_a_base64_list_for_every_generator(client, tag, body):
    grid = client.post(f"/v1/models/{tag}/sample", json={"n": 4, "seed": 3, **body})
    assert grid.status_code == 200 and grid.headers["content-type"] == "image/png"
    side = 28 if tag == "vae.mnist" else 32
    assert pixels(grid.content).shape == (2 * side + 6, 2 * side + 6)  # 2 x 2 with 2 px gaps
    listed = client.post(f"/v1/models/{tag}/sample", json={"n": 3, "seed": 3, "format": "base64", **body}).json()
    assert listed["n"] == 3 and [pixels(base64.b64decode(p)).shape for p in listed["images"]] == [(side, side)] * 3


def test_sample_seed_gives_its_own_samples_whatever_batch_it_joins(server, client):
    import zoo

    async def burst() -> list[bytes]:
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as c:
            rs = await asyncio.gather(*[c.post("/v1/models/cgan.mnist/sample", json={"n": 2, "seed": s % 4, "label": 5,
                                                                                     "format": "base64"})
                                        for s in range(16)])
        return [r.json()["images"] for r in rs]

    answers = asyncio.run(burst())
    for seed in range(4):
        reference = zoo.sample("cgan.mnist", 2, condition=5, seed=seed, device="cpu").mul(255).round().to(torch.int16)
        for got in answers[seed::4]:
            for image, ref in zip(got, reference):
                assert (pixels(base64.b64decode(image)) - ref[0]).abs().max() <= 1  # float rounding across batch sizes
    assert answers[0] != answers[1]
    batches = re.search(r'zoo_batch_size_count\{model="cgan.mnist"\} (\d+)', client.get("/metrics").text)
    assert batches and int(batches.group(1)) < 16 + 2  # 16 requests ran in fewer batches


def test_encode_then_decode_reconstructs_the_digit(client, digits):
    images, _ = digits
    data = png_of(images[0])
    code = client.post("/v1/models/vae.mnist/encode", files={"file": ("d.png", data)}).json()["code"]
    assert len(code) == 40 and all(isinstance(v, float) for v in code)
    recon = pixels(client.post("/v1/models/vae.mnist/decode", json={"code": code}).content)
    original = images[0, 0].to(torch.int16)
    assert (recon - original).abs().float().mean() < (original - original.float().mean()).abs().float().mean() / 2


def test_inpaint_route_keeps_the_known_pixels_and_fills_the_hole(client, digits):
    images, _ = digits
    hole = Image.new("L", (28, 28))
    hole.paste(255, (8, 8, 20, 20))
    buf = io.BytesIO()
    hole.save(buf, format="PNG")
    masked = images[0].clone()
    masked[:, 8:20, 8:20] = 0
    r = client.post("/v1/models/dcgan.mnist/inpaint", json={"image": base64.b64encode(png_of(masked)).decode(),
                                                            "mask": base64.b64encode(buf.getvalue()).decode(),
                                                            "steps": 30, "restarts": 1})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    fixed = pixels(r.content)
    known = torch.ones(28, 28, dtype=torch.bool)
    known[8:20, 8:20] = False
    assert torch.equal(fixed[known], masked[0].to(torch.int16)[known])
    assert fixed[~known].float().mean() > 10  # a 7's stroke crosses the centre: the fill draws ink there


# ---------------------------------------------------------------------- bad input


def _bomb_png() -> bytes:
    """A PNG header claiming 20,000 x 20,000 pixels, then a little compressed data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 20001 * 4)) + chunk(b"IEND", b""))


def _png() -> bytes:
    return png_of(torch.zeros(1, 28, 28, dtype=torch.uint8))


def _noise_png() -> bytes:
    return png_of(torch.randint(0, 256, (1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8))


BAD = [
    ("not an image", "lenet5.mnist/predict", {"files": {"file": ("x.png", b"hello, I am text")}}, 400),
    ("truncated PNG", "lenet5.mnist/predict", {"files": {"file": ("x.png", _noise_png()[:400])}}, 400),
    ("decompression bomb", "lenet5.mnist/predict", {"files": {"file": ("x.png", _bomb_png())}}, 413),
    ("wrong content type", "lenet5.mnist/predict", {"content": b"abc", "headers": {"content-type": "text/plain"}}, 415),
    ("malformed JSON", "dcgan.mnist/sample", {"content": b'{"n": 4,', "headers": {"content-type": "application/json"}}, 400),
    ("JSON that is no object", "dcgan.mnist/sample", {"json": [1, 2]}, 422),
    ("n of 10^9", "dcgan.mnist/sample", {"json": {"n": 10 ** 9}}, 422),
    ("negative n", "dcgan.mnist/sample", {"json": {"n": -4}}, 422),
    ("n that is text", "dcgan.mnist/sample", {"json": {"n": "many"}}, 422),
    ("unknown model", "resnet9000/predict", {"json": {}}, 404),
    ("a route the model lacks", "lenet5.mnist/sample", {"json": {}}, 404),
    ("an option another task has", "dcgan.mnist/sample", {"json": {"reconstruct": True}}, 422),
    ("a label on an unconditional GAN", "dcgan.mnist/sample", {"json": {"label": 3}}, 400),
    ("a label out of range", "cgan.mnist/sample", {"json": {"label": 10}}, 400),
    ("an empty prompt", "gan_cls.mnist/sample", {"json": {"prompt": "  "}}, 400),
    ("an output path", "dcgan.mnist/sample", {"json": {"out": "/tmp/evil.png"}}, 422),
    ("a weights path", "lenet5.mnist/predict", {"json": {"weights": "/etc/passwd"}}, 422),
    ("a weights path in a form", "lenet5.mnist/predict", {"data": {"weights": "../../x"}, "files": {"file": ("x.png", _png())}}, 422),
    ("a parent directory as the model", "..%2F..%2Fetc%2Fpasswd/predict", {"json": {}}, 404),
    ("a path as the model", "%2Fetc%2Fpasswd/predict", {"json": {}}, 404),
    ("no image", "lenet5.mnist/predict", {"json": {"top_k": 3}}, 422),
    ("bad base64", "lenet5.mnist/predict", {"json": {"image": "%%%not base64"}}, 400),
    ("a code of the wrong length", "vae.mnist/decode", {"json": {"code": [0.0, 1.0]}}, 422),
    ("a mask of another size", "dcgan.mnist/inpaint",
     {"files": {"file": ("x.png", _png()), "mask": ("m.png", png_of(torch.zeros(1, 10, 10, dtype=torch.uint8)))}}, 422),
    ("inpaint steps beyond the limit", "dcgan.mnist/inpaint",
     {"files": {"file": ("x.png", _png()), "mask": ("m.png", _png())}, "data": {"steps": "100000000"}}, 422),
    ("oversized body", "lenet5.mnist/predict",
     {"content": b"0" * (9 * 1024 * 1024), "headers": {"content-type": "application/json"}}, 413),
    ("garbage multipart", "lenet5.mnist/predict",
     {"content": b"--x\r\nnonsense", "headers": {"content-type": "multipart/form-data; boundary=x"}}, 422),
]


@pytest.mark.parametrize("what,path,request_kw,status", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_4xx_json_line_and_the_server_keeps_serving(client, what, path, request_kw, status):
    r = client.post(f"/v1/models/{path}", **request_kw)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status and isinstance(body["error"], str) and "\n" not in body["error"]
    assert "Traceback" not in r.text
    assert_still_serving(client)


def test_no_route_reads_a_file_a_client_names(client):
    for path in ("/static/../../../../etc/passwd", "/static/%2e%2e/%2e%2e/pyproject.toml", "/v1/models/%2e%2e"):
        r = client.get(path)
        assert r.status_code == 404 and "root:" not in r.text and "[project]" not in r.text


def test_metrics_count_requests_errors_latency_and_batch_sizes(client, digits):
    client.post("/v1/models/lenet5.mnist/predict", files={"file": ("d.png", png_of(digits[0][0]))})
    client.post("/v1/models/lenet5.mnist/predict", files={"file": ("d.png", b"nope")})
    text = client.get("/metrics").text
    ok = re.search(r'zoo_requests_total\{model="lenet5.mnist",route="predict",status="200"\} (\d+)', text)
    bad = re.search(r'zoo_request_errors_total\{model="lenet5.mnist",route="predict",status="400"\} (\d+)', text)
    assert ok and int(ok.group(1)) >= 1 and bad and int(bad.group(1)) >= 1
    assert re.search(r'zoo_request_latency_seconds_bucket\{route="predict",le="\+Inf"\} \d+', text)
    assert re.search(r'zoo_batch_size_count\{model="lenet5.mnist"\} \d+', text)
    assert "# TYPE zoo_request_latency_seconds histogram" in text


# ---------------------------------------------------------------------- load


def test_load_2000_predicts_at_concurrency_32_and_500_samples_at_8_all_correct(server, client, digits):
    images, labels = digits
    uploads = [png_of(images[i]) for i in range(32)]
    import zoo

    refs = {s: zoo.sample("dcgan.mnist", 1, seed=s, device="cpu")[0, 0].mul(255).round().to(torch.int16) for s in range(10)}

    async def run(count: int, concurrency: int, send) -> list:
        sem = asyncio.Semaphore(concurrency)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as c:
            async def one(i: int):
                async with sem:
                    return i, await send(c, i)
            return await asyncio.gather(*[one(i) for i in range(count)])

    predicts = asyncio.run(run(2000, 32, lambda c, i: c.post("/v1/models/lenet5.mnist/predict",
                                                            files={"file": ("d.png", uploads[i % 32])})))
    assert all(r.status_code == 200 for _, r in predicts)
    assert all(r.json()["top"][0]["class"] == int(labels[i % 32]) for i, r in predicts)
    samples = asyncio.run(run(500, 8, lambda c, i: c.post("/v1/models/dcgan.mnist/sample", json={"n": 1, "seed": i % 10})))
    assert all(r.status_code == 200 and r.headers["content-type"] == "image/png" for _, r in samples)
    assert all((pixels(r.content) - refs[i % 10]).abs().max() <= 1 for i, r in samples)
    sizes = re.search(r'zoo_batch_size_sum\{model="lenet5.mnist"\} (\S+)\nzoo_batch_size_count\{model="lenet5.mnist"\} (\d+)',
                      client.get("/metrics").text)
    assert int(sizes.group(2)) < 0.9 * float(sizes.group(1))  # concurrent predicts ran in batches of several
