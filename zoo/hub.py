"""Remote bundles on the Hugging Face Hub: `hf://org/repo[@revision]`.

Fetching goes through huggingface_hub's `snapshot_download`, so its cache (HF_HOME,
HF_HUB_CACHE) and offline mode (HF_HUB_OFFLINE=1) apply exactly as for any other library.
Only the three bundle files are fetched; their contents are checked when loaded.
"""

from __future__ import annotations

import re
from pathlib import Path

from zoo.weights import BUNDLE_FILES, CONFIG_FILE, WEIGHTS_FILE, WeightsError

SCHEME = "hf://"
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


def is_hub_url(text: str) -> bool:
    return str(text).startswith(SCHEME)


def parse(url: str) -> tuple[str, str | None]:
    """'hf://org/repo@rev' -> ('org/repo', 'rev'); the revision is a branch, tag or commit."""
    body = url.removeprefix(SCHEME)
    repo, sep, revision = body.partition("@")
    if not _REPO.match(repo) or (sep and not revision):
        raise WeightsError(f"{url!r}: expected hf://org/repo or hf://org/repo@revision")
    return repo, revision or None


def fetch_bundle(url: str) -> Path:
    """Local directory of the bundle at `url`, from the cache or (when online) the Hub."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError:
        raise WeightsError(f"{url}: needs huggingface_hub (pip install 'zoo[hub]')") from None
    repo, revision = parse(url)
    try:
        directory = Path(snapshot_download(repo, revision=revision, allow_patterns=list(BUNDLE_FILES)))
    except LocalEntryNotFoundError:
        raise WeightsError(f"{url}: not in the Hugging Face cache, and the Hub cannot be reached "
                           "(offline, or HF_HUB_OFFLINE=1)") from None
    except (HfHubHTTPError, OSError, ValueError) as err:
        raise WeightsError(f"{url}: cannot fetch from the Hugging Face Hub: {str(err).splitlines()[0]}") from None
    missing = [f for f in (CONFIG_FILE, WEIGHTS_FILE) if not (directory / f).is_file()]
    if missing:
        raise WeightsError(f"{url}: revision {directory.name} has no {', '.join(missing)} (not a zoo bundle)")
    return directory
