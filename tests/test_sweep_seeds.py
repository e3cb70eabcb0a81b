"""`seeds:` in sweep files: points per seed, train.seed / probe.seed, validation, --only,
launch commands, results rows with a seed column, and a tiny real sweep pooled over seeds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats
from test_sweep import _sweep_file  # the tiny config and sweep file of test_sweep

from probekit.cli import main as cli_main
from probekit.sweeps.aggregate import aggregate_rows
from probekit.sweeps.appendix_d import extract_curves
from probekit.sweeps.results import summary_table
from probekit.sweeps.runner import (
    SweepError,
    load_sweep,
    parse_only,
    parse_sweep,
    run_sweep,
    select,
    validate,
)

REPO = Path(__file__).resolve().parents[1]


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


# --------------------------------------------------------------------------- points


def test_seeds_expand_every_grid_point_and_set_train_and_probe_seed(tmp_path):
    spec = load_sweep(_sweep_file(tmp_path, grid={"tasks.n": [2, 4]}, seeds=[0, 3]))
    points = spec.points()
    assert [p.name for p in points] == [
        "tasks.n=2__seed-0",
        "tasks.n=2__seed-3",
        "tasks.n=4__seed-0",
        "tasks.n=4__seed-3",
    ]
    assert [p.seed for p in points] == [0, 3, 0, 3]
    assert points[1].overrides == {"tasks.n": 2}  # the grid's own overrides, not the seed
    assert points[1].grid_name == "tasks.n=2"
    assert points[1].args() == ["tasks.n=2", "train.seed=3", "probe.seed=3"]
    configs = validate(spec, points)
    for p in points:
        cfg = configs[p.name]
        assert (cfg.train.seed, cfg.probe.seed, cfg.tasks.n) == (
            p.seed,
            p.seed,
            p.overrides["tasks.n"],
        )
        assert cfg.world.seed == 0 and cfg.tasks.seed == 0  # the world and tasks stay the same
    assert spec.to_dict()["seeds"] == [0, 3]
    assert [p.name for p in spec.points()] == [p.name for p in points]  # deterministic


def test_without_seeds_names_and_a_train_seed_axis_are_unchanged(tmp_path):
    spec = parse_sweep({"grid": {"tasks.n": [2], "train.seed": [0, 1]}})
    assert [p.name for p in spec.points()] == ["tasks.n=2__train.seed=0", "tasks.n=2__train.seed=1"]
    assert all(p.seed is None for p in spec.points())
    assert spec.points()[1].args() == ["tasks.n=2", "train.seed=1"]


def test_seeds_alone_make_one_point_per_seed():
    spec = parse_sweep({"seeds": [1, 2]})
    assert [(p.name, p.seed, p.overrides) for p in spec.points()] == [
        ("base__seed-1", 1, {}),
        ("base__seed-2", 2, {}),
    ]


@pytest.mark.parametrize(
    ("seeds", "message"),
    [
        ([0, 1, 0], "0 appears more than once"),
        ([0, -1], "-1 is not a non-negative integer"),
        ([0, 1.5], "1.5 is not a non-negative integer"),
        (["1"], "'1' is not a non-negative integer"),
        ([True], "True is not a non-negative integer"),
        ([], "seeds=\\[\\]"),
        (3, "seeds=3"),
    ],
)
def test_seeds_must_be_distinct_non_negative_integers(seeds, message):
    with pytest.raises(SweepError, match=message) as info:
        parse_sweep({"grid": {"tasks.n": [2]}, "seeds": seeds})
    assert "distinct non-negative integers, e.g. seeds: [0, 1, 2]" in str(info.value)


def test_seeds_refuse_a_seed_axis_or_override():
    with pytest.raises(SweepError, match="train.seed is an axis and seeds: sets it"):
        parse_sweep({"grid": {"tasks.n": [2], "train.seed": [0, 1]}, "seeds": [0, 1]})
    with pytest.raises(SweepError, match="probe.seed is an override"):
        parse_sweep({"grid": {"tasks.n": [2]}, "overrides": {"probe.seed": 3}, "seeds": [0]})
    with pytest.raises(SweepError, match="train.seed is an axis"):
        parse_sweep(
            {"grids": [{"grid": {"tasks.n": [2]}}, {"grid": {"train.seed": [4]}}], "seeds": [0]}
        )
    with pytest.raises(SweepError, match="no axis"):  # no grid is still an error without seeds
        parse_sweep({"grid": {}})


def test_only_selects_grid_points_with_all_their_seeds_or_one_seed(tmp_path):
    spec = load_sweep(_sweep_file(tmp_path, grid={"tasks.k": [1, 2], "tasks.n": [2]}, seeds=[0, 1]))
    assert [p.name for p in select(spec, parse_only("tasks.k=2"))] == [
        "tasks.k=2__tasks.n=2__seed-0",
        "tasks.k=2__tasks.n=2__seed-1",
    ]
    assert [p.name for p in select(spec, parse_only("seed=1,tasks.k=1"))] == [
        "tasks.k=1__tasks.n=2__seed-1"
    ]
    with pytest.raises(SweepError, match="Axes: tasks.k, tasks.n, seed"):
        select(spec, {"train.lr": 0.1})
    with pytest.raises(SweepError, match="matches no point"):
        select(spec, {"seed": 5})


def test_print_commands_has_one_line_per_point_and_seed(tmp_path, capsys):
    path = _sweep_file(tmp_path, grid={"tasks.n": [2, 4]}, seeds=[0, 1, 2])
    out = tmp_path / "out"
    assert cli_main(["sweep", "--config", str(path), "--out", str(out), "--print-commands"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 6
    for line, (n, seed) in zip(lines, [(n, s) for n in (2, 4) for s in (0, 1, 2)], strict=True):
        assert f"--run-dir {out}/tasks.n={n}__seed-{seed} " in line
        assert f" tasks.n={n} train.seed={seed} probe.seed={seed} && probekit probe" in line
    assert cli_main(["sweep", "--config", str(path), "--only", "seed=2", "--dry-run"]) == 0
    listing = capsys.readouterr().out
    assert "2 points" in listing and "tasks.n=4__seed-2" in listing and "seed-1" not in listing


def test_presets_with_seeds():
    for name in ("appendix_d", "mild_bias", "no_free_lunch", "ssl", "alt_basis"):
        spec = load_sweep(REPO / "configs" / "sweeps" / f"{name}.yaml")
        assert spec.seeds == (0, 1, 2), name
        assert not {"train.seed", "probe.seed"} & set(spec.axis_keys()), name
        assert "seeds: [0, 1, 2] by default" in spec.path.read_text(), name
    alt = load_sweep(REPO / "configs" / "sweeps" / "alt_basis.yaml")
    assert len(alt.points()) == 6 and len({p.grid_name for p in alt.points()}) == 2
    configs = validate(alt, alt.points())
    assert sorted(c.train.seed for c in configs.values()) == [0, 0, 1, 1, 2, 2]


# --------------------------------------------------------------------------- running


def test_results_carry_a_seed_column_and_a_failed_seed_stays_in_the_table(tmp_path):
    spec = load_sweep(_sweep_file(tmp_path, grid={"tasks.n": [2]}, seeds=[0, 1], probe=False))
    out = tmp_path / "out"

    def train_fn(cfg, run_dir):
        if cfg.train.seed == 1:
            raise RuntimeError("diverged")
        Path(run_dir, "final").mkdir(parents=True)

    result = run_sweep(spec, out, train_fn=train_fn, progress=False, figure=False)
    assert set(result.failures) == {"tasks.n=2__seed-1"}
    rows = _rows(out)
    assert {tuple(r) for r in rows} == {("sweep", "point", "tasks.n", "seed", "metric", "value")}
    status = {(r["point"], r["seed"]): r["value"] for r in rows if r["metric"] == "status"}
    assert status == {("tasks.n=2__seed-0", 0): "done", ("tasks.n=2__seed-1", 1): "failed"}
    info = json.loads((out / "sweep.json").read_text())
    assert info["seeds"] == [0, 1]
    assert [(p["seed"], p["grid_point"]) for p in info["points"]] == [
        (0, "tasks.n=2"),
        (1, "tasks.n=2"),
    ]
    (point,) = aggregate_rows(rows)
    assert point.name == "tasks.n=2" and point.n_seeds == 2 and point.seeds == [0, 1]
    assert point.metrics["status"]["counts"] == {"done": 1, "failed": 1}

    # --only seed=0 rewrites results.jsonl with every point: the failed seed keeps its error.
    run_sweep(spec, out, only={"seed": 0}, train_fn=train_fn, progress=False, figure=False)
    status = {r["point"]: r["value"] for r in _rows(out) if r["metric"] == "status"}
    assert status == {"tasks.n=2__seed-0": "done", "tasks.n=2__seed-1": "failed"}
    assert "diverged" in next(r["value"] for r in _rows(out) if r["metric"] == "error")


def test_tiny_real_sweep_runs_both_seeds_and_pools_them(tmp_path):
    from probekit.training.loop import train

    spec = load_sweep(_sweep_file(tmp_path, grid={"tasks.n": [4]}, seeds=[0, 1]))
    out = tmp_path / "out"
    result = run_sweep(
        spec, out, train_fn=lambda cfg, d: train(cfg, d, progress=False), progress=False
    )
    names = ["tasks.n=4__seed-0", "tasks.n=4__seed-1"]
    assert result.ran == names and not result.failures
    for seed, name in enumerate(names):
        saved = yaml.safe_load((out / name / "config.yaml").read_text())
        assert saved["train"]["seed"] == seed and saved["probe"]["seed"] == seed
        assert json.loads((out / name / "probe" / "summary.json").read_text())["seed"] == seed
    rows = _rows(out)
    assert {r["seed"] for r in rows} == {0, 1}
    (point,) = aggregate_rows(rows)
    assert point.name == "tasks.n=4" and point.n_seeds == 2
    values = [r["value"] for r in rows if r["metric"] == "probe.acc_z"]
    acc = point.metrics["probe.acc_z"]
    assert acc["n"] == 2 and acc["mean"] == pytest.approx(np.mean(values))
    half = stats.t.ppf(0.975, 1) * np.std(values, ddof=1) / np.sqrt(2)
    assert acc["hi"] - acc["mean"] == pytest.approx(half)
    assert sum(point.metrics["verdict"]["counts"].values()) == 2
    table = summary_table(rows).splitlines()
    assert table[0].startswith("| point | seeds | status |") and len(table) == 3
    assert table[2].startswith("| tasks.n=4 | 2 | done ×2 |")


# --------------------------------------------------------------------------- the figure


def _fake_run(root: Path, seed: int, values: list[float]) -> Path:
    run = root / f"k2_n64_s{seed}"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"tasks": {"k": 2, "n": 64}}))
    lines = [
        json.dumps({"step": 100 * (i + 1), "identification_error": v}) for i, v in enumerate(values)
    ]
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return run


def test_appendix_d_curves_carry_the_interval_over_seeds(tmp_path):
    from probekit.sweeps.appendix_d import final_table, format_table, write_appendix_d

    runs = [
        _fake_run(tmp_path, 0, [1.0, 0.5]),
        _fake_run(tmp_path, 1, [0.8, 0.3]),
        _fake_run(tmp_path, 2, [0.9, 0.1]),
    ]
    curve = extract_curves(runs)[2][64]
    finals = [0.5, 0.3, 0.1]
    half = stats.t.ppf(0.975, 2) * np.std(finals, ddof=1) / np.sqrt(3)
    np.testing.assert_allclose(curve.values, [0.9, 0.3])
    assert curve.lo[-1] == pytest.approx(0.3 - half) and curve.hi[-1] == pytest.approx(0.3 + half)
    row = final_table({2: {64: curve}})[0]
    assert row["n_runs"] == 3 and row["ours_final_hi"] == pytest.approx(0.3 + half)
    assert f"0.300 [{0.3 - half:.3f}, {0.3 + half:.3f}]" in format_table([row])
    assert write_appendix_d(tmp_path, runs)["png"].is_file()  # drawn with the band
    assert extract_curves(runs[:1])[2][64].lo is None  # one seed: no band
