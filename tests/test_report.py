"""Reports: verdicts from known measurements, self-contained HTML that renders, Markdown, sweeps."""

import base64
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from probekit.cli import main
from probekit.config import load_experiment
from probekit.report.document import build_document, references, summarize_run, write_report
from probekit.report.render import Figure, Table

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
QUICK, DEFAULT = CONFIGS / "demo" / "quick.yaml", CONFIGS / "default.yaml"
CHROMIUM = shutil.which("chromium")
VOID = {"meta", "img", "br", "hr", "link", "input"}


def _run(root, name, *, n, task_acc, z, rec, rand, probe=True, png=False, overrides=()):
    """A run directory with known metrics and probe results (no training needed)."""
    run = Path(root) / name
    run.mkdir(parents=True)
    cfg = load_experiment(QUICK, [f"tasks.n={n}", *overrides])
    (run / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    rows = [
        {"step": s, "eval_loss": 0.7 - 0.1 * i, "eval_acc": task_acc - 0.1 * (3 - i),
         "lr": 1e-3, "probe_acc_z": z - 0.05 * (3 - i), "probe_acc_alt_basis": rec,
         "identification_error": 1.5 - 0.3 * i, "mcc": 0.25 + 0.15 * i}
        for i, s in enumerate((50, 100, 150, 200))
    ]  # fmt: skip
    rows[-1]["eval_acc"] = task_acc
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if not probe:
        return run
    (run / "probe").mkdir()
    d = cfg.world.d
    # Latents above every control: all of them when z is far above the controls, else none.
    best = {"site": "layer.2", "layer": 2, "acc_z": z, "acc_alt_basis": rec,
            "acc_z_per_latent": [z] * d, "acc_z_ci": [z - 0.04, min(1.0, z + 0.03)],
            "latents_recovered": d if z > max(rec, rand) + 0.2 else 0, "n_test": 200,
            "task_acc": task_acc, "rung": "linear",
            "controls": {"random_init": rand, "raw_input": 0.5, "alt_basis": rec},
            "identification_error_units": 0.3, "mcc_units": 0.85}  # fmt: skip
    summary = {
        "primary_family": "z",
        "scope": "unseen",
        "models": {},
        "best_layer": {"linear": best},
    }
    (run / "probe" / "summary.json").write_text(json.dumps(summary))
    results = []
    for model, fam, value in (("trained", "z", z), ("random_init", "z", rand),
                              ("trained", "alt_basis", rec), ("input", "z", 0.5)):  # fmt: skip
        layers = [0] if model == "input" else [0, 1, 2]
        for layer in layers:
            for t in range(cfg.world.d):
                results.append({"model": model, "site": f"layer.{layer}", "layer": layer,
                                "position": "none", "target_family": fam, "target": f"z{t}",
                                "probe": "linear", "metric": "accuracy",
                                "value": 0.5 + (value - 0.5) * layer / 2})  # fmt: skip
    (run / "probe" / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in results))
    if png:
        buf = io.BytesIO()
        Image.fromarray(np.full((60, 80, 3), 200, np.uint8)).save(buf, format="PNG")
        (run / "probe" / "accuracy_linear.png").write_bytes(buf.getvalue())
    return run


class _Checker(HTMLParser):
    """Balanced tags, every img source, the verdict rows and their cells."""

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.images, self.rows = [], [], [], []
        self.in_verdict_table, self.row, self.cell = False, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src", ""))
        if tag == "table" and a.get("id") == "verdict-table":
            self.in_verdict_table = True
        if tag == "tr" and self.in_verdict_table and "verdict-row" in a.get("class", ""):
            self.row = {"verdict": a.get("data-verdict"), "cells": []}
        if tag == "td" and self.row is not None:
            self.cell = ""
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unbalanced </{tag}>")
        if tag == "td" and self.row is not None:
            self.row["cells"].append(self.cell)
            self.cell = None
        if tag == "tr" and self.row is not None:
            self.rows.append(self.row)
            self.row = None
        if tag == "table":
            self.in_verdict_table = False

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def check_html(text: str) -> _Checker:
    """Parse, assert balanced tags and no external asset; return the checker."""
    checker = _Checker()
    checker.feed(text)
    checker.close()
    assert not checker.errors and not checker.stack, (checker.errors, checker.stack)
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", text)  # nothing external
    return checker


def decode_png(src: str) -> Image.Image:
    """A data URI -> a verified PIL image."""
    assert src.startswith("data:image/png;base64,")
    data = base64.b64decode(src.split(",", 1)[1], validate=True)
    Image.open(io.BytesIO(data)).verify()
    return Image.open(io.BytesIO(data))


def test_verdicts_follow_the_measurements_and_every_figure_is_a_png(tmp_path):
    _run(tmp_path / "runs", "tasks-64", n=64, task_acc=0.97, z=0.95, rec=0.52, rand=0.50)
    _run(tmp_path / "runs", "tasks-1", n=1, task_acc=0.60, z=0.52, rec=0.50, rand=0.49)
    _run(tmp_path / "runs", "tasks-1-fit", n=1, task_acc=0.99, z=0.53, rec=0.50, rand=0.49)
    paths = write_report(tmp_path / "runs", tmp_path / "out")
    checker = check_html(paths.html.read_text())
    got = {r["cells"][0]: r for r in checker.rows}
    assert list(got) == ["tasks-1", "tasks-1-fit", "tasks-64"]  # natural order
    assert got["tasks-64"]["verdict"] == "agrees"  # predicted yes, every latent recovered
    assert got["tasks-1"]["verdict"] == "inconclusive"  # the one task was not fitted
    assert "did not fit" in got["tasks-1"]["cells"][-1]
    assert got["tasks-1-fit"]["verdict"] == "agrees"  # predicted no, fitted, no latent
    assert got["tasks-64"]["cells"][5] == "0.970"
    assert got["tasks-64"]["cells"][6].startswith("0.950 [0.91, 0.98]")
    assert got["tasks-64"]["cells"][7:10] == ["6 of 6", "0.520", "0.500"]
    assert got["tasks-64"]["cells"][14:16] == ["recovered", "True"]
    assert got["tasks-64"]["cells"][3].startswith("yes")
    assert got["tasks-1"]["cells"][3].startswith("no")
    # Per run: a layer plot drawn from results.jsonl and the training curves.
    assert len(checker.images) == 6
    for src in checker.images:
        image = decode_png(src)
        assert image.width > 200 and image.height > 150
        assert np.asarray(image.convert("L")).std() > 5  # not a blank canvas
    # Markdown: same verdicts, each figure a PNG file next to report.md.
    md = paths.markdown.read_text()
    assert md.count("| tasks-") == 3
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(linked) == 6 and all((paths.markdown.parent / f).is_file() for f in linked)
    assert all(Image.open(paths.markdown.parent / f).format == "PNG" for f in linked)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_probe_pngs_are_embedded_as_written_and_a_run_without_probes_is_undecided(tmp_path):
    run = _run(tmp_path, "r", n=64, task_acc=0.97, z=0.95, rec=0.5, rand=0.5, png=True)
    paths = write_report(run, tmp_path / "out")
    checker = check_html(paths.html.read_text())
    original = (run / "probe" / "accuracy_linear.png").read_bytes()
    assert base64.b64encode(original).decode() in checker.images[0]
    assert len(checker.images) == 2  # the probe PNG (not redrawn) and the training curves

    bare = _run(tmp_path, "bare", n=64, task_acc=0.97, z=0.95, rec=0.5, rand=0.5, probe=False)
    summary = summarize_run(bare)
    assert summary.verdict["verdict"] == "undecided" and summary.verdict["agrees"] is None
    assert "probekit probe" in summary.verdict["reason"]


def test_text_is_escaped_in_html_and_markdown(tmp_path):
    _run(tmp_path / "runs", 'a<b>&"c|d', n=64, task_acc=0.97, z=0.95, rec=0.5, rand=0.5)
    paths = write_report(tmp_path / "runs", tmp_path / "out")
    text = paths.html.read_text()
    assert "<b>" not in text and "&lt;b&gt;&amp;&quot;c|d" in text
    check_html(text)
    assert r'a\<b\>&"c\|d' in paths.markdown.read_text()


def test_references_match_only_the_settings_theory_reports():
    cfg = load_experiment(DEFAULT, ["tasks.n=64"]).to_dict()  # the §5 MLP on the default world
    refs = {key: value for key, value, _ in references(cfg)}
    assert refs == {"identification_error": 0.07, "probe_acc_z": 0.90}
    gpt2 = load_experiment(None, ["tasks.n=64"]).to_dict()  # built-in default: GPT-2 4 x 128
    assert {k: v for k, v, _ in references(gpt2)}["probe_acc_z"] == 0.91
    wider = load_experiment(None, ["tasks.n=64", "model.hidden=256"]).to_dict()
    assert [k for k, *_ in references(wider)] == ["identification_error"]
    k3 = references(load_experiment(DEFAULT, ["tasks.n=8", "tasks.k=3"]).to_dict())
    assert [(key, value) for key, value, _ in k3] == [("identification_error", 0.10)]
    assert references(load_experiment(QUICK, ["tasks.n=5"]).to_dict()) == []


def test_sweep_directory_gets_its_table_figure_and_the_paper_column(tmp_path):
    sweep = tmp_path / "sweep"
    for n in (1, 64):
        _run(
            sweep / "points", f"tasks.n={n}", n=n, task_acc=0.97, z=0.5 + n / 200, rec=0.5, rand=0.5
        )
    (sweep / "sweep.json").write_text(json.dumps({"grid": {"tasks.n": [1, 64]}}))
    rows = [{"point": f"tasks.n={n}", "tasks.n": n, "source": src, "detail": None,
             "metric": m, "value": v}
            for n in (1, 64)
            for src, m, v in (("probe", "probe_acc_z", n / 100), ("train", "mcc", 0.5))]  # fmt: skip
    (sweep / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    buf = io.BytesIO()
    Image.fromarray(np.tile(np.arange(255, dtype=np.uint8), (40, 1))).save(buf, format="PNG")
    (sweep / "appendix_d.png").write_bytes(buf.getvalue())
    paths = write_report(sweep)
    assert paths.html.parent == sweep / "report"
    text = paths.html.read_text()
    checker = check_html(text)
    assert len(checker.rows) == 2
    table = re.search(r'<table id="sweep-table">(.*?)</table>', text).group(1)
    # One row per point; per-metric columns (source, detail) are not part of the point.
    assert "<th>point</th><th>tasks.n</th><th>probe_acc_z</th><th>mcc</th>" in table
    assert table.count("<tr>") == 3
    assert "<td>tasks.n=64</td><td>64</td><td>0.640</td><td>0.500</td>" in table
    assert base64.b64encode(buf.getvalue()).decode() in text
    assert "<td>0.070</td>" in text  # the paper's Appendix D value for k = 2, n = 64


def test_cli_report_prints_a_table_or_json_and_rejects_a_directory_without_runs(tmp_path, capsys):
    run = _run(tmp_path, "r", n=64, task_acc=0.97, z=0.95, rec=0.5, rand=0.5)
    assert main(["report", str(run), "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].startswith("probekit report: world d = 6")  # the experiment, not "r"
    header = next(i for i, line in enumerate(lines) if line.startswith("run "))
    assert ["run", "predicted", "task", "acc."] == lines[header].split()[:4]
    assert set(lines[header + 1].replace(" ", "")) == {"-"}
    assert lines[header + 2].split()[:2] == ["r", "yes"] and "recovered" in lines[header + 2]
    assert f"report: {tmp_path / 'o' / 'report.html'}" in text
    assert main(["report", str(run), "--out", str(tmp_path / "o"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert Path(printed["html"]).is_file() and Path(printed["markdown"]).is_file()
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "No run found" in err and err.count("\n") == 1
    assert list((tmp_path / "empty").iterdir()) == []


def test_titles_name_the_experiment_and_captions_say_what_figures_show(tmp_path):
    runs = tmp_path / "runs"
    for n in (1, 64):
        _run(runs, f"tasks-{n}", n=n, task_acc=0.97, z=0.95, rec=0.5, rand=0.5, png=True)
    (runs / "tasks-1" / "probe" / "correlation_linear.png").write_bytes(
        (runs / "tasks-1" / "probe" / "accuracy_linear.png").read_bytes()
    )
    title, sections = build_document(runs)
    world = load_experiment(QUICK).world
    assert title == (
        f"probekit report: world d = {world.d}, m = {world.n_observed}, {world.observation}; "
        f"1 and 64 walsh tasks (k = {load_experiment(QUICK).tasks.k}, sign)"
    )
    text = write_report(runs, tmp_path / "out").markdown.read_text()
    assert "1 walsh task of degree" in text and "1 walsh tasks" not in text
    assert "64 walsh tasks of degree" in text
    figures = [b for section in sections for b in section.blocks if isinstance(b, Figure)]
    captions = [f.caption for f in figures]
    assert not [c for c in captions if ".png" in c or "probe/" in c or "jsonl" in c], captions
    heat = [c for c in captions if "|correlation|" in c]
    assert len(heat) == 1 and "after matching units to latents one to one" in heat[0]
    assert heat[0].startswith("tasks-1: ") and "z_j" in heat[0]
    assert sum("probe accuracy on the latents per layer" in c for c in captions) == 2


def test_a_sweep_report_is_titled_by_the_sweep_and_its_scales_are_in_the_table(tmp_path):
    sweep = tmp_path / "sweep"
    _run(sweep, "tasks.n=64", n=64, task_acc=0.97, z=0.9, rec=0.5, rand=0.5)
    (sweep / "sweep.json").write_text(
        json.dumps({"name": "appendix_d", "description": "identification error vs n and k"})
    )
    title, sections = build_document(sweep)
    assert title == "probekit report: sweep appendix_d: identification error vs n and k"
    tables = [b for s in sections for b in s.blocks if isinstance(b, Table)]
    paper = next(t for t in tables if t.header[:2] == ["run", "tasks (n, k)"])
    assert "2 = no correlation" in paper.header[2] and "another scale" in paper.header[3]


def render_in_chromium(html_path: Path, tmp: Path) -> tuple[str, Path]:
    """The DOM after load (--dump-dom) and a screenshot, from headless Chromium."""
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp / 'profile'}"]  # fmt: skip
    url = html_path.resolve().as_uri()
    dom = subprocess.run(
        [*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    shot = tmp / "shot.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1200,2400", url],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    return dom, shot


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(tmp_path):
    _run(tmp_path / "runs", "tasks-64", n=64, task_acc=0.97, z=0.95, rec=0.52, rand=0.50)
    _run(tmp_path / "runs", "tasks-1", n=1, task_acc=0.60, z=0.52, rec=0.50, rand=0.49)
    paths = write_report(tmp_path / "runs", tmp_path / "out")
    dom, shot = render_in_chromium(paths.html, tmp_path)
    checker = _Checker()
    checker.feed(dom)
    assert [(r["cells"][0], r["verdict"]) for r in checker.rows] == [
        ("tasks-1", "inconclusive"), ("tasks-64", "agrees")]  # fmt: skip
    assert len(checker.images) == 4
    assert all(decode_png(src).width > 200 for src in checker.images)
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (2400, 1200)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # figures drawn, not a blank page
