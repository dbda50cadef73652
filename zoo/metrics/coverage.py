"""Mode coverage of generated samples as a classifier sees them: the census, and the collapse warning.

A GAN that collapses draws a few kinds of image well; FID sees that only as a worse number.
The census classes every sample with an extractor that has class probabilities (for digits,
the zoo's `lenet5_mnist`): the share of samples per class, how many classes hold at least
`MODE_SHARE` of them, the KL divergence of the class histogram from uniform, and the share
classed confidently. It is as good as the classifier: on data the classifier was not trained
for, its classes mean nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

CONFIDENT = 0.9  # max class probability that counts a sample as a legible instance of its class
MODE_SHARE = 0.05  # a class is covered when at least this share of samples is classed as it
LEGIBLE = 0.5  # a collapse is warned about only once at least this share is confidently classed (early blobs are not)


def coverage(probs: torch.Tensor) -> dict[str, float]:
    """Census of N x K class probabilities: `modes` (classes with share >= 5%), `kl_uniform` (KL of the
    class histogram, by argmax, from uniform), `confident` (share with max probability >= 0.9), and
    `share_0` .. `share_{K-1}`."""
    import torch

    k = probs.shape[1]
    shares = torch.bincount(probs.argmax(1), minlength=k).double() / len(probs)
    nonzero = shares[shares > 0]
    kl = float((nonzero * (nonzero * k).log()).sum())
    return {"modes": float((shares >= MODE_SHARE).sum()), "kl_uniform": kl,
            "confident": float((probs.max(1).values >= CONFIDENT).double().mean()),
            **{f"share_{c}": float(shares[c]) for c in range(k)}}


def collapse_warning(census: dict[str, float], what: str = "classes") -> str | None:
    """A warning when the samples are mostly legible (so the census means something) but cover fewer than
    half of the classes; None otherwise. `what` names the classes in the message (e.g. "digits")."""
    classes = sum(1 for key in census if key.startswith("share_"))
    if census["modes"] >= classes / 2 or census["confident"] < LEGIBLE:
        return None
    shares = ", ".join(f"{c}: {census[f'share_{c}']:.0%}" for c in range(classes)
                       if census[f"share_{c}"] >= MODE_SHARE)
    return f"mode collapse? samples cover only {int(census['modes'])} of {classes} {what} ({shares})"
