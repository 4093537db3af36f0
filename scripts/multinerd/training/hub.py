"""Whether the transformer a config names can be loaded, checked before training starts: a local
folder, the Hugging Face cache, or the hub (probed with one quick connection)."""

import os
import socket
from pathlib import Path


class TransformerUnavailable(Exception):
    pass


def check_transformer(name: str) -> None:
    """Fail at once, with what to do, if the transformer `name` can't be loaded.

    A local folder must hold a model; a hub name must be cached, or the hub reachable. With
    HF_HUB_OFFLINE=1 an uncached name fails here instead of deep inside training.
    """
    path = Path(name)
    hub_name = "<model name>" if path.exists() else name
    how = (
        f"Download the model where the hub is reachable (`huggingface-cli download {hub_name} --local-dir DIR`), "
        "copy DIR here and pass --vars.transformer=DIR (scripts/train.py: --transformer DIR)."
    )
    if path.exists():
        if not (path / "config.json").exists():
            raise TransformerUnavailable(f"{name} has no config.json: it is not a saved transformer model. {how}")
        return
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        return
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        raise TransformerUnavailable(
            f"Transformer {name!r} is not a local folder nor in the Hugging Face cache, and HF_HUB_OFFLINE is set. {how}"
        )
    if not hub_reachable():
        raise TransformerUnavailable(
            f"Transformer {name!r} is not a local folder nor in the Hugging Face cache, and the hub can't be reached. {how}"
        )
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name)
    except Exception as err:  # OSError, connection errors, invalid repo ids
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise TransformerUnavailable(f"Can't load transformer {name!r} ({first_line}). {how}") from None


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the hub's host accepts a connection: one quick try instead of the hub client's retries."""
    from urllib.parse import urlparse

    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
        return True
    except OSError:
        return False
