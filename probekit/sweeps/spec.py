"""A sweep file and its grid: parsing, validation and the points it expands to.

One concept: what a sweep is, before anything runs. `load_sweep`/`parse_sweep` read a
sweep YAML strictly into a `SweepSpec` (base config, overrides, blocks of `Axis`es:
plain grid keys or zipped keys that change together), `SweepSpec.points()` expands
the cartesian product of each block into named `Point`s (`point_name`,
`to_override`), `parse_only`/`select` pick points for `--only`, and `validate` builds
every point's `ExperimentConfig` so a bad point fails before the first run.
`seeds: [0, 1, 2]` runs every grid point once per seed (`train.seed` and `probe.seed` set
to it; names end in `__seed-<s>`). `probekit.sweeps.runner` runs the points; the file
format is described there.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probekit.config import ExperimentConfig, load_experiment
from synthetic.config import apply_overrides, load_yaml

SWEEP_KEYS = tuple("name description base overrides grid zip grids seeds probe figure".split())
SEED_KEYS = ("train.seed", "probe.seed")  # what `seeds:` sets on every point
BLOCK_KEYS = ("grid", "zip")
FIGURES = ("auto", "appendix_d", "none")
_SAFE = re.compile(r"[^A-Za-z0-9._=,+-]")
_MAX_NAME = 150


class SweepError(ValueError):
    """A sweep file or a point of it is invalid; raised before any run starts."""


@dataclass(frozen=True)
class Axis:
    """One axis of a grid: one key (plain) or several keys that change together (zipped)."""

    keys: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]  # one tuple per position, aligned with `keys`


@dataclass(frozen=True)
class Point:
    """One point of a sweep: its directory name, its grid overrides in axis order, its seed.

    `seed` is set when the sweep has `seeds:`; it is not in `overrides` (those are the grid
    axes) but `args()` sets `train.seed` and `probe.seed` to it."""

    name: str
    overrides: dict[str, Any]
    seed: int | None = None

    @property
    def grid_name(self) -> str:
        """The name of the grid point, shared by its seeds (`name` without `__seed-<s>`)."""
        return point_name(self.overrides)

    def args(self) -> list[str]:
        """The point's overrides (and seeds) as `key=value` strings for `load_experiment`."""
        args = [to_override(k, v) for k, v in self.overrides.items()]
        if self.seed is not None:
            args += [to_override(k, self.seed) for k in SEED_KEYS]
        return args


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file."""

    name: str
    base: Path | None
    overrides: tuple[str, ...]
    blocks: tuple[tuple[Axis, ...], ...]
    probe: bool = True
    figure: str = "auto"
    description: str = ""
    path: Path | None = None
    seeds: tuple[int, ...] = ()

    def points(self) -> list[Point]:
        """Every point of every block, in order, without duplicates; each grid point once per
        seed (its seeds next to each other) when the sweep has `seeds:`."""
        seen: dict[str, Point] = {}
        for axes in self.blocks:
            for combo in itertools.product(*(axis.values for axis in axes)):
                overrides = {}
                for axis, values in zip(axes, combo, strict=True):
                    overrides.update(zip(axis.keys, values, strict=True))
                name = point_name(overrides)
                for seed in self.seeds or (None,):
                    point = Point(seed_point_name(name, seed), overrides, seed)
                    seen.setdefault(point.name, point)
        return list(seen.values())

    def axis_keys(self) -> list[str]:
        """Every key some axis varies, in first-seen order."""
        keys = [k for axes in self.blocks for axis in axes for k in axis.keys]
        return list(dict.fromkeys(keys))

    def config(self, point: Point) -> ExperimentConfig:
        """The full experiment config of one point (strict: unknown keys are errors)."""
        return load_experiment(self.base, [*self.overrides, *point.args()])

    def to_dict(self) -> dict:
        """A JSON-ready description of the sweep (for sweep.json)."""
        return {
            "name": self.name,
            "description": self.description,
            "sweep_file": str(self.path) if self.path else None,
            "base": str(self.base) if self.base else None,
            "overrides": list(self.overrides),
            "blocks": [
                [{"keys": list(a.keys), "values": [list(v) for v in a.values]} for a in axes]
                for axes in self.blocks
            ],
            "seeds": list(self.seeds),
            "probe": self.probe,
            "figure": self.figure,
        }


# --------------------------------------------------------------------------- names


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def point_name(overrides: Mapping[str, Any]) -> str:
    """`key=value__key=value`; a short hash is appended when the name had to be shortened."""
    raw = "__".join(f"{k}={_fmt(v)}" for k, v in overrides.items()) or "base"
    safe = _SAFE.sub("-", raw)
    if safe != raw or len(safe) > _MAX_NAME:
        digest = hashlib.sha1(raw.encode()).hexdigest()[:8]
        safe = f"{safe[:_MAX_NAME]}-{digest}"
    return safe


def seed_point_name(grid_name: str, seed: int | None) -> str:
    """The directory name of one seed of a grid point: `<grid name>__seed-<s>`."""
    return grid_name if seed is None else f"{grid_name}__seed-{seed}"


def to_override(key: str, value: Any) -> str:
    """`key=value` that `apply_overrides` parses back to exactly `value`."""
    text = value if isinstance(value, str) else json.dumps(value)
    item = f"{key}={text}"
    parsed = _parse_value(item, key)
    if parsed != value and isinstance(value, str):
        item = f"{key}={json.dumps(value)}"  # a string YAML would read as something else
        parsed = _parse_value(item, key)
    if parsed != value:
        raise SweepError(f"{key}: the value {value!r} cannot be written as an override.")
    return item


def _parse_value(item: str, key: str) -> Any:
    node = apply_overrides({}, [item])
    for part in key.split("."):
        node = node[part]
    return node


# --------------------------------------------------------------------------- parsing


def _repo_root(start: Path) -> Path | None:
    for parent in (start, *start.parents):
        if (parent / "pyproject.toml").exists():
            return parent
    return None


def _resolve_base(base: str, sweep_file: Path | None) -> Path:
    path = Path(base)
    if path.is_absolute():
        tried = [path]
    else:
        tried = []
        if sweep_file is not None:
            tried.append(sweep_file.parent / path)
            root = _repo_root(sweep_file.resolve().parent)
            if root is not None:
                tried.append(root / path)
        tried.append(Path.cwd() / path)
    for candidate in tried:
        if candidate.is_file():
            return candidate.resolve()
    raise SweepError(
        f"base config {base!r} not found (tried {', '.join(str(t) for t in tried)}); give a "
        "path relative to the sweep file or to the repository."
    )


def _key(key: Any, where: str) -> str:
    if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", key):
        raise SweepError(f"{where}: {key!r} is not a dotted config key such as tasks.k.")
    return key


def _values(key: str, values: Any, where: str) -> list:
    if not isinstance(values, list) or not values:
        raise SweepError(f"{where}.{key} must be a non-empty list of values, got {values!r}.")
    return values


def _parse_block(block: Any, where: str, allow_empty: bool = False) -> tuple[Axis, ...]:
    if not isinstance(block, Mapping):
        raise SweepError(f"{where} must be a mapping with grid: and/or zip:, got {block!r}.")
    unknown = sorted(set(block) - set(BLOCK_KEYS))
    if unknown:
        raise SweepError(f"Unknown key '{where}.{unknown[0]}'. Known keys: {', '.join(BLOCK_KEYS)}")
    axes = []
    grid = block.get("grid") or {}
    if not isinstance(grid, Mapping):
        raise SweepError(f"{where}.grid must map config keys to lists of values, got {grid!r}.")
    for key, values in grid.items():
        key = _key(key, f"{where}.grid")
        axes.append(Axis((key,), tuple((v,) for v in _values(key, values, f"{where}.grid"))))
    zipped = block.get("zip") or []
    if isinstance(zipped, Mapping):
        zipped = [zipped]
    for i, group in enumerate(zipped):
        here = f"{where}.zip[{i}]"
        if not isinstance(group, Mapping) or not group:
            raise SweepError(f"{here} must map config keys to equally long lists, got {group!r}.")
        keys = tuple(_key(k, here) for k in group)
        columns = [_values(k, group[k], here) for k in keys]
        lengths = {k: len(c) for k, c in zip(keys, columns, strict=True)}
        if len(set(lengths.values())) != 1:
            raise SweepError(
                f"{here}: zipped keys change together and need lists of one length, got {lengths}."
            )
        axes.append(Axis(keys, tuple(zip(*columns, strict=True))))
    keys = [k for axis in axes for k in axis.keys]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise SweepError(f"{where}: {repeated[0]!r} appears on more than one axis.")
    if not axes and not allow_empty:
        raise SweepError(f"{where} has no axis; add grid: {{key: [values]}} or zip:.")
    return tuple(axes)


def parse_sweep(data: Mapping[str, Any], path: str | Path | None = None) -> SweepSpec:
    """Build a SweepSpec from a sweep file's dict (strict keys)."""
    path = Path(path) if path is not None else None
    if not isinstance(data, Mapping):
        raise SweepError(f"A sweep file must be a mapping, got {type(data).__name__}.")
    unknown = sorted(set(data) - set(SWEEP_KEYS))
    if unknown:
        raise SweepError(f"Unknown key '{unknown[0]}'. Known keys: {', '.join(SWEEP_KEYS)}")
    base = _resolve_base(data["base"], path) if data.get("base") else None
    raw = data.get("overrides") or {}
    if isinstance(raw, Mapping):
        overrides = tuple(to_override(_key(k, "overrides"), v) for k, v in raw.items())
    elif isinstance(raw, list) and all(isinstance(s, str) and "=" in s for s in raw):
        overrides = tuple(raw)
    else:
        raise SweepError(f"overrides must map keys to values or list key=value, got {raw!r}.")
    seeds = _parse_seeds(data.get("seeds"))
    if "grids" in data:
        if "grid" in data or "zip" in data:
            raise SweepError("Give either grids: (a list of grids) or grid:/zip:, not both.")
        if not isinstance(data["grids"], list) or not data["grids"]:
            raise SweepError(f"grids must be a non-empty list of grids, got {data['grids']!r}.")
        blocks = tuple(_parse_block(b, f"grids[{i}]") for i, b in enumerate(data["grids"]))
    else:
        block = {k: data[k] for k in BLOCK_KEYS if k in data}
        blocks = (_parse_block(block, "sweep", allow_empty=bool(seeds)),)
    _check_seed_keys(seeds, blocks, overrides)
    figure = data.get("figure", "auto")
    if figure not in FIGURES:
        raise SweepError(f"figure={figure!r} is unknown. Available: {', '.join(FIGURES)}")
    probe = data.get("probe", True)
    if not isinstance(probe, bool):
        raise SweepError(f"probe must be true or false, got {probe!r}.")
    name = data.get("name") or (path.stem if path else "sweep")
    return SweepSpec(
        name=str(name),
        base=base,
        overrides=overrides,
        blocks=blocks,
        probe=probe,
        figure=figure,
        description=str(data.get("description", "")),
        path=path.resolve() if path else None,
        seeds=seeds,
    )


def _parse_seeds(raw: Any) -> tuple[int, ...]:
    """`seeds: [0, 1, 2]`: distinct non-negative integers (absent or null: one run per point)."""
    if raw is None:
        return ()
    fix = "give seeds: as a list of distinct non-negative integers, e.g. seeds: [0, 1, 2]"
    if not isinstance(raw, list) or not raw:
        raise SweepError(f"seeds={raw!r}: {fix}.")
    for seed in raw:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise SweepError(f"seeds: {seed!r} is not a non-negative integer; {fix}.")
    repeated = sorted({s for s in raw if raw.count(s) > 1})
    if repeated:
        raise SweepError(f"seeds: {repeated[0]} appears more than once in {raw}; {fix}.")
    return tuple(raw)


def _check_seed_keys(seeds: tuple[int, ...], blocks, overrides: Sequence[str]) -> None:
    """`seeds:` sets train.seed and probe.seed: neither may also be an axis or an override."""
    if not seeds:
        return
    axis_keys = {k for axes in blocks for axis in axes for k in axis.keys}
    override_keys = {item.split("=", 1)[0].strip() for item in overrides}
    for key in SEED_KEYS:
        where = "an axis" if key in axis_keys else "an override" if key in override_keys else ""
        if where:
            raise SweepError(
                f"{key} is {where} and seeds: sets it on every point; drop {key} from the "
                "sweep file (seeds: [0, 1, 2] replaces a train.seed axis) or drop seeds:."
            )


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and parse a sweep YAML file."""
    path = Path(path)
    if not path.is_file():
        raise SweepError(f"Sweep file {path} does not exist; see configs/sweeps/ for presets.")
    return parse_sweep(load_yaml(path), path)


def parse_only(text: str | Sequence[str] | None) -> dict[str, Any]:
    """`k=v,k=v` (or a list of `k=v`) into {key: value} with YAML-parsed values."""
    if not text:
        return {}
    items = text.split(",") if isinstance(text, str) else list(text)
    out = {}
    for item in items:
        if "=" not in item:
            raise SweepError(f"--only {item!r} must look like key=value, e.g. tasks.k=2.")
        key = item.split("=", 1)[0].strip()
        out[key] = _parse_value(item.strip(), key)
    return out


def select(spec: SweepSpec, only: Mapping[str, Any] | None = None) -> list[Point]:
    """The points whose overrides match every `only` key (keys: axes of the sweep, or `seed`)."""
    points = spec.points()
    if not only:
        return points
    axes = spec.axis_keys() + (["seed"] if spec.seeds else [])
    unknown = [k for k in only if k not in axes]
    if unknown:
        raise SweepError(
            f"--only {unknown[0]!r} is not an axis of this sweep. Axes: {', '.join(axes)}"
        )
    chosen = [
        p
        for p in points
        if all((p.seed if k == "seed" else p.overrides.get(k)) == v for k, v in only.items())
    ]
    if not chosen:
        raise SweepError(f"--only {dict(only)} matches no point of this sweep.")
    return chosen


def validate(spec: SweepSpec, points: Iterable[Point]) -> dict[str, ExperimentConfig]:
    """Build every point's config before anything runs; the first bad point raises SweepError."""
    from probekit.models.factory import data_format_for

    configs = {}
    for point in points:
        try:
            cfg = spec.config(point)
            formats = data_format_for(cfg.model.kind)
        except (ValueError, KeyError, TypeError) as err:
            msg = err.args[0] if isinstance(err, KeyError) and err.args else err
            raise SweepError(f"point {point.name}: {msg}") from err
        if cfg.data.format not in formats:
            raise SweepError(
                f"point {point.name}: model.kind={cfg.model.kind!r} trains on data.format in "
                f"{list(formats)}, got {cfg.data.format!r}; zip model.kind with data.format."
            )
        configs[point.name] = cfg
    return configs
