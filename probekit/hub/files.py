"""What a push uploads: the files of a run (and of its dataset) and their content ids.

Nothing here talks to the Hub; `probekit.hub.client` decides what to send by comparing these
ids with the remote tree.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from probekit.hub import model_card

# Run-relative sources -> where they land in the model repo. `final/` goes to the root
# so that `from_pretrained(repo_id)` finds config.json and the weights.
RUN_LAYOUT = (
    ("final", ""),
    ("probe", "probe"),
    ("config.yaml", "config.yaml"),
    ("metrics.jsonl", "metrics.jsonl"),
    ("prediction.json", "prediction.json"),
)
# Never uploaded: the probe's activation cache (large, and rebuilt by any re-probe).
NOT_PUSHED = ("probe/cache/",)
# Remote folders that mirror a local one: files gone locally are deleted remotely.


def file_oids(source: Path | bytes) -> tuple[str, str]:
    """(git blob sha1, sha256) of a file or bytes: the ids the Hub reports for regular and LFS files."""
    data = source if isinstance(source, bytes) else None
    size = len(data) if data is not None else Path(source).stat().st_size
    git, sha256 = hashlib.sha1(b"blob %d\0" % size), hashlib.sha256()
    if data is not None:
        git.update(data)
        sha256.update(data)
        return git.hexdigest(), sha256.hexdigest()
    with open(source, "rb") as f:  # streamed: checkpoints can be large
        while chunk := f.read(1 << 20):
            git.update(chunk)
            sha256.update(chunk)
    return git.hexdigest(), sha256.hexdigest()


def collect_run_files(run_dir: str | Path) -> dict[str, Path]:
    """Map path-in-repo -> local file for everything of `run_dir` that gets pushed."""
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(
            f"Run directory {run} does not exist; pass the directory given to `probekit train`."
        )
    if not (run / "final" / "config.json").is_file():
        raise FileNotFoundError(
            f"{run / 'final'} holds no saved model (no config.json): the run has not finished "
            "training. Finish it with `probekit train` before pushing."
        )
    files: dict[str, Path] = {}
    for source, target in RUN_LAYOUT:
        src = run / source
        if src.is_file():
            files[target] = src
        elif src.is_dir():
            for path in sorted(src.rglob("*")):
                rel = path.relative_to(src).as_posix()
                name = f"{target}/{rel}" if target else rel
                hidden = any(part.startswith(".") for part in rel.split("/"))
                if path.is_file() and not hidden and not name.startswith(NOT_PUSHED):
                    files[name] = path
    return files


def dataset_files(run_dir: str | Path, workdir: Path) -> dict[str, Path]:
    """Map path-in-repo -> local file for the run's generated dataset (as parquet when saved by `datasets`)."""
    run = Path(run_dir)
    exp = model_card.experiment_of(model_card.read_json(run / "final" / "probekit_spec.json"))
    candidates = [Path(p) for p in [(exp.get("train") or {}).get("data_dir")] if p] + [
        run / "dataset"
    ]
    source = next((p for p in candidates if p.is_dir()), None)
    if source is None:
        where = " or ".join(str(p) for p in candidates)
        raise FileNotFoundError(
            f"No generated dataset found at {where}. Generate it with `probekit generate` into "
            f"{run / 'dataset'}, or push without --with-dataset."
        )
    if (source / "dataset_dict.json").is_file():  # a DatasetDict.save_to_disk directory
        import datasets

        dd = datasets.load_from_disk(str(source))
        out = {}
        for split in sorted(dd):
            path = workdir / f"{split}-00000-of-00001.parquet"
            dd[split].to_parquet(str(path))
            out[f"data/{path.name}"] = path
        return out
    return {
        f"data/{p.relative_to(source).as_posix()}": p
        for p in sorted(source.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }
