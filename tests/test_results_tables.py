"""probekit.sweeps.aggregate and probekit.sweeps.tables (scripts/results_tables.py): seeds
pooled per grid point, and Markdown tables of every point of hand-made sweep directories."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from probekit.sweeps.aggregate import aggregate_rows, format_metric, grid_name, summarize_values
from probekit.sweeps.results import summary_table
from probekit.sweeps.tables import BEGIN, END, replace_between_markers, results_markdown

REPO = Path(__file__).resolve().parents[1]


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "results_tables", REPO / "scripts" / "results_tables.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _t_interval(values):
    v = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return v.mean() - half, v.mean() + half


def _rows(point: str, axes: dict, seed, metrics: dict, sweep: str = "s") -> list[dict]:
    base = {"sweep": sweep, "point": point, **axes, "seed": seed}
    return [{**base, "metric": m, "value": v} for m, v in metrics.items()]


# --------------------------------------------------------------------------- aggregation


def test_numbers_pool_to_the_mean_and_student_t_interval():
    rows = []
    accs = [0.9, 0.8, 0.95]
    for seed, acc in enumerate(accs):
        rows += _rows(f"tasks.n=4__seed-{seed}", {"tasks.n": 4}, seed, {"probe.acc_z": acc})
    rows += _rows("tasks.n=8__seed-0", {"tasks.n": 8}, 0, {"probe.acc_z": 0.5})
    four, eight = aggregate_rows(rows)
    assert (four.name, four.n_seeds, four.seeds, four.axes) == (
        "tasks.n=4",
        3,
        [0, 1, 2],
        {"tasks.n": 4},
    )
    acc = four.metrics["probe.acc_z"]
    lo, hi = _t_interval(accs)
    assert acc["kind"] == "numeric" and acc["n"] == 3
    assert acc["mean"] == pytest.approx(np.mean(accs))
    assert (acc["lo"], acc["hi"]) == (pytest.approx(lo), pytest.approx(hi))
    assert format_metric(acc, 3) == f"{np.mean(accs):.3f} [{lo:.3f}, {hi:.3f}]"
    one = eight.metrics["probe.acc_z"]
    assert (one["mean"], one["lo"], one["hi"], one["n"]) == (0.5, None, None, 1)
    assert format_metric(one, 1) == "0.500"


def test_categories_are_counted_most_frequent_first():
    s = summarize_values(["partial", "recovered", "recovered"])
    assert s["kind"] == "categorical" and s["counts"] == {"recovered": 2, "partial": 1}
    assert format_metric(s) == "recovered ×2, partial ×1"
    agrees = summarize_values([True, None, False, True])
    assert list(agrees["counts"].items()) == [(True, 2), (None, 1), (False, 1)]
    assert format_metric(agrees) == "yes ×2, n/a ×1, no ×1"
    assert format_metric(summarize_values(["linear"])) == "linear"
    assert format_metric(summarize_values([False])) == "no"
    assert format_metric(summarize_values(["partial"]), 3) == "partial (1 of 3 seeds)"


def test_missing_numbers_are_said_and_integers_stay_integers():
    s = summarize_values([8, None, 6])
    assert s["n"] == 2 and s["mean"] == 7
    lo, hi = _t_interval([8, 6])
    assert format_metric(s, 3) == f"7 [{lo:.3f}, {hi:.3f}] (2 of 3 seeds)"
    assert format_metric(summarize_values([8, 8]), 2) == "8 [8, 8]"
    assert format_metric(summarize_values([None]), 1) == "n/a"  # a null outcome is a category
    assert format_metric(None, 3) == ""


def test_rows_group_on_every_column_but_the_seed():
    rows = []
    for seed in (0, 1):
        rows += _rows(f"a=1__b=x__seed-{seed}", {"a": 1, "b": "x"}, seed, {"m": seed})
        rows += _rows(f"a=1__b=y__seed-{seed}", {"a": 1, "b": "y"}, seed, {"m": 10 + seed})
    rows += _rows("a=1__b=x__seed-0", {"a": 1, "b": "x"}, 0, {"m": 0}, sweep="other")
    groups = aggregate_rows(rows)
    assert [(g.sweep, g.name, g.n_seeds) for g in groups] == [
        ("s", "a=1__b=x", 2),
        ("s", "a=1__b=y", 2),
        ("other", "a=1__b=x", 1),
    ]
    assert groups[1].metrics["m"]["mean"] == 10.5
    # A train.seed axis (no seed column) pools the same way.
    axis = [
        {
            "sweep": "s",
            "point": f"n=2__train.seed={s}",
            "n": 2,
            "train.seed": s,
            "metric": "m",
            "value": v,
        }
        for s, v in ((0, 0.2), (1, 0.4))
    ]
    (g,) = aggregate_rows(axis)
    assert (g.name, g.seeds, g.metrics["m"]["mean"]) == ("n=2", [0, 1], pytest.approx(0.3))
    assert grid_name("x=1__seed-12") == "x=1" and grid_name("train.seed=3") == "base"


def test_summary_table_shows_mean_and_interval_per_cell():
    rows = []
    for seed, acc in enumerate([0.9, 0.8]):
        rows += _rows(
            f"n=4__seed-{seed}",
            {"n": 4},
            seed,
            {"status": "done", "probe.acc_z": acc, "verdict": "recovered"},
        )
    lines = summary_table(rows).splitlines()
    lo, hi = _t_interval([0.9, 0.8])
    assert lines[0].startswith("| point | seeds | status | task_acc |")
    assert lines[2].startswith(f"| n=4 | 2 | done ×2 |  |  | 0.850 [{lo:.3f}, {hi:.3f}] |")
    assert "recovered ×2" in lines[2]
    single = summary_table(_rows("n=4", {"n": 4}, None, {"status": "done", "probe.acc_z": 0.9}))
    assert "seeds" not in single.splitlines()[0] and "| n=4 | done |  |  | 0.900 |" in single


# --------------------------------------------------------------------------- tables


def _point_metrics(acc, verdict, agrees, seen="recovered", seen_agrees=True):
    return {
        "status": "done",
        "task_acc": 1.0,
        "task_acc_heldout": 0.97,
        "probe.acc_z": acc,
        "probe.acc_z_ci": [acc - 0.05, acc + 0.05],
        "probe.latents_recovered": 5 if verdict == "recovered" else 2,
        "probe.acc_alt_basis": 0.51,
        "probe.alt_latents_recovered": 0,
        "probe.controls.random_init": 0.52,
        "probe.mcc_units": 0.6,
        "probe.rung": "linear",
        "theory.expected_recovery": "yes",
        "verdict": verdict,
        "verdict.agrees": agrees,
        "verdict.seen": seen,
        "verdict.seen.agrees": seen_agrees,
    }


def _make_sweep(root: Path) -> Path:
    """A sweep with seeds 0, 1: basis=z agrees, basis=T disagrees on one seed and fails on the
    other, basis=w undecided; basis=v is in sweep.json but missing from results.jsonl."""
    sweep = root / "runs" / "sweeps" / "alt_basis"
    sweep.mkdir(parents=True)
    rows, points = [], []
    plan = {
        "z": [_point_metrics(0.95, "recovered", True), _point_metrics(0.91, "recovered", True)],
        "T": [
            _point_metrics(0.88, "recovered", False),
            {"status": "failed", "error": "RuntimeError: out of memory"},
        ],
        "w": [_point_metrics(0.6, "undecided", None, "undecided", None)] * 2,
    }
    for basis in ("z", "T", "w", "v"):
        for seed in (0, 1):
            name = f"tasks.basis={basis}__seed-{seed}"
            points.append({"name": name, "overrides": {"tasks.basis": basis}, "dir": name,
                           "seed": seed, "grid_point": f"tasks.basis={basis}"})  # fmt: skip
            if basis in plan:
                rows += _rows(name, {"tasks.basis": basis}, seed, plan[basis][seed], "alt_basis")
    (sweep / "tasks.basis=v__seed-0").mkdir()
    (sweep / "tasks.basis=v__seed-0" / "config.yaml").write_text("{}\n")  # started, not finished
    info = {
        "name": "alt_basis",
        "description": "tasks simple in z vs in T(z)",
        "sweep_file": str(REPO / "configs" / "sweeps" / "alt_basis.yaml"),
        "blocks": [[{"keys": ["tasks.basis"], "values": [["z"], ["T"], ["w"], ["v"]]}]],
        "seeds": [0, 1],
        "probe": True,
        "points": points,
    }
    (sweep / "sweep.json").write_text(json.dumps(info))
    (sweep / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (sweep / "curves.png").write_bytes(b"\x89PNG fake")
    return sweep


def _table_lines(text: str) -> dict[str, list[str]]:
    """The table's body rows by their first cell (the tasks.basis axis)."""
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()]
    return {row[0]: row for row in cells if row[0] in {"z", "T", "w", "v"}}


def test_tables_hold_every_point_with_its_status_and_outcome(tmp_path):
    sweep = _make_sweep(tmp_path)
    text = results_markdown([sweep], link_from=tmp_path)
    assert "`probekit sweep --config configs/sweeps/alt_basis.yaml`" in text
    assert "seeds 0, 1 (each run sets train.seed and probe.seed to its seed)" in text
    assert (
        "4 grid points, 8 runs: 5 done, 1 failed, 1 unfinished (stopped during training), 1 not started."
        in text
    )
    header = next(line for line in text.splitlines() if line.startswith("| tasks.basis |"))
    cols = [c.strip() for c in header.strip("|").split("|")]
    for needed in ("status", "seeds", "task acc (train inputs)", "task acc (held-out)", "probe z",
                   "latents recovered", "T(z) control", "random-init control", "MCC units", "rung",
                   "T(z) latents recovered", "theory", "outcome (held-out)", "agrees",
                   "outcome (train inputs)", "agrees (train inputs)"):  # fmt: skip
        assert needed in cols, needed
    rows = _table_lines(text)
    assert set(rows) == {"z", "T", "w", "v"}  # every point, whatever its status
    z, t, w, v = (dict(zip(cols, rows[b], strict=True)) for b in "zTwv")
    lo, hi = _t_interval([0.95, 0.91])
    assert z["probe z"] == f"0.930 [{lo:.3f}, {hi:.3f}]" and z["seeds"] == "2"
    assert z["outcome (held-out)"] == "recovered ×2"
    assert z["agrees"] == "yes ×2" and z["rung"] == "linear ×2" and z["theory"] == "yes ×2"
    assert z["latents recovered"] == "5 [5, 5]"
    # The disagreeing seed and the failed seed are both in the table, said plainly.
    assert t["status"] == "done ×1, failed ×1"
    assert t["agrees"] == "no (1 of 2 seeds)"
    assert t["outcome (held-out)"] == "recovered (1 of 2 seeds)"
    assert t["probe z"] == "0.880 (1 of 2 seeds)"
    assert "- `tasks.basis=T__seed-1`: RuntimeError: out of memory" in text
    assert w["outcome (held-out)"] == "undecided ×2" and w["agrees"] == "n/a ×2"
    assert w["agrees (train inputs)"] == "n/a ×2"
    assert v["status"] == "unfinished (stopped during training) ×1, not started ×1"
    assert v["probe z"] == "" and v["seeds"] == "2"
    assert "![" not in text  # figures are linked only when copied


def test_a_single_seed_shows_the_test_input_interval(tmp_path):
    sweep = tmp_path / "one"
    sweep.mkdir()
    rows = _rows("tasks.n=4", {"tasks.n": 4}, None, _point_metrics(0.9, "partial", None), "one")
    rows = [{k: v for k, v in r.items() if k != "seed"} for r in rows]
    (sweep / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    points = [{"name": "tasks.n=4", "overrides": {"tasks.n": 4}, "dir": "tasks.n=4"}]
    blocks = [[{"keys": ["tasks.n"], "values": [[4]]}]]
    (sweep / "sweep.json").write_text(
        json.dumps({"name": "one", "points": points, "blocks": blocks})
    )
    text = results_markdown([sweep])
    assert "| 4 | done | 1 | 1.000 | 0.970 | 0.900 (test inputs [0.850, 0.950]) | 2 |" in text
    assert "one seed per point" in text and "--out" in text and "<the sweep file of one>" in text


def test_figures_are_copied_and_linked_relative_to_the_document(tmp_path):
    sweep = _make_sweep(tmp_path)
    (sweep / "alt_basis.png").write_bytes(b"\x89PNG main")
    text = results_markdown([sweep], figures_dir=tmp_path / "docs" / "figures", link_from=tmp_path)
    assert (tmp_path / "docs" / "figures" / "alt_basis.png").read_bytes() == b"\x89PNG main"
    assert (tmp_path / "docs" / "figures" / "alt_basis_curves.png").is_file()
    assert "![alt_basis: alt_basis](docs/figures/alt_basis.png)" in text
    assert "![alt_basis: alt_basis_curves](docs/figures/alt_basis_curves.png)" in text


def test_readme_markers_are_replaced_atomically_and_required(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# T\n\nbefore\n{BEGIN}\nold table\n{END}\nafter\n")
    replace_between_markers(readme, "new table\n")
    assert readme.read_text() == f"# T\n\nbefore\n{BEGIN}\nnew table\n{END}\nafter\n"
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]  # no temporary file left
    bare = tmp_path / "BARE.md"
    bare.write_text("no markers\n")
    with pytest.raises(ValueError, match=f"{bare} has no {BEGIN}"):
        replace_between_markers(bare, "x")
    assert bare.read_text() == "no markers\n"
    twice = tmp_path / "TWICE.md"
    twice.write_text(f"{BEGIN}\n{END}\n{BEGIN}\n{END}\n")
    with pytest.raises(ValueError, match="more than one"):
        replace_between_markers(twice, "x")


def test_the_script_writes_the_tables_into_the_readme(tmp_path, capsys):
    script = _load_script()
    sweep = _make_sweep(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{BEGIN}\n{END}\nend\n")
    figures = tmp_path / "docs" / "figures"
    argv = [str(sweep), "--figures", str(figures), "--readme", str(readme)]
    assert script.main(argv) == 0
    text = readme.read_text()
    assert text.startswith(f"intro\n{BEGIN}\n<!-- generated by python scripts/results_tables.py ")
    assert text.endswith(f"{END}\nend\n") and "| T | done ×1, failed ×1 |" in text
    assert "(docs/figures/alt_basis_curves.png)" in text
    assert script.main(argv) == 0 and readme.read_text() == text  # idempotent

    bare = tmp_path / "BARE.md"
    bare.write_text("nothing\n")
    assert script.main([str(sweep), "--readme", str(bare)]) == 1
    assert str(bare) in capsys.readouterr().err
    assert script.main([str(tmp_path / "nope")]) == 1
    assert "no sweep.json" in capsys.readouterr().err
    assert script.main([str(sweep)]) == 0
    assert "| z | done ×2 | 2 |" in capsys.readouterr().out
