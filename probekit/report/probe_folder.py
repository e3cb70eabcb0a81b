"""The report of a bare `probekit probe --out DIR` folder: any checkpoint, e.g. on a text dataset.

Such a folder holds `summary.json`, `results.jsonl` and plots but no run (no config.yaml,
so no world, no prediction and no verdict). The report says what was probed and how it
was split, the trained model's accuracy per layer beside its controls, each label (or
latent) at the layer chosen on validation inputs with its interval, and the plots.
"""

from __future__ import annotations

import json
from pathlib import Path

from probekit.report.render import Figure, Section, Table


def is_probe_folder(path: Path) -> bool:
    """Whether `path` is a probe output folder rather than a run or a sweep."""
    return (path / "summary.json").is_file() and not (path / "config.yaml").exists()


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def _ci(value, ci) -> str:
    return _fmt(value) + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")


def _split_words(summary: dict) -> str:
    own = summary.get("dataset_splits")
    if own:
        used = ", ".join(f"{role} = {name}" for role, name in own.items())
        return f"the dataset's own splits ({used})"
    return f"a seeded split by {summary.get('split_by', 'distinct input')}"


def probe_folder_document(path: Path) -> tuple[str, list[Section]]:
    """The title and sections of the report on one probe output folder."""
    summary = json.loads((path / "summary.json").read_text())
    family = summary.get("primary_family", "z")
    key, models = f"acc_{family}", summary.get("models", {})
    inputs = summary.get("inputs") or {}
    what = inputs.get("label_columns") or family
    intro = (
        f"Probes of {what} in {summary.get('checkpoint', '?')} at position "
        f"{summary.get('position')} ({summary.get('position_source') or 'given'}), read from "
        f"{inputs.get('path') or inputs.get('source', '?')}; fitted, chosen and reported on "
        f"{_split_words(summary)}: {json.dumps(summary.get('splits'))} inputs; "
        f"{summary.get('shared_fit_test', '?')} of the split's keys are both in the fit and the "
        "reported rows. Accuracy is held out from the probe; the controls are an untrained "
        "copy of the model at the same site, the raw input (a bag of tokens for text) and the "
        "control task (random labels per word type)."
    )
    sections = []
    for probe, sites in models.get("trained", {}).items():
        untrained = models.get("random_init", {}).get(probe, {})
        raw = models.get("input", {}).get(probe, {}).get("input", {})
        best = summary.get("best_layer", {}).get(probe) or {}
        rows = [
            [("* " if site == best.get("site") else "") + site, _ci(v.get(key), v.get(f"{key}_ci")),
             _fmt(untrained.get(site, {}).get(key)), _fmt(raw.get(key)),
             _fmt(v.get("acc_control_task")), _fmt(v.get("selectivity"))]
            for site, v in sites.items()
        ]  # fmt: skip
        header = ["site", f"{family} [95% CI]", "untrained", "raw input", "control task"]
        blocks: list = [intro, Table([*header, "selectivity"], rows, table_id=f"layers-{probe}")]
        per = best.get(f"{key}_per_label") or {}
        if per:
            cis = best.get(f"{key}_per_label_ci") or {}
            controls = best.get("controls_per_label") or {}
            label_rows = [
                [label, _ci(acc, cis.get(label)),
                 *(_fmt((controls.get(label) or {}).get(c)) for c in ("random_init", "raw_input", "control_task"))]
                for label, acc in per.items()
            ]  # fmt: skip
            blocks.append(
                f"Per label at {best.get('site')} (* above: chosen on validation inputs):"
            )
            blocks.append(
                Table(
                    ["label", "trained [95% CI]", "untrained", "raw input", "control task"],
                    label_rows,
                    table_id=f"labels-{probe}",
                )  # fmt: skip
            )
        sections.append(Section(f"{probe} probe", blocks))
    for png in sorted(path.glob("*.png")):
        sections.append(
            Section(png.stem, [Figure(png.stem.replace("_", "-"), png.stem, png.read_bytes())])
        )
    return f"probekit report: probe of {summary.get('checkpoint', path.name)}", sections
