"""Text-to-image: the adversarial task with captions as the condition (a text-conditioned GAN such as gan_cls).

Training is `AdversarialTask`'s, unchanged; the model is a `zoo.surfaces.gan.TextGANSurface`,
whose conditioning is captions: the task hands it the dataset's captions and the training
split's caption ids (`set_captions`), and the condition a real slice carries is one caption id
per image (a training phrasing drawn at random each step), which the model's `encode` turns
into text embeddings (a table lookup for a frozen encoder, whose embeddings are computed once
per caption; the encoder itself for a trainable one). The matching-aware D and GAN-INT are the
model's `mismatched` and `interpolated` conditions. What is added here is the data
(mnist-captions), sampling by prompt, and the measures of whether images follow their text:

- consistency: the share of samples that `lenet5.mnist` classes as the digit the prompt names,
  separately for the training phrasings and the held-out ones (`zoo.data.captions.HELD_OUT`);
- property agreement: among prompts saying thin/thick (slanted/left-leaning), the share of
  samples whose measured thickness (slant) lies on the named side of the midpoint between the
  two captioning thresholds (chance: about 50%).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, ClassVar

import torch
from pydantic import Field

from zoo.errors import ConfigError
from zoo.surfaces.gan import TextGANSurface
from zoo.tasks.adversarial import AdversarialTask, SampleError, model_device, save_grid, slerp
from zoo.tasks.base import Batch
from zoo.tasks.options import EvalOptions, GeneratorEvalOptions, SampleOptions

CONSISTENCY_SAMPLES = 50  # per (template, digit): 300 images for the six training phrasings, 150 held out


class TextSampleOptions(SampleOptions):
    """`zoo sample` of a text-to-image model."""

    prompt: list[str] | None = Field(None, description="What to draw; repeat for one labelled row per prompt, twice "
                                                       "with --interpolate to walk between them (default: one row per "
                                                       "digit).")
    truncation: float | None = Field(None, gt=0, description="Draw noise from N(0, 1) truncated to [-T, T].")
    interpolate: bool = Field(False, description="n steps from the first prompt's embedding to the second's.")


class TextEvalOptions(GeneratorEvalOptions):
    """`zoo eval` of a text-to-image model: text-image consistency, then the sample metrics (FID by default)."""

    metrics: str | None = Field(None, description="Comma-separated sample metrics after the consistency (default: fid).")


class TextToImageTask(AdversarialTask):
    SampleOptions: ClassVar[type[SampleOptions]] = TextSampleOptions
    EvalOptions: ClassVar[type[EvalOptions]] = TextEvalOptions
    surface: ClassVar[type] = TextGANSurface
    name: ClassVar[str] = "text-to-image"

    # ------------------------------------------------------------------ data

    def load_split(self, split: str, limit: int | None = None) -> Batch:
        from zoo.data import load_dataset
        from zoo.data.captions import TRAINING

        ds = load_dataset(self.data_config, split)
        if not hasattr(ds, "captions"):
            raise ConfigError(f"{self.model.zoo_name.split(':')[-1]} learns from captioned images; "
                              f"--data {self.data_config.name} has no captions (use --data mnist-captions)")
        ids = ds.captions[:limit][:, ds.columns(TRAINING)]
        self.model.set_captions(ds.vocabulary, ids if split == "train" else None)
        return {"images": ds.images[:limit], "labels": ds.labels[:limit], "captions": ids}

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, data: Batch) -> dict[str, float]:
        """FID on LeNet-5 features (random training-style captions) and consistency on both phrasing sets."""
        result = super().evaluate(data)
        report = self.consistency(CONSISTENCY_SAMPLES // 10, self.config.train.seed + 2)  # 450 images: a trend, not the figure
        return {**result, **{k: v for k, v in report.items() if k.startswith("consistency")}}

    @torch.no_grad()
    def consistency(self, per_digit: int = CONSISTENCY_SAMPLES, seed: int = 0) -> dict[str, float]:
        """Consistency on training and held-out phrasings, and thickness/slant agreement (see the module doc)."""
        from zoo.data.captions import HELD_OUT, THICK, THIN, TRAINING, Words, caption, measure

        gen = torch.Generator().manual_seed(seed)
        extractor = self.extractor()
        out: dict[str, float] = {}
        agree: dict[str, list[torch.Tensor]] = {"thickness": [], "slant": []}
        for phrasing, templates in (("train", TRAINING), ("held_out", HELD_OUT)):
            hits = total = 0
            for template in templates:
                prompts, digits, wanted = [], [], []
                for d in range(10):
                    for i in range(per_digit):
                        thick, lean = ("thin", "thick", None)[i % 3], ("slanted", "left-leaning", None, "upright")[i % 4]
                        prompts.append(caption(template, d, Words(thick, lean, None, None)))
                        digits.append(d)
                        wanted.append((thick, lean))
                images = self.model.sample(len(prompts), generator=gen, condition=prompts).cpu()
                guess = extractor.embed(images).probs.argmax(1)
                hits += int((guess == torch.tensor(digits)).sum())
                total += len(prompts)
                props = measure(images)
                for (thick, lean), p in zip(wanted, props):
                    if thick:  # thin below the midpoint of the two thresholds, thick above
                        agree["thickness"].append(torch.tensor(bool((p[0] < (THIN + THICK) / 2) == (thick == "thin"))))
                    if lean in ("slanted", "left-leaning"):
                        agree["slant"].append(torch.tensor(bool((p[1] > 0) == (lean == "slanted"))))
            out[f"consistency_{phrasing}"] = hits / total
        for prop, flags in agree.items():
            out[f"{prop}_agreement"] = float(torch.stack(flags).float().mean())
        return out

    # ------------------------------------------------------------------ pictures

    def epoch_pictures(self, run: Path, epoch: int, data: Batch) -> None:
        """samples/epoch_NNN.png: one row per digit ("a handwritten zero" ...) on the fixed noise, and samples.gif."""
        from zoo.data.captions import WORDS
        from zoo.tasks.adversarial import save_gif

        per_row = len(self.grid_noise) // 10
        prompts = [f"a handwritten {WORDS[d]}" for d in range(10) for _ in range(per_row)]
        with torch.no_grad():
            images = self.model.render(self.grid_noise[:len(prompts)].to(self.device), prompts).cpu()
        folder = run / "samples"
        save_grid(images, folder / f"epoch_{epoch:03d}.png", rows=10)
        save_gif(sorted(folder.glob("epoch_*.png")), run / "samples.gif")

    def sample(self, data: Batch | None, options: TextSampleOptions) -> Path:
        """n samples of one prompt (a grid), one labelled row of n per prompt, or with `interpolate` n steps
        from the first prompt's embedding to the second's on one noise vector.

        Without a prompt: one row per digit, "a handwritten zero" to "a handwritten nine".
        """
        import warnings

        from zoo.data.captions import WORDS, named_digit

        model, n, out, truncation, interpolate = self.model, options.n, options.out, options.truncation, options.interpolate
        prompts = list(options.prompt) if options.prompt else [f"a handwritten {w}" for w in WORDS]
        if any(not p.strip() for p in prompts):
            raise SampleError("--prompt must not be empty (e.g. --prompt \"a thin eight\")")
        if interpolate and len(prompts) != 2:
            raise SampleError(f"--interpolate walks between two prompts: give --prompt twice (got {len(prompts)})")
        for p in dict.fromkeys(prompts):
            if named_digit(p) is None:
                print(f"warning: prompt {p!r} names no single digit (zero..nine or 0..9); sampling anyway, "
                      "but text-image consistency is undefined for it", file=sys.stderr)
        gen = torch.Generator().manual_seed(options.seed)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the model's own no-digit warning, said once above
            if interpolate:
                ends = model.embed(prompts).cpu()
                text = torch.stack([torch.lerp(ends[0], ends[1], t) for t in torch.linspace(0, 1, n).tolist()])
                z = model.noise(1, gen, truncation).expand(n, -1)
                images = model.render(z, text.to(model_device(model))).cpu()
                return save_labelled(images, [f"{prompts[0]}  ->  {prompts[1]}"], out)
            if len(prompts) == 1:
                return save_grid(model.sample(n, generator=gen, condition=prompts[0], truncation=truncation).cpu(), out)
            rows = [model.sample(n, generator=gen, condition=p, truncation=truncation).cpu() for p in prompts]
        return save_labelled(torch.cat(rows), prompts, out)

    def generate(self, options: TextSampleOptions, condition: Any = None) -> torch.Tensor:
        if options.interpolate:
            raise SampleError("--interpolate makes a picture (zoo sample), not a batch of samples")
        prompts = condition if condition is not None else options.prompt
        if isinstance(prompts, list) and len(prompts) == 1:
            prompts = prompts[0]
        with torch.no_grad():
            return self.model.sample(options.n, generator=torch.Generator().manual_seed(options.seed), condition=prompts,
                                     truncation=options.truncation)

    def report(self, options: TextEvalOptions, progress: Any = None) -> dict[str, Any]:
        """Consistency (training / held-out phrasings), thickness and slant agreement, then the sample metrics."""
        if progress is not None:
            progress.stage("text-image consistency", None)
        text = self.consistency(seed=options.seed)
        return {**text, **self.sample_metrics(options, progress, default="fid")}

    def describe(self, doc: dict[str, Any]) -> list[Any]:
        from zoo.metrics.report import scores_table

        lines: list[Any] = [f"{k:<26} {doc[k]:.2%}" for k in doc if k.startswith("consistency") or k.endswith("_agreement")]
        from zoo.metrics.evaluation import METRICS

        metrics = ", ".join(k for k in METRICS if k in doc)
        return [*lines, scores_table(doc),
                f"{self.model.zoo_name}: consistency by lenet5.mnist on prompts of every digit; {doc['n']:,} samples "
                f"against {doc['reference']} for {metrics}, seed {doc['seed']}; {doc['extractor']['note']}"]

    def card(self) -> dict[str, Any]:
        return {**super().card(), "notes": f"Text encoder: {self.model.zoo_config.text_encoder}."}


def save_labelled(images: torch.Tensor, labels: list[str], out: Path) -> Path:
    """One row per label (len(images) / len(labels) images each), the label written to the row's left."""
    from PIL import Image, ImageDraw
    from torchvision.utils import make_grid

    per_row = len(images) // len(labels)
    grid = make_grid(images.clamp(0, 1), nrow=per_row, padding=2, pad_value=1.0)
    array = grid.mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    picture = Image.fromarray(array).convert("RGB")
    margin = 8 + 6 * max(len(t) for t in labels)  # PIL's default bitmap font is about 6 px a character
    canvas = Image.new("RGB", (picture.width + margin, picture.height), "white")
    canvas.paste(picture, (margin, 0))
    draw = ImageDraw.Draw(canvas)
    row_height = (picture.height - 2) / len(labels)
    for i, text in enumerate(labels):
        draw.text((4, 2 + i * row_height + row_height / 2 - 5), text, fill="black")
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out)
    return out
