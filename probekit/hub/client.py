"""The conversation with the Hugging Face Hub: endpoint, offline mode, errors, download.

`resolve_checkpoint` turns a local directory or a Hub repo id into a local directory;
`hub_errors` translates every client and network failure into a `HubError` whose
message says what happened and what to do. Endpoint, token and cache come from the
arguments, else `HF_ENDPOINT` / `HF_TOKEN` / `HF_HUB_CACHE`, read at call time
(`huggingface_hub.constants` reads them once, at import). This module imports nothing
of probekit, so any stage may load a checkpoint from the Hub; what a push uploads is
`probekit.hub.push`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from huggingface_hub import constants, snapshot_download
from huggingface_hub.errors import (
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
)


class HubError(RuntimeError):
    """A Hub operation failed; the message says why and how to fix it."""


class HubUnavailableError(HubError):
    """The Hub could not be reached (offline mode, no network, wrong endpoint)."""


class HubRejectedError(HubError):
    """The Hub answered with a refusal (invalid card metadata, no permission, ...)."""


def _is_true(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def offline_mode() -> bool:
    """Whether Hub access is disabled (`HF_HUB_OFFLINE=1`), checked now rather than at import."""
    env = _is_true(os.environ.get("HF_HUB_OFFLINE")) or _is_true(
        os.environ.get("TRANSFORMERS_OFFLINE")
    )
    return env or constants.is_offline_mode()


def hub_endpoint(endpoint: str | None = None) -> str:
    """The Hub URL to use: the argument, else `HF_ENDPOINT`, else the public Hub."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


@contextmanager
def hub_errors(action: str, endpoint: str, keep_note: str) -> Iterator[None]:
    """Translate client and network errors into HubError subclasses with a useful message."""
    import httpx2  # the HTTP client of huggingface_hub 2.x

    try:
        yield
    except OfflineModeIsEnabled as err:
        raise HubUnavailableError(
            f"Cannot {action}: offline mode is enabled (HF_HUB_OFFLINE=1). {keep_note}"
        ) from err
    except (httpx2.TransportError, ConnectionError, TimeoutError) as err:
        raise HubUnavailableError(
            f"Cannot {action}: the Hub at {endpoint} cannot be reached ({type(err).__name__}: {err}). "
            f"Check the network, HF_ENDPOINT or --endpoint. {keep_note}"
        ) from err
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else None
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        server = getattr(err, "server_message", None)
        detail = f"{reason}" + (f" (server: {server})" if server and server not in reason else "")
        if status in (401, 403):
            raise HubRejectedError(
                f"Cannot {action}: not authorised ({detail}). Set HF_TOKEN, pass --token, or run "
                f"`hf auth login` with a write token. {keep_note}"
            ) from err
        if status is not None and status >= 500:
            raise HubUnavailableError(
                f"Cannot {action}: the Hub had a server error ({detail}). {keep_note}"
            ) from err
        raise HubRejectedError(
            f"Cannot {action}: the Hub refused the request ({detail}). {keep_note}"
        ) from err
    except HFValidationError as err:
        raise HubError(f"Cannot {action}: {err} {keep_note}") from err
    except ValueError as err:
        if not str(err).startswith("Invalid metadata in README.md"):
            raise
        reasons = str(err).split("\n", 1)[-1]
        raise HubRejectedError(
            f"Cannot {action}: the Hub rejected the model card metadata:\n{reasons}\n"
            f"Fix the card options (e.g. --license) and push again. {keep_note}"
        ) from err


# What loading a checkpoint for probing reads (fnmatch patterns of `snapshot_download`): the
# config, safetensors weights (never pickled .bin files), tokenizer files, the probekit spec and
# a sentence-transformers pooling config. ONNX / TF / Flax weights and probe results stay remote.
CHECKPOINT_FILES = (
    "config.json",
    "model.safetensors",
    "model-*-of-*.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "spiece.model",
    "probekit_spec.json",
    "modules.json",
    "*_Pooling/config.json",
)


def _looks_like_path(name: str) -> bool:
    # Hub repo ids are `name` or `namespace/name`; anything else is meant as a directory.
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


def resolve_checkpoint(
    name_or_path: str | Path,
    revision: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    *,
    cache_dir: str | Path | None = None,
    allow_patterns: tuple[str, ...] | None = None,
) -> Path:
    """A local checkpoint directory as is; otherwise download the Hub repo `name_or_path` and return its folder.

    `allow_patterns` downloads only the matching files (None: the whole repo).
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    name = str(name_or_path)
    if isinstance(name_or_path, Path) or _looks_like_path(name):
        raise FileNotFoundError(
            f"Checkpoint directory {path} does not exist. Pass an existing directory "
            "(e.g. RUN/final) or a Hub repo id such as `user/model`."
        )
    endpoint = hub_endpoint(endpoint)
    note = (
        "Pass a local checkpoint directory instead, or retry with network access "
        "(unset HF_HUB_OFFLINE; check HF_ENDPOINT / --endpoint)."
    )
    local_only = offline_mode()
    with hub_errors(f"download {name!r}", endpoint, note):
        try:
            folder = snapshot_download(
                name,
                revision=revision,
                endpoint=endpoint,
                token=token,
                cache_dir=str(cache_dir) if cache_dir else os.environ.get("HF_HUB_CACHE"),
                local_files_only=local_only,
                allow_patterns=list(allow_patterns) if allow_patterns else None,
            )
        except RepositoryNotFoundError as err:
            raise HubRejectedError(
                f"{name!r} is neither an existing local directory nor a repository on {endpoint} "
                "(or it is private: set HF_TOKEN or pass --token)."
            ) from err
        except LocalEntryNotFoundError as err:
            why = (
                "offline mode is enabled (HF_HUB_OFFLINE=1)"
                if local_only
                else f"the Hub at {endpoint} cannot be reached"
            )
            raise HubUnavailableError(
                f"Cannot download {name!r}: {why} and it is not in the local cache. {note}"
            ) from err
    return Path(folder)
