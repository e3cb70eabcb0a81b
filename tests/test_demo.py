"""The one-command demo on the quick preset: every artefact, the printed table, resumability."""

import json
import re
import shutil

import pytest

from probekit.cli import main
from probekit.demo import format_table, preset_path, run_demo
from probekit.theory.verdict import OUTCOMES


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    """One quick demo shared by the tests below (two tiny MLP runs)."""
    out = tmp_path_factory.mktemp("demo")
    lines = []
    result = run_demo(out, quick=True, progress=False, log=lines.append)
    return out, result, lines


def _table_rows(text: str) -> list[list[str]]:
    lines = text.splitlines()
    header = lines[0].split()
    assert header[:2] == ["run", "predicted"] and lines[1].startswith("---")
    return [line.split() for line in lines[2:] if re.match(r"tasks-\d+ ", line)]


def test_quick_demo_via_the_cli_writes_a_report_and_prints_the_table(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    rows = _table_rows(printed[printed.index("run  ") :])
    assert [r[0] for r in rows] == ["tasks-1", "tasks-64"]
    assert [r[1] for r in rows] == ["no", "yes"]  # docs/theory.md §3 results 1 and 2/4
    assert all(r[7] in OUTCOMES for r in rows)
    html = (tmp_path / "report" / "report.html").read_text()
    assert html.count('class="verdict-row') == 2
    assert f"report: {(tmp_path / 'report' / 'report.html').resolve()}" in printed
    for n in (1, 64):
        run = tmp_path / "runs" / f"tasks-{n}"
        assert (run / "final" / "probekit_spec.json").is_file()
        assert (run / "probe" / "summary.json").is_file()
        assert (tmp_path / "data" / f"tasks-{n}" / "probekit_data.json").is_file()


def test_the_printed_numbers_are_the_reported_ones_and_a_rerun_skips_every_step(quick_demo):
    out, result, lines = quick_demo
    assert sum("done in" in line for line in lines) == 6  # generate, train, probe x 2
    saved = json.loads((out / "report" / "verdicts.json").read_text())
    assert [v["run"] for v in saved] == ["tasks-1", "tasks-64"]
    for row, verdict in zip(_table_rows(result.table), saved, strict=True):
        assert row[7] == verdict["verdict"] and row[8] == str(verdict["agrees"])
        if "measured" in verdict:
            m = verdict["measured"]
            assert row[2:4] == [f"{m[k]:.3f}" for k in ("task_acc", "acc_z")]
            assert row[4] == f"{m['latents_recovered']}/{m['d']}"

    final = out / "runs" / "tasks-64" / "final" / "probekit_spec.json"
    before = final.stat().st_mtime_ns
    again = []
    rerun = run_demo(out, quick=True, progress=False, log=again.append)
    assert sum("already done, skipped" in line for line in again) == 6
    assert final.stat().st_mtime_ns == before
    assert rerun.table == result.table


def test_an_unfinished_run_is_resumed_not_restarted(quick_demo, tmp_path):
    out, result, _ = quick_demo
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    run = copy / "runs" / "tasks-1"
    shutil.rmtree(run / "final")
    shutil.rmtree(run / "probe")
    lines = []
    run_demo(copy, quick=True, progress=False, log=lines.append)
    assert [line.split()[1] for line in lines if "done in" in line] == ["train", "probe"]
    # Resumed from the step-100 checkpoint: the metrics log has each evaluation once.
    steps = [json.loads(s)["step"] for s in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 150


def test_bad_input_fails_with_a_clear_message(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="--config"):
        preset_path(config=tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="distinct positive"):
        run_demo(tmp_path, quick=True, task_counts=(4, 4))
    assert main(["demo", "--quick", "--out", str(tmp_path), "tasks.nn=3"]) == 2
    err = capsys.readouterr().err
    assert "nn" in err and err.startswith("error: ") and err.count("\n") == 1


def test_format_table_aligns_columns():
    text = format_table(
        [["tasks-1", "no", "0.5", "0.5", "0/4", "0.5", "0.5", "undecided", "None", "–"]]
    )
    lines = text.splitlines()
    assert len(lines) == 3 and len({len(line.rstrip()) for line in lines[:2]}) == 1


def test_a_single_task_that_is_not_fitted_is_undecided_not_agreement(tmp_path):
    # Two steps cannot fit the task: "no recovery" would trivially agree with the
    # prediction, but docs/theory.md §5 says such a control means nothing.
    lines = []
    result = run_demo(
        tmp_path,
        quick=True,
        task_counts=(1,),
        progress=False,
        log=lines.append,
        overrides=["train.steps=2", "train.eval_every=1", "train.warmup_steps=0"],
    )
    (one,) = result.verdicts
    assert one["measured"]["task_acc"] < 0.9
    assert one["verdict"] == "undecided" and one["agrees"] is None
    assert "did not fit" in one["reason"]
