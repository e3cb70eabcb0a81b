"""Pushing a run to the Hub: the model repo (and optionally its dataset repo), idempotently.

`push_run` uploads a run's final checkpoint, tokenizer, spec, probe results and a
generated model card; only files whose content differs from the remote branch are
committed, so a repeated push is a no-op. When the Hub cannot be reached nothing is
lost, and the error gives the command to push later (`push_command`).
"""

from __future__ import annotations

import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, constants
from huggingface_hub.errors import RevisionNotFoundError

from probekit.hub import model_card
from probekit.hub.client import HubUnavailableError, hub_endpoint, hub_errors, offline_mode
from probekit.hub.files import collect_run_files, dataset_files, file_oids

MIRRORED = {"model": ("probe/",), "dataset": ("data/",)}


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
    source_url: str | None = None,
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
    with hub_errors("push", endpoint, keep_note), tempfile.TemporaryDirectory() as tmp:
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
        card = model_card.build_model_card(
            run, repo_id, license=license, dataset_repo_id=data_id, revision=revision,
            source_url=source_url,
        )  # fmt: skip
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
