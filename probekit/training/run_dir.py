"""The layout of a run directory, and atomic writes into it.

    RUN/config.yaml      the experiment config that produced the run
    RUN/metrics.jsonl    one JSON line per evaluation
    RUN/checkpoints/     step-00000500/ ... (accelerate save_state), last K kept
    RUN/snapshots/       step-00000000/ ... weights only (save_pretrained + tokenizer +
                         probekit_spec.json) every `train.save_model_every` steps, all kept
    RUN/final/           save_pretrained output + tokenizer + probekit_spec.json
    RUN/tracking/        local experiment trackers' files (train.log_with), if any

Every write lands in a temporary sibling first (`.NAME.tmp-PID`, `.final.tmp-PID/`,
`checkpoints/.tmp-step-N/`, `snapshots/.tmp-step-N/`), is fsynced, and is renamed into
place, and the directory is fsynced after the rename: a run killed (or a machine losing
power) at any moment leaves either the old or the new file, never half of one. The
temporaries a kill leaves behind are removed when the run next starts (`RunDir.prepare`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import yaml

from probekit.config import NON_RESULT_KEYS
from synthetic.config import fsync_dir, fsync_tree, write_atomic

_CHECKPOINT = re.compile(r"^step-(\d{8})$")


class RunExistsError(RuntimeError):
    """The run directory already holds a finished run, or a run of another config."""


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a fsynced temporary file and a rename."""
    write_atomic(path, text)


def _is_temporary(name: str) -> bool:
    """Names of the temporaries written here: `.X.tmp-PID`, `.final.old-PID`, `.tmp-step-N`."""
    return name.startswith(".") and (".tmp-" in name or name.startswith(".final.old-"))


def read_jsonl(path: Path) -> list[dict]:
    """All complete rows of a JSON-lines file ([] if missing); a line torn by a kill is skipped."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def _flatten(data, prefix=""):
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): data}


def _diff(old: dict, new: dict) -> list[str]:
    a, b = _flatten(old), _flatten(new)
    return [
        f"{k}: {a.get(k)!r} -> {b.get(k)!r}"
        for k in sorted(a.keys() | b.keys())
        if a.get(k) != b.get(k) and k not in NON_RESULT_KEYS  # another tracker: the same run
    ]


class RunDir:
    """Paths and atomic operations of one run directory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.config = self.path / "config.yaml"
        self.metrics = self.path / "metrics.jsonl"
        self.checkpoints = self.path / "checkpoints"
        self.snapshots = self.path / "snapshots"
        self.final = self.path / "final"

    def check(self, config: dict, *, overwrite: bool = False) -> None:
        """Refuse (RunExistsError) to clobber a finished run or resume a different one; writes nothing."""
        if overwrite:
            return
        if self.final.exists():
            raise RunExistsError(
                f"{self.path} already holds a finished run ({self.final} exists). "
                f"Use --overwrite to replace it, or choose another --run-dir."
            )
        if self.config.exists():
            saved = yaml.safe_load(self.config.read_text()) or {}
            changes = _diff(saved, config)
            if changes:
                raise RunExistsError(
                    f"{self.path} holds an unfinished run of a different config "
                    f"({'; '.join(changes[:8])}). Resume it with the same config, use "
                    f"--overwrite to start over, or choose another --run-dir."
                )

    def prepare(self, config: dict, *, overwrite: bool = False) -> None:
        """Check (as `check`), remove what a killed attempt left half-written, save the config."""
        self.check(config, overwrite=overwrite)
        if overwrite and self.path.exists():
            made = (self.final, self.checkpoints, self.snapshots, self.metrics, self.config)
            for child in made:
                _remove(child)
        self.remove_temporaries()
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.config, yaml.safe_dump(config, sort_keys=False))

    def remove_temporaries(self) -> list[Path]:
        """Delete the temporaries a killed run left (`.final.tmp-PID/`, `.X.tmp-PID`, ...)."""
        removed = []
        for folder in (self.path, self.checkpoints, self.snapshots):
            if folder.is_dir():
                for child in folder.iterdir():
                    if _is_temporary(child.name):
                        _remove(child)
                        removed.append(child)
        return removed

    # -- metrics --------------------------------------------------------------------------

    def log_metrics(self, row: dict) -> None:
        """Append one evaluation row (a JSON line; a torn last line is dropped on read)."""
        with open(self.metrics, "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def read_metrics(self) -> list[dict]:
        """All complete rows of metrics.jsonl."""
        return read_jsonl(self.metrics)

    def truncate_metrics(self, step: int) -> None:
        """Drop rows logged after `step` (they are re-run after a resume; step 0: all of them)."""
        if not self.metrics.exists():
            return
        rows = [r for r in self.read_metrics() if r.get("step", 0) <= step]
        atomic_write_text(self.metrics, "".join(json.dumps(r) + "\n" for r in rows))

    # -- checkpoints ----------------------------------------------------------------------

    def checkpoint_tmp(self, step: int) -> Path:
        """Where `save_state` writes before the rename."""
        return self.checkpoints / f".tmp-step-{step:08d}"

    def commit_checkpoint(self, tmp: Path, step: int, *, keep: int) -> Path:
        """Rename a fully written checkpoint into place and prune to the last `keep`."""
        (tmp / "trainer_state.json").write_text(json.dumps({"step": step}))
        fsync_tree(tmp)  # on disk before the rename makes it the checkpoint to resume from
        target = self.checkpoints / f"step-{step:08d}"
        _remove(target)
        os.replace(tmp, target)
        fsync_dir(self.checkpoints)
        for old in self.list_checkpoints()[:-keep]:
            _remove(old)
        return target

    def list_checkpoints(self) -> list[Path]:
        """Complete checkpoints, oldest first."""
        return _steps_in(self.checkpoints)

    def list_snapshots(self) -> list[Path]:
        """Complete weights-only snapshots, oldest first."""
        return _steps_in(self.snapshots)

    def latest_checkpoint(self) -> Path | None:
        """The newest complete checkpoint, if any."""
        found = self.list_checkpoints()
        return found[-1] if found else None

    @staticmethod
    def checkpoint_step(path: Path) -> int:
        """The optimiser step a checkpoint was taken at."""
        return int(json.loads((path / "trainer_state.json").read_text())["step"])

    def write_snapshot(self, step: int, write: Callable[[Path], None]) -> Path:
        """Call `write(tmp_dir)`, then rename it to `snapshots/step-N/` (replacing one a
        killed attempt wrote: a resumed run writes the same weights again)."""
        self.snapshots.mkdir(parents=True, exist_ok=True)
        tmp = self.snapshots / f".tmp-step-{step:08d}"
        _remove(tmp)
        tmp.mkdir()
        write(tmp)
        fsync_tree(tmp)
        target = self.snapshots / f"step-{step:08d}"
        _remove(target)
        os.replace(tmp, target)
        fsync_dir(self.snapshots)
        return target

    # -- final ----------------------------------------------------------------------------

    def write_final(self, write: Callable[[Path], None]) -> Path:
        """Call `write(tmp_dir)`, then move the result to `final/` in one rename."""
        tmp = self.path / f".final.tmp-{os.getpid()}"
        _remove(tmp)
        tmp.mkdir(parents=True)
        write(tmp)
        fsync_tree(tmp)
        old = self.path / f".final.old-{os.getpid()}"
        if self.final.exists():  # a stale final/ moves aside first: a rename cannot replace a dir
            os.replace(self.final, old)
        os.replace(tmp, self.final)
        fsync_dir(self.path)
        _remove(old)
        return self.final


def _steps_in(folder: Path) -> list[Path]:
    """The `step-NNNNNNNN` directories of `folder`, oldest first."""
    if not folder.exists():
        return []
    return sorted((p for p in folder.iterdir() if _CHECKPOINT.match(p.name)), key=lambda p: p.name)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
