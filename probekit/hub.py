"""Sharing runs on the Hugging Face Hub; the only probekit module that talks to the Hub API.

`push_run` uploads a run's final checkpoint, tokenizer, spec, probe results and a
generated model card (optionally the generated dataset, as a dataset repo);
`resolve_checkpoint` turns a local directory or a Hub repo id into a local directory.

Endpoint, token and cache come from the arguments, else `HF_ENDPOINT` / `HF_TOKEN` /
`HF_HUB_CACHE`, read at call time (`huggingface_hub.constants` reads them once, at import). Every Hub failure is
raised as a `HubError` whose message says what happened and what to do; when the Hub
cannot be reached nothing is lost, and the message gives the command to push later.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    constants,
    snapshot_download,
)
from huggingface_hub.errors import (
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from probekit import model_card
from probekit.hub_files import collect_run_files, dataset_files, file_oids

MIRRORED = {"model": ("probe/",), "dataset": ("data/",)}


class HubError(RuntimeError):
    """A Hub operation failed; the message says why and how to fix it."""


class HubUnavailableError(HubError):
    """The Hub could not be reached (offline mode, no network, wrong endpoint)."""


class HubRejectedError(HubError):
    """The Hub answered with a refusal (invalid card metadata, no permission, ...)."""


@dataclass(frozen=True)
class PushResult:
    """What one push did to one repository."""

    repo_id: str
    repo_type: str
    url: str
    commit: str | None
    uploaded: tuple[str, ...]
    deleted: tuple[str, ...]
    up_to_date: bool


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


def push_command(
    run_dir: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    endpoint: str | None = None,
    with_dataset: bool = False,
    dataset_repo_id: str | None = None,
    license: str = "apache-2.0",
) -> str:
    """The shell command that repeats a push (never includes the token)."""
    args = ["probekit", "push", str(Path(run_dir).resolve()), "--repo-id", repo_id]
    if private:
        args.append("--private")
    for flag, value in (
        ("--revision", revision),
        ("--endpoint", endpoint),
        ("--dataset-repo-id", dataset_repo_id),
    ):
        if value:
            args += [flag, value]
    if license != "apache-2.0":
        args += ["--license", license]
    if with_dataset:
        args.append("--with-dataset")
    return shlex.join(args)


@contextmanager
def _hub_errors(action: str, endpoint: str, keep_note: str) -> Iterator[None]:
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


def _remote_oids(
    api: HfApi, repo_id: str, repo_type: str, revision: str
) -> dict[str, tuple[str, str | None]] | None:
    """path -> (git blob id, LFS sha256) at `revision`; None when the branch does not exist."""
    try:
        return {
            f.path: (f.blob_id, f.lfs.sha256 if f.lfs else None)
            for f in api.list_repo_tree(
                repo_id, recursive=True, revision=revision, repo_type=repo_type
            )
            if hasattr(f, "blob_id")
        }
    except RevisionNotFoundError:
        return None


def _sync(
    api: HfApi,
    repo_id: str,
    repo_type: str,
    files: dict[str, Path | bytes],
    *,
    revision: str,
    message: str,
) -> PushResult:
    """Commit the files that differ from `revision` (and delete mirrored files gone locally)."""
    remote = _remote_oids(api, repo_id, repo_type, revision)
    if remote is None:  # a new branch, started from main
        api.create_branch(repo_id, branch=revision, repo_type=repo_type, exist_ok=True)
        remote = _remote_oids(api, repo_id, repo_type, revision) or {}
    changed = []
    for path, source in files.items():
        blob, lfs_sha256 = remote.get(path, (None, None))
        local_blob, local_sha256 = file_oids(source)
        # Regular files are compared by git blob id, LFS files by the sha256 of their content.
        if blob != local_blob and lfs_sha256 != local_sha256:
            changed.append(path)
    deleted = sorted(
        p
        for p in remote
        if p not in files and any(p.startswith(prefix) for prefix in MIRRORED[repo_type])
    )
    url_prefix = "" if repo_type == "model" else f"{repo_type}s/"
    url = f"{api.endpoint}/{url_prefix}{repo_id}"
    if not changed and not deleted:
        return PushResult(repo_id, repo_type, url, None, (), (), up_to_date=True)
    sources = {p: files[p] if isinstance(files[p], bytes) else str(files[p]) for p in changed}
    operations = [
        CommitOperationAdd(path_in_repo=p, path_or_fileobj=sources[p]) for p in sorted(changed)
    ]
    operations += [CommitOperationDelete(path_in_repo=p) for p in deleted]
    info = api.create_commit(
        repo_id, operations, commit_message=message, repo_type=repo_type, revision=revision
    )
    return PushResult(
        repo_id, repo_type, url, info.oid, tuple(sorted(changed)), tuple(deleted), up_to_date=False
    )


def push_run(
    run_dir: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    with_dataset: bool = False,
    dataset_repo_id: str | None = None,
    license: str = "apache-2.0",
    message: str | None = None,
) -> list[PushResult]:
    """Push a run (model repo, then optionally its dataset repo); a no-op for unchanged files."""
    run = Path(run_dir)
    files: dict[str, Path | bytes] = dict(collect_run_files(run))  # validates the run first
    endpoint = hub_endpoint(endpoint)
    revision = revision or constants.DEFAULT_REVISION
    again = push_command(
        run, repo_id, private=private, revision=revision if revision != "main" else None,
        endpoint=endpoint if endpoint != constants.ENDPOINT else None,
        with_dataset=with_dataset, dataset_repo_id=dataset_repo_id, license=license,
    )  # fmt: skip
    keep_note = f"Nothing was lost: the run is saved locally at {run.resolve()}. To push it later, run:\n  {again}"
    if offline_mode():
        raise HubUnavailableError(
            f"Cannot push: offline mode is enabled (HF_HUB_OFFLINE=1). {keep_note}"
        )
    api = HfApi(endpoint=endpoint, token=token, library_name="probekit")
    results = []
    with _hub_errors("push", endpoint, keep_note), tempfile.TemporaryDirectory() as tmp:
        repo_id = api.create_repo(
            repo_id, private=private, exist_ok=True
        ).repo_id  # adds the namespace
        if with_dataset:
            data_id = dataset_repo_id or f"{repo_id}-data"
            data_files: dict[str, Path | bytes] = dict(dataset_files(run, Path(tmp)))
            card = model_card.build_dataset_card(
                run, data_id, model_repo_id=repo_id, license=license
            )
            data_files["README.md"] = str(card).encode()
            data_id = api.create_repo(
                data_id, repo_type="dataset", private=private, exist_ok=True
            ).repo_id
            results.append(
                _sync(
                    api,
                    data_id,
                    "dataset",
                    data_files,
                    revision=revision,
                    message=message or "Push probekit dataset",
                )
            )
        else:
            data_id = None
        card = model_card.build_model_card(run, repo_id, license=license, dataset_repo_id=data_id)
        files["README.md"] = str(card).encode()
        results.insert(
            0,
            _sync(
                api,
                repo_id,
                "model",
                files,
                revision=revision,
                message=message or "Push probekit run",
            ),
        )
    return results


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
) -> Path:
    """A local checkpoint directory as is; otherwise download the Hub repo `name_or_path` and return its folder."""
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
    with _hub_errors(f"download {name!r}", endpoint, note):
        try:
            folder = snapshot_download(
                name,
                revision=revision,
                endpoint=endpoint,
                token=token,
                cache_dir=str(cache_dir) if cache_dir else os.environ.get("HF_HUB_CACHE"),
                local_files_only=local_only,
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
