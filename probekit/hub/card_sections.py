"""The model card's reproducible parts: how to install, re-probe and retrain, what was trained,
how well it does its tasks, what the theory predicted and what was measured, with intervals.

Every command the card shows runs as written in an empty directory once the toolkit is
installed (tests/test_model_card.py runs them against a local Hub). The PyPI name
`probekit` belongs to another project, so the card installs this one from source, from
the repository URL given to `probekit push --source-url` (a placeholder by default).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import yaml

SOURCE_URL = "https://github.com/<owner>/probekit"  # replaced by `--source-url`
CITATION = """@inproceedings{zhang2025when,
  title     = {When do neural networks learn world models?},
  author    = {Zhang, T. and Chen, G. and Chen, F.},
  booktitle = {Proceedings of the 42nd International Conference on Machine Learning (ICML)},
  series    = {Proceedings of Machine Learning Research},
  volume    = {267},
  pages     = {74639--74670},
  year      = {2025},
  note      = {arXiv:2502.09297}
}"""
LOWER_IS_BETTER = ("identification_error",)


def better(name: str) -> str:
    """' (lower is better)' for metrics where smaller is better, else ''."""
    return " (lower is better)" if any(k in name for k in LOWER_IS_BETTER) else ""


def install_command(source_url: str | None = None) -> str:
    """The pip line that installs this toolkit (from source: `probekit` on PyPI is another project)."""
    return f'pip install "git+{source_url or SOURCE_URL}"'


def commands_section(repo_id: str, revision: str | None, source_url: str | None) -> str:
    """Install, re-probe (compared with the published numbers) and retrain from the uploaded config."""
    rev = ["--revision", revision] if revision and revision != "main" else []

    def line(*args: str) -> str:
        return shlex.join(args)

    placeholder = not source_url or source_url == SOURCE_URL
    lines = [
        "# install the toolkit from source (the PyPI package named probekit is another project)",
        install_command(source_url),
        "# re-probe this checkpoint: world, tasks and probe inputs come from probekit_spec.json",
        line("probekit", "probe", repo_id, *rev, "--out", "reprobe"),
        "# the numbers published with it, to compare with reprobe/summary.json",
        line("hf", "download", repo_id, "probe/summary.json", *rev, "--local-dir", "published"),
        "# retrain from the uploaded config (same config and seed: the same data and weights), then probe",
        line("hf", "download", repo_id, "config.yaml", *rev, "--local-dir", "retrain"),
        line("probekit", "train", "--config", "retrain/config.yaml", "--run-dir", "retrain/run"),
        line("probekit", "probe", "retrain/run", "--out", "retrain/run/probe"),
    ]  # fmt: skip
    note = (
        f"\n\nReplace `{SOURCE_URL}` by the toolkit's repository (the pusher did not set "
        "`--source-url`)."
        if placeholder
        else ""
    )
    return "## Reproduce it\n\n```bash\n" + "\n".join(lines) + "\n```" + note


def _sentence(text: str) -> str:
    """`text` with a capital first letter: the reasons are written to follow a colon."""
    text = str(text or "").strip()
    return text[:1].upper() + text[1:]


def _table(rows: list[tuple[str, Any]]) -> str:
    body = "\n".join(
        f"| `{k}` | {json.dumps(v) if not isinstance(v, str) else v} |" for k, v in rows
    )
    return "| setting | value |\n|---|---|\n" + body


def _parameter_count(final: Path) -> int | None:
    files = sorted(final.glob("*.safetensors"))
    if not files:
        return None
    from safetensors import safe_open

    total = 0
    for path in files:
        with safe_open(str(path), framework="numpy") as f:
            for name in f.keys():
                n = 1
                for dim in f.get_slice(name).get_shape():
                    n *= dim
                total += n
    return total


def architecture_section(run: Path) -> str:
    """The model (kind, widths, depth, parameter count) and the training hyperparameters."""
    config = {}
    if (run / "config.yaml").is_file():
        config = yaml.safe_load((run / "config.yaml").read_text()) or {}
    hf_config = {}
    if (run / "final" / "config.json").is_file():
        hf_config = json.loads((run / "final" / "config.json").read_text())
    params = _parameter_count(run / "final")
    kind = (config.get("model") or {}).get("kind") or hf_config.get("model_type", "?")
    text = f"A `{kind}` model"
    if params is not None:
        text += f" with {params:,} parameters"
    text += " (`config.json` holds the full architecture)."
    parts = [f"## Architecture and training\n\n{text}"]
    for section in ("model", "train", "data"):
        values = config.get(section)
        if isinstance(values, dict) and values:
            title = {"model": "Model", "train": "Training hyperparameters", "data": "Data"}[section]
            parts.append(
                f"**{title}** (`config.yaml`, section `{section}`)\n\n"
                + _table(sorted(values.items()))
            )
    if not config:
        parts.append("This run has no `config.yaml`; the architecture is in `config.json`.")
    return "\n\n".join(parts)


def task_accuracy_section(run: Path) -> str:
    """The model's task accuracy at the end of training, on held-out and on training inputs."""
    last = None
    path = run / "metrics.jsonl"
    if path.is_file():
        for raw in path.read_text().splitlines():
            row = json.loads(raw) if raw.strip() else {}
            if "eval_acc" in row:
                last = row
    if last is None:
        return "## Task accuracy\n\nNo evaluation was logged (`metrics.jsonl` is missing)."
    held = last.get("eval_acc_heldout")
    held_txt = (
        f"**{held:.3f}** on inputs held out of training (`eval_acc_heldout`), "
        if held is not None
        else "no inputs were held out of training; "
    )
    return (
        f"## Task accuracy\n\nAt step {last.get('step', '?')}, mean accuracy over the proxy "
        f"tasks: {held_txt}{last['eval_acc']:.3f} on training inputs (`eval_acc`). "
        "Higher is better; 0.5 is chance for sign tasks."
    )


def _ci(value, ci) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def verdict_section(run: Path, summary: dict | None) -> str:
    """The prediction written before training, the measurement with 95 % intervals, the verdict."""
    from probekit.theory.predictions import read_prediction
    from probekit.theory.verdict import judge, measurement

    record = read_prediction(run)
    prediction = (record or {}).get("prediction")
    lines = ["## Prediction and verdict"]
    if prediction is None:
        lines.append("No `prediction.json`: the run was trained without a written prediction.")
    else:
        lines.append(
            f"Predicted before training (`prediction.json`, theory of Zhang, Chen & Chen, ICML "
            f"2025): expected recovery of z = **{prediction.get('expected_recovery')}** "
            f"({prediction.get('theory_result', '?')}). {_sentence(prediction.get('reason', ''))}".strip()
        )
    if not summary:
        lines.append("Not probed yet: no measurement and no verdict.")
        return "\n\n".join(lines)
    scopes = [None] + (["seen"] if summary.get("scope") == "unseen" else [])
    for scope in scopes:
        m = measurement(summary, scope=scope)
        best = (summary if scope is None else summary.get(scope) or {}).get("best_layer", {})
        entry = best.get("linear") or next(iter(best.values()), {}) if best else {}
        where = {
            "unseen": "inputs the model never trained on",
            "seen": "the model's training inputs",
        }
        rows = [
            ("layer (chosen on validation inputs)", m.get("site")),
            ("probe accuracy of z [95% CI]", _ci(m.get("acc_z"), m.get("acc_z_ci"))),
            ("latents recovered (above both controls)", f"{m.get('latents_recovered')} of {m.get('d')}"),
            ("untrained copy, same layer", _ci(m.get("acc_random_init"), None)),
            ("raw input", _ci(m.get("acc_raw_input"), None)),
            ("MCC of units (higher is better)", _ci(m.get("mcc_units"), None)),
            ("identification error of units (lower is better; 0 to 4, 2 = no correlation)",
             _ci(entry.get("identification_error_units"), None)),
            ("test inputs", m.get("n_test")),
        ]  # fmt: skip
        per = entry.get("acc_z_per_latent") or []
        cis = entry.get("acc_z_per_target_ci") or []
        if per and len(cis) == len(per):
            rows.append(("per latent [95% CI]", "; ".join(
                f"z{i} {_ci(a, c)}" for i, (a, c) in enumerate(zip(per, cis, strict=True)))))  # fmt: skip
        table = "| quantity | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
        judged = judge(prediction, m)
        lines.append(f"Measured on {where.get(m.get('scope'), m.get('scope'))}:\n\n{table}")
        lines.append(
            f"Verdict: **{judged['verdict']}**; agrees with the prediction: "
            f"**{judged.get('agrees')}**. {_sentence(judged['reason'])}"
        )
    return "\n\n".join(lines)


def limitations_section(summary: dict | None) -> str:
    """What the numbers above do not say."""
    n_test = ((summary or {}).get("best_layer", {}).get("linear") or {}).get("n_test")
    items = [
        "The world is synthetic: d Boolean latents behind a known map. What this model learned "
        "says nothing direct about models trained on natural data.",
        "Probes are linear (and optionally a small MLP): a latent that is not linearly "
        "decodable may still be represented non-linearly, and a decodable one need not be used "
        "by the model.",
        "Every interval is a 95 % interval over the reported test inputs"
        + (f" ({n_test} here)" if n_test else "")
        + "; with few inputs a latent can be neither recovered nor ruled out (undecided).",
        "The identification error is this toolkit's definition (matched units, 0 to 4, lower "
        "is better); the paper's exact definition is unpublished, so compare with its Appendix D "
        "in trend, not in value.",
        "Task accuracy below 0.9 on the reported inputs makes the verdict undecided: a model "
        "that has not fit its tasks is no test of the theory.",
        "Retraining reproduces the weights only with the same toolkit version, PyTorch and "
        "hardware class; the versions used are listed under Versions.",
    ]
    return "## Limitations\n\n" + "\n".join(f"- {item}" for item in items)


def citation_section() -> str:
    """The paper whose theory the run tests."""
    return (
        "## Citation\n\nThe theory tested here is from T. Zhang, G. Chen and F. Chen, *When do "
        "neural networks learn world models?*, ICML 2025:\n\n```bibtex\n" + CITATION + "\n```"
    )
