"""The models a server holds: each loaded once (as `zoo predict` and `zoo sample` load it), what it can
answer, and how a batch of each kind of request runs on it.

Routes follow the task's surface: a classifier predicts; anything that draws images samples (GANs,
VAEs, text-to-image, a plugin task whose model has `sample`); an autoencoder also encodes and
decodes; a GAN with a discriminator and no text condition inpaints. Options are the task's own
`SampleOptions` (less `out`: the server writes no file) and `zoo.inpaint.InpaintOptions`,
validated by `zoo.tasks.options.validate_options`, so HTTP and the command line accept the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, create_model

from zoo.tasks.options import TaskOptions

MAX_TOP_K = 100


class PredictOptions(TaskOptions):
    """What `/predict` takes beside the image (what `zoo predict` takes: --top-k)."""

    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="Labels answered per image.")


@dataclass
class Served:
    """One loaded model: `name` is how paths name it (the tag, `lenet5.mnist`, or the model's name)."""

    name: str
    aliases: tuple[str, ...]
    loaded: Any
    task_name: str
    routes: tuple[str, ...]
    sample_schema: type | None = None
    schemas: dict[str, type] = field(default_factory=dict)
    _code_size: int | None = None

    @property
    def model(self) -> Any:
        return self.loaded.model

    @property
    def task(self) -> Any:
        return self.loaded.task

    def describe(self) -> dict[str, Any]:
        """The model's entry in `GET /v1/models`."""
        from zoo.names import resolve

        spec = resolve(self.model.zoo_name)[0]
        bundle = getattr(self.model, "zoo_bundle", None)
        card = bundle.model_dump(mode="json", exclude={"config"}) if bundle is not None else None
        return {
            "name": self.name, "aliases": list(self.aliases), "model": spec.qualified_name, "task": self.task_name,
            "summary": spec.entry.summary, "paper": spec.entry.paper,
            "tags": [f"{spec.name}.{t.tag}" for t in spec.entry.pretrained],
            "routes": list(self.routes), "card": card,
            "classes": self.task.class_names() if "predict" in self.routes else None,
            "conditioning": getattr(self.model, "condition_type", None),
            "num_classes": getattr(self.model, "num_classes", None) if "sample" in self.routes else None,
            "options": {route: schema.model_json_schema() for route, schema in self.schemas.items()},
        }

    def code_size(self) -> int:
        """Length of the codes /encode answers and /decode takes."""
        import torch

        if self._code_size is None:
            probe = torch.zeros(1, self.task.in_chans, *self.task.input_size, dtype=torch.uint8)
            with torch.inference_mode():
                self._code_size = self.task.codes(self.task.prepare(probe)).shape[1]
        return self._code_size

    def sample_condition(self, opts: Any) -> Any:
        """What a sample request is conditioned on (its label or prompts), refusing what the task refuses; a
        picture option (interpolate, reconstruct) makes a `zoo sample` picture, not a batch of samples."""
        from zoo.errors import ZooError

        for picture in ("interpolate", "reconstruct"):
            if getattr(opts, picture, False):
                raise ZooError(f"{picture} makes a picture with zoo sample; /sample answers samples")
        prompts = getattr(opts, "prompt", None)
        if prompts is not None:
            if len(prompts) not in (1, opts.n):
                raise ZooError(f"give one prompt or n={opts.n} prompts, not {len(prompts)}")
            self.model.check_prompts(prompts)
            return prompts
        label = getattr(opts, "label", None)
        if label is not None:
            self.task.check_label(label)
        return label

    # ---------------------------------------------------------------- batches (on the batcher's thread)

    def run(self, kind: str, payloads: list[Any]) -> list[Any]:
        import torch

        with torch.inference_mode(kind != "inpaint"):
            return getattr(self, f"_{kind}")(payloads)

    def _predict(self, payloads: list[tuple[Any, int]]) -> list[list[tuple[str, int, float]]]:
        """payloads: (C x H x W uint8 image, top_k), all of one size (the batch key)."""
        import torch

        from zoo.cli.predict import top_classes

        probs = self.task.predict(torch.stack([image for image, _ in payloads])).softmax(1)
        names = self.task.class_names()
        return [top_classes(p, names, k) for p, (_, k) in zip(probs, payloads)]

    def _sample(self, payloads: list[tuple[Any, Any]]) -> list[Any]:
        """payloads: (validated sample options, condition). A GAN draws each request's noise (and labels) from its
        own seed, as its `sample` would, and renders them in one pass; other models draw request by request."""
        import torch

        model = self.model
        if not (hasattr(model, "noise") and hasattr(model, "render")):
            return [self.task.generate(opts, condition).cpu() for opts, condition in payloads]
        zs, conds = [], []
        for opts, condition in payloads:
            gen = torch.Generator().manual_seed(opts.seed)
            zs.append(model.noise(opts.n, gen, opts.truncation))
            if getattr(model, "condition_type", None) == "prompt":
                conds.append(model.text_condition(opts.n, condition, gen))
            else:
                conds.append(model.labels(opts.n, condition, gen))
        labels = None if conds[0] is None else torch.cat(conds)
        images = model.render(torch.cat(zs), labels).cpu()
        return list(images.split([opts.n for opts, _ in payloads]))

    def _encode(self, payloads: list[Any]) -> list[list[float]]:
        import torch

        x = self.task.prepare(torch.stack(payloads))
        return self.task.codes(x).float().cpu().tolist()

    def _decode(self, payloads: list[tuple[list[float], int | None]]) -> list[Any]:
        import torch

        out = []
        for code, label in payloads:  # a label, when given, is per request
            z = torch.tensor([code], dtype=torch.float32, device=self.task.device)
            out.append(self.task.decode_codes(z, label).clamp(0, 1)[0].cpu())
        return out

    def _inpaint(self, payloads: list[tuple[Any, Any, Any]]) -> list[Any]:
        """payloads: (image, hole, options) with equal options but their seeds (the batch key)."""
        from zoo.inpaint import inpaint_images

        opts = payloads[0][2]
        return inpaint_images(self.loaded, [p[0] for p in payloads], [p[1] for p in payloads], opts,
                              seeds=[p[2].seed for p in payloads])


def serve_model(weights: str | None, name: str | None, device: str) -> Served:
    """Load a tag (`name`) or weights as `zoo sample` does, and work out its routes and option schemas."""
    from zoo.engine.inference import load_trained
    from zoo.inpaint import InpaintOptions, check_inpaintable
    from zoo.names import resolve
    from zoo.errors import ZooError

    loaded = load_trained(weights, name, None, device)
    spec = resolve(loaded.model.zoo_name)[0]
    model, task = loaded.model, loaded.task
    routes, schemas = [], {}
    if hasattr(task, "predict") and hasattr(task, "class_names"):
        routes.append("predict")
        schemas["predict"] = PredictOptions
    if callable(getattr(model, "sample", None)):
        routes.append("sample")
        schemas["sample"] = http_sample_options(task.SampleOptions)
    if hasattr(task, "codes") and hasattr(task, "decode_codes"):
        routes += ["encode", "decode"]
    try:
        check_inpaintable(model)
    except ZooError:
        pass
    else:
        routes.append("inpaint")
        schemas["inpaint"] = InpaintOptions
    shown = name if name is not None else spec.name
    aliases = tuple(dict.fromkeys(a for a in (shown, spec.name, spec.qualified_name) if a))
    return Served(name=shown, aliases=aliases, loaded=loaded, task_name=spec.entry.task, routes=tuple(routes),
                  sample_schema=schemas.get("sample"), schemas=schemas)


def http_sample_options(schema: type) -> type:
    """The task's sample options without `out`: over HTTP the answer is the picture, no file is written."""
    fields = {k: (f.annotation, f) for k, f in schema.model_fields.items() if k != "out"}
    return create_model(f"Http{schema.__name__}", __base__=TaskOptions, __doc__=schema.__doc__, **fields)
