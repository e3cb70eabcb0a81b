"""probekit.sweeps.runner and probekit.sweeps.appendix_d: grids, names, strict validation, resume, results."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
import yaml
from conftest import TINY_EXPERIMENT

from probekit.cli import main as cli_main
from probekit.sweeps.appendix_d import PAPER_FINAL, extract_curves, final_table, write_appendix_d
from probekit.sweeps.runner import (
    SweepError,
    load_sweep,
    parse_only,
    parse_sweep,
    point_name,
    run_sweep,
    select,
    to_override,
    validate,
    wants_figure,
)

REPO = Path(__file__).resolve().parents[1]
TINY = TINY_EXPERIMENT


def _sweep_file(tmp_path: Path, **sweep) -> Path:
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY))
    data = {"name": "tiny", "base": "base.yaml", **sweep}
    path = tmp_path / "tiny_sweep.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class Counter:
    """Wraps a function and counts calls per run directory name."""

    def __init__(self, fn=None):
        self.fn, self.calls = fn, []

    def __call__(self, *args):
        run_dir = args[-1] if len(args) > 1 else args[0]
        self.calls.append(Path(run_dir).name)
        return self.fn(*args) if self.fn else None


# --------------------------------------------------------------------------- grids


def test_grid_is_cartesian_in_order_and_zip_moves_keys_together():
    spec = parse_sweep(
        {
            "grid": {"tasks.k": [2, 3], "tasks.n": [1, 64]},
            "zip": [{"model.kind": ["mlp", "gpt2"], "data.format": ["array", "multitask"]}],
        }
    )
    points = spec.points()
    assert len(points) == 8
    assert points[0].overrides == {
        "tasks.k": 2,
        "tasks.n": 1,
        "model.kind": "mlp",
        "data.format": "array",
    }
    assert points[1].overrides["model.kind"] == "gpt2"
    assert points[1].overrides["data.format"] == "multitask"  # never gpt2 with array
    pairs = {(p.overrides["model.kind"], p.overrides["data.format"]) for p in points}
    assert pairs == {("mlp", "array"), ("gpt2", "multitask")}
    assert [p.overrides["tasks.k"] for p in points] == [2] * 4 + [3] * 4
    assert spec.axis_keys() == ["tasks.k", "tasks.n", "model.kind", "data.format"]


def test_grids_take_the_union_without_duplicates():
    spec = parse_sweep(
        {
            "grids": [
                {"grid": {"tasks.n": [1, 8]}},
                {"grid": {"tasks.n": [8, 64]}},
                {"grid": {"tasks.n": [64], "data.bits_per_token": [2]}},
            ]
        }
    )
    assert [p.name for p in spec.points()] == [
        "tasks.n=1",
        "tasks.n=8",
        "tasks.n=64",
        "tasks.n=64__data.bits_per_token=2",
    ]


def test_point_names_are_stable_and_filesystem_safe():
    assert point_name({"tasks.k": 2, "tasks.n": 64}) == "tasks.k=2__tasks.n=64"
    assert point_name({"tasks.params.epsilon": 0.05}) == "tasks.params.epsilon=0.05"
    assert point_name({"train.recovery_probe": False}) == "train.recovery_probe=false"
    odd = {"world.observation_params": {"a b": "c/d"}}
    name = point_name(odd)
    assert name == point_name(dict(odd))  # same overrides, same name
    assert "/" not in name and " " not in name
    assert name != point_name({"world.observation_params": {"a b": "c-d"}})  # hash tells apart


@pytest.mark.parametrize("value", [2, 0.05, 1e-5, True, None, "yes", "3", "gpt2", [1, 2], {}])
def test_overrides_round_trip_through_the_config_parser(value):
    from synthetic.config import apply_overrides

    item = to_override("a.b", value)
    assert apply_overrides({}, [item])["a"]["b"] == value


def test_sweep_file_errors_name_the_problem(tmp_path):
    with pytest.raises(SweepError, match="Unknown key 'grd'. Known keys"):
        parse_sweep({"grd": {"tasks.k": [2]}})
    with pytest.raises(SweepError, match="one length"):
        parse_sweep({"zip": [{"model.kind": ["mlp", "gpt2"], "data.format": ["array"]}]})
    with pytest.raises(SweepError, match="non-empty list"):
        parse_sweep({"grid": {"tasks.k": 2}})
    with pytest.raises(SweepError, match="more than one axis"):
        parse_sweep({"grid": {"tasks.k": [2]}, "zip": {"tasks.k": [3], "tasks.n": [1]}})
    with pytest.raises(SweepError, match="base config 'nope.yaml' not found"):
        parse_sweep({"base": "nope.yaml", "grid": {"tasks.k": [2]}}, tmp_path / "s.yaml")
    with pytest.raises(SweepError, match="no axis"):
        parse_sweep({"grid": {}})


def test_base_resolves_relative_to_the_sweep_file_then_the_repository(tmp_path):
    path = _sweep_file(tmp_path, grid={"tasks.n": [2]})
    assert load_sweep(path).base == (tmp_path / "base.yaml").resolve()
    spec = parse_sweep(
        {"base": "configs/default.yaml", "grid": {"tasks.n": [2]}},
        REPO / "configs" / "sweeps" / "x.yaml",
    )
    assert spec.base == REPO / "configs" / "default.yaml"


def test_unknown_keys_fail_before_any_run(tmp_path):
    path = _sweep_file(tmp_path, grid={"tasks.n": [2, 4], "tasks.kk": [2]})
    train_fn = Counter()
    out = tmp_path / "out"
    with pytest.raises(SweepError, match=r"Unknown key 'tasks.kk'. Known keys: family, n, k"):
        run_sweep(load_sweep(path), out, train_fn=train_fn, progress=False)
    assert train_fn.calls == [] and not out.exists()

    bad_pair = _sweep_file(tmp_path, grid={"model.kind": ["gpt2"]})
    with pytest.raises(SweepError, match="zip model.kind with data.format"):
        run_sweep(load_sweep(bad_pair), out, train_fn=train_fn, progress=False)
    assert train_fn.calls == [] and not out.exists()


def test_only_selects_points_on_the_axes(tmp_path):
    spec = load_sweep(_sweep_file(tmp_path, grid={"tasks.k": [1, 2], "tasks.n": [2, 4]}))
    assert parse_only("tasks.k=2,tasks.n=4") == {"tasks.k": 2, "tasks.n": 4}
    assert [p.name for p in select(spec, parse_only("tasks.k=2"))] == [
        "tasks.k=2__tasks.n=2",
        "tasks.k=2__tasks.n=4",
    ]
    with pytest.raises(SweepError, match="not an axis of this sweep. Axes: tasks.k, tasks.n"):
        select(spec, {"train.lr": 0.1})
    with pytest.raises(SweepError, match="matches no point"):
        select(spec, {"tasks.k": 3})


def test_every_preset_validates():
    presets = sorted((REPO / "configs" / "sweeps").glob("*.yaml"))
    assert {p.stem for p in presets} >= {
        "appendix_d",
        "no_free_lunch",
        "mild_bias",
        "architecture",
        "ssl",
    }
    for path in presets:
        spec = load_sweep(path)
        configs = validate(spec, spec.points())
        assert len(configs) == len(spec.points()) > 1
    appendix = load_sweep(REPO / "configs" / "sweeps" / "appendix_d.yaml")
    assert len({p.grid_name for p in appendix.points()}) == 12  # × seeds: [0, 1, 2]
    assert len(appendix.points()) == 36 and wants_figure(appendix, appendix.points())
    ks = {(c.tasks.k, c.tasks.n) for c in validate(appendix, appendix.points()).values()}
    assert ks == {(k, n) for k in (2, 3, 4) for n in (1, 4, 8, 64)}


# --------------------------------------------------------------------------- running


def test_sweep_runs_resumes_and_writes_one_row_per_point_and_metric(tmp_path):
    from probekit.sweeps.runner import probe_run
    from probekit.training.loop import train

    spec = load_sweep(_sweep_file(tmp_path, grid={"tasks.n": [2, 4]}))
    out = tmp_path / "out"
    train_fn = Counter(lambda cfg, run_dir: train(cfg, run_dir, progress=False))
    probe_fn = Counter(probe_run)
    first = run_sweep(spec, out, train_fn=train_fn, probe_fn=probe_fn, progress=False)
    names = ["tasks.n=2", "tasks.n=4"]
    assert train_fn.calls == names and probe_fn.calls == names and not first.failures
    for name in names:
        assert (out / name / "final").is_dir() and (out / name / "probe" / "summary.json").exists()

    info = json.loads((out / "sweep.json").read_text())
    assert [p["name"] for p in info["points"]] == names
    assert info["blocks"] == [[{"keys": ["tasks.n"], "values": [[2], [4]]}]]

    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {tuple(r) for r in rows} == {("sweep", "point", "tasks.n", "metric", "value")}
    by_point = {name: [r for r in rows if r["point"] == name] for name in names}
    for name, n in zip(names, (2, 4), strict=True):
        metrics = [r["metric"] for r in by_point[name]]
        assert len(metrics) == len(set(metrics))  # one row per point × metric
        assert {r["tasks.n"] for r in by_point[name]} == {n}  # the override column
        for needed in ("status", "task_acc", "identification_error", "probe.acc_z"):
            assert needed in metrics
        assert {"theory.expected_recovery", "verdict"} <= set(metrics)
        status = next(r for r in by_point[name] if r["metric"] == "status")
        assert status["value"] == "done"
    last = json.loads((out / "tasks.n=4" / "metrics.jsonl").read_text().splitlines()[-1])
    task_acc = next(r for r in by_point["tasks.n=4"] if r["metric"] == "task_acc")
    assert task_acc["value"] == last["eval_acc"] and last["step"] == 12

    # A second run has nothing to do.
    run_sweep(spec, out, train_fn=train_fn, probe_fn=probe_fn, progress=False)
    assert len(train_fn.calls) == 2 and len(probe_fn.calls) == 2

    # A point whose final/ is lost (a kill before the end) re-runs from its checkpoint alone.
    kept = (out / "tasks.n=2" / "final" / "model.safetensors").stat().st_mtime_ns
    import shutil

    shutil.rmtree(out / "tasks.n=4" / "final")
    third = run_sweep(spec, out, train_fn=train_fn, probe_fn=probe_fn, progress=False)
    assert train_fn.calls[2:] == ["tasks.n=4"] and probe_fn.calls[2:] == ["tasks.n=4"]
    assert third.statuses == {"tasks.n=2": "done", "tasks.n=4": "partial"}
    assert (out / "tasks.n=2" / "final" / "model.safetensors").stat().st_mtime_ns == kept
    lines = (out / "tasks.n=4" / "metrics.jsonl").read_text().splitlines()
    steps = [json.loads(line)["step"] for line in lines]
    assert steps == [6, 12]  # resumed at step 6: the evaluation after it re-ran once


def test_a_failing_point_is_recorded_and_the_others_run(tmp_path):
    spec = load_sweep(_sweep_file(tmp_path, grid={"tasks.n": [2, 4]}, probe=False))
    out = tmp_path / "out"

    def train_fn(cfg, run_dir):
        if cfg.tasks.n == 2:
            raise RuntimeError("out of memory")
        Path(run_dir, "final").mkdir(parents=True)

    result = run_sweep(spec, out, train_fn=train_fn, progress=False, figure=False)
    assert set(result.failures) == {"tasks.n=2"} and result.ran == ["tasks.n=4"]
    assert "out of memory" in (out / "tasks.n=2" / "error.txt").read_text()
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    status = {r["point"]: r["value"] for r in rows if r["metric"] == "status"}
    assert status == {"tasks.n=2": "failed", "tasks.n=4": "done"}
    errors = [r for r in rows if r["metric"] == "error"]
    assert [(r["point"], r["value"]) for r in errors] == [
        ("tasks.n=2", "RuntimeError: out of memory")
    ]


def test_cli_dry_run_print_commands_and_bad_only(tmp_path, capsys):
    path = _sweep_file(tmp_path, grid={"tasks.k": [1, 2], "tasks.n": [2]})
    out = tmp_path / "out"
    assert cli_main(["sweep", "--config", str(path), "--out", str(out), "--dry-run"]) == 0
    listing = capsys.readouterr().out
    assert "2 points" in listing and "[new    ] tasks.k=2__tasks.n=2" in listing
    assert not out.exists()
    args = ["sweep", "--config", str(path), "--out", str(out), "--print-commands"]
    assert cli_main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("accelerate launch -m probekit.train --config ")
    assert f"--run-dir {out}/tasks.k=2__tasks.n=2" in lines[1]
    assert lines[1].endswith(
        f"tasks.k=2 tasks.n=2 && probekit probe {out}/tasks.k=2__tasks.n=2 "
        f"--out {out}/tasks.k=2__tasks.n=2/probe"
    )
    assert cli_main(["sweep", "--config", str(path), "--only", "train.lr=1", "--dry-run"]) == 2
    assert "not an axis" in capsys.readouterr().err


# --------------------------------------------------------------------------- Appendix D


def _fake_run(root: Path, k: int, n: int, seed: int, values: list[float]) -> Path:
    run = root / f"k{k}_n{n}_s{seed}"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"tasks": {"k": k, "n": n}}))
    lines = [
        json.dumps({"step": 100 * (i + 1), "identification_error": v, "eval_acc": 1.0})
        for i, v in enumerate(values)
    ]
    (run / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 4')  # a torn last line
    return run


def test_appendix_d_curves_table_and_figure_from_known_metrics(tmp_path):
    runs = [
        _fake_run(tmp_path, 2, 1, 0, [1.0, 0.9, 0.8]),
        _fake_run(tmp_path, 2, 64, 0, [1.0, 0.5, 0.2]),
        _fake_run(tmp_path, 2, 64, 1, [0.8, 0.3, 0.0]),  # a second seed: averaged
        _fake_run(tmp_path, 3, 8, 0, [1.2, 0.6]),
    ]
    curves = extract_curves(runs)
    assert sorted(curves) == [2, 3] and sorted(curves[2]) == [1, 64]
    np.testing.assert_array_equal(curves[2][1].steps, [100, 200, 300])
    np.testing.assert_allclose(curves[2][1].values, [1.0, 0.9, 0.8])
    np.testing.assert_allclose(curves[2][64].values, [0.9, 0.4, 0.1])
    assert curves[2][64].n_runs == 2 and curves[3][8].final == pytest.approx(0.6)

    table = {(r["k"], r["n"]): r for r in final_table(curves)}
    assert table[(2, 64)]["paper_final"] == PAPER_FINAL[2][64] == 0.07
    assert table[(2, 64)]["ours_final"] == pytest.approx(0.1)
    assert table[(3, 8)]["final_step"] == 200

    report = write_appendix_d(tmp_path, runs)
    image = mpimg.imread(report["png"])
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400
    assert report["trends"][2]["ours_falls_with_n"] and report["trends"][2]["paper_falls_with_n"]
    saved = json.loads((tmp_path / "appendix_d.json").read_text())
    assert saved["table"][0]["ours_final"] == pytest.approx(0.8)
    assert "unpublished" in saved["note"]  # the note says the scales differ
    assert "Compare trends" in saved["note"]


def test_a_sweep_directory_refuses_a_different_base_config(tmp_path):
    out = tmp_path / "out"

    def train_fn(cfg, run_dir):
        Path(run_dir, "final").mkdir(parents=True)

    first = _sweep_file(tmp_path, grid={"tasks.n": [2]}, probe=False)
    run_sweep(load_sweep(first), out, train_fn=train_fn, progress=False, figure=False)
    changed = _sweep_file(
        tmp_path, grid={"tasks.n": [2, 3]}, probe=False, overrides={"train.lr": 0.01}
    )
    with pytest.raises(SweepError, match="different base config"):
        run_sweep(load_sweep(changed), out, train_fn=train_fn, progress=False, figure=False)
    # a grid that only grows is the same sweep: the old point is kept, the new one runs
    grown = _sweep_file(tmp_path, grid={"tasks.n": [2, 3]}, probe=False)
    result = run_sweep(load_sweep(grown), out, train_fn=train_fn, progress=False, figure=False)
    assert result.ran == ["tasks.n=3"] and result.statuses["tasks.n=2"] == "done"
