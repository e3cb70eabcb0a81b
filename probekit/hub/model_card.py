"""Model and dataset cards for a shared run, built from whatever the run directory holds.

The card is generated with `huggingface_hub.ModelCard`/`ModelCardData`; probe metrics
become `EvalResult`s in the `model-index`. Missing pieces (no probe summary yet, no
spec) are said in words rather than failing. The text is deterministic, so pushing an
unchanged run produces byte-identical cards (and so no new commit).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from huggingface_hub import DatasetCard, DatasetCardData, EvalResult, ModelCard, ModelCardData

from probekit.hub import card_sections
from probekit.hub.card_sections import better

TAGS = ["probekit", "world-models", "probing", "synthetic-data", "boolean-functions"]
MAX_EVAL_RESULTS = 40  # keep the model-index readable; the full table is in probe/


def read_json(path: Path) -> Any | None:
    """The parsed JSON file, or None when it is absent."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path} is not valid JSON ({err}); fix or delete it before pushing"
        ) from err


def experiment_of(spec: dict | None) -> dict:
    """The experiment sections (world, tasks, data, model, train) of a probekit_spec.json."""
    if not spec:
        return {}
    return spec.get("experiment", spec)  # train.py nests them; hand-written specs may not


def describe_world(world: dict | None) -> str:
    """One paragraph saying, in words, what the synthetic world is."""
    if not world:
        return "The world spec is not recorded in this run."
    d = world.get("d", "?")
    m = world.get("m") or d
    obs = world.get("observation", "?")
    params = world.get("observation_params") or {}
    params_txt = f" with parameters {json.dumps(params, sort_keys=True)}" if params else ""
    bias = world.get("latent_bias")
    bias_txt = "uniformly at random" if not bias else f"independently with biases {list(bias)}"
    redundancy = (
        f" Extra observed bits (m > d) are filled by `{world['redundancy']}`."
        if m != d and world.get("redundancy")
        else ""
    )
    return (
        f"A hidden state of d = {d} binary latents z ∈ {{-1, +1}}^{d}, drawn {bias_txt}, is seen "
        f"only through an invertible observation map `{obs}`{params_txt}: the model reads "
        f"m = {m} observed bits x = ψ(z).{redundancy} World seed: {world.get('seed', '?')}."
    )


def describe_tasks(tasks: dict | None) -> str:
    """One paragraph saying, in words, what the proxy tasks are."""
    if not tasks:
        return "The task spec is not recorded in this run."
    params = tasks.get("params") or {}
    params_txt = f", parameters {json.dumps(params, sort_keys=True)}" if params else ""
    target = tasks.get("target", "sign")
    target_txt = "the sign (±1) of" if target == "sign" else f"the {target} value of"
    return (
        f"The model is pretrained on n = {tasks.get('n', '?')} proxy tasks of family "
        f"`{tasks.get('family', '?')}` (degree k = {tasks.get('k', '?')}{params_txt}); each asks "
        f"for {target_txt} a Boolean function g_i(z) of the latents, computed from x. "
        f"Task seed: {tasks.get('seed', '?')}."
    )


# Bookkeeping numbers in a probe summary that are not results.
NOT_METRICS = {"seed", "n_examples", "n_train", "n_test", "layer", "steps"}


def summary_metrics(summary: Any) -> list[tuple[str, float]]:
    """The headline numbers of a probe summary as (dotted name, value), in file order.

    A `probekit.probing.pipeline` summary contributes its `best_layer` entries (per probe: accuracy
    on each target family, selectivity, identification error, MCC); any other JSON
    contributes its finite numeric leaves (under `metrics` when there is such a key).
    """
    if isinstance(summary, dict) and isinstance(summary.get("best_layer"), dict):
        out = []
        for probe, entry in summary["best_layer"].items():
            prefix = f"{probe}.{entry.get('site', 'best')}"
            for key, value in entry.items():
                # Nested entries (the controls, the alternative basis's ladder) one level deep.
                inner = value.items() if isinstance(value, dict) else [(None, value)]
                for sub, v in inner:
                    name = f"{prefix}.{key}" + (f".{sub}" if sub else "")
                    if key not in NOT_METRICS and _is_number(v):
                        out.append((name, float(v)))
        return out
    if isinstance(summary, dict) and isinstance(summary.get("metrics"), dict):
        summary = summary["metrics"]
    out: list[tuple[str, float]] = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key not in NOT_METRICS:
                    walk(value, f"{prefix}{key}.")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{prefix}{i}.")
        elif _is_number(node):
            out.append((prefix.rstrip("."), float(node)))

    walk(summary, "")
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def layer_table(summary: Any) -> str | None:
    """A Markdown table of the trained model's probe results per site, when the summary has them."""
    trained = (
        (summary or {}).get("models", {}).get("trained") if isinstance(summary, dict) else None
    )
    if not isinstance(trained, dict):
        return None
    lines = []
    for probe, per_site in trained.items():
        columns = [  # scalar columns only: per-latent lists and nested dicts stay in the file
            k
            for k in dict.fromkeys(k for e in per_site.values() for k in e)
            if k != "layer"
            and not any(isinstance(e.get(k), (list, dict)) for e in per_site.values())
        ]
        titles = [c + better(c) for c in columns]
        lines += [f"**{probe} probe**", "", "| site | " + " | ".join(titles) + " |",
                  "|---" * (len(columns) + 1) + "|"]  # fmt: skip
        for site, entry in per_site.items():
            cells = [
                f"{entry[c]:.4g}" if _is_number(entry.get(c)) else str(entry.get(c) or "–")
                for c in columns
            ]
            lines.append(f"| `{site}` | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines).strip()


def eval_results(
    metrics: list[tuple[str, float]], dataset_type: str, dataset_name: str
) -> list[EvalResult]:
    """Probe metrics as `EvalResult`s (one per metric) for the card's model-index."""
    return [
        EvalResult(
            task_type="feature-extraction",  # probes read features out of hidden states
            task_name="Layer-wise probing for the latent world state",
            dataset_type=dataset_type,
            dataset_name=dataset_name,
            metric_type=name.rsplit(".", 1)[-1],
            metric_name=name + better(name),
            metric_value=round(value, 6),
        )
        for name, value in metrics[:MAX_EVAL_RESULTS]
    ]


def _library_name(final: Path) -> str:
    config = read_json(final / "config.json") or {}
    try:
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    except ImportError:  # transformers is a dependency; be safe anyway
        return "probekit"
    return "transformers" if config.get("model_type") in CONFIG_MAPPING_NAMES else "probekit"


def _results_text(summary: Any, metrics: list[tuple[str, float]]) -> str:
    if summary is None:
        return "Not probed yet: this run has no `probe/summary.json`."
    text = "Probes of the latents z, layer by layer (every row in `probe/results.jsonl`).\n\n"
    if metrics:
        text += "Headline numbers:\n\n" + _metrics_table(metrics)
    table = layer_table(summary)
    return text + ("\n\nPer site:\n\n" + table if table else "")


def _metrics_table(metrics: list[tuple[str, float]]) -> str:
    rows = "\n".join(f"| `{name}`{better(name)} | {value:.4g} |" for name, value in metrics)
    return f"| metric | value |\n|---|---|\n{rows}"


def build_model_card(
    run_dir: str | Path,
    repo_id: str,
    *,
    license: str = "apache-2.0",
    dataset_repo_id: str | None = None,
    revision: str | None = None,
    source_url: str | None = None,
) -> ModelCard:
    """The model card (README.md) for pushing `run_dir` to `repo_id` (at branch `revision`).

    `source_url` is the toolkit's repository, which the card's install line installs from.
    """
    run = Path(run_dir)
    final, probe = run / "final", run / "probe"
    spec = read_json(final / "probekit_spec.json")
    exp = experiment_of(spec)
    world, tasks = exp.get("world"), exp.get("tasks")
    summary = read_json(probe / "summary.json")
    metrics = summary_metrics(summary) if summary is not None else []
    d = (world or {}).get("d", "?")
    dataset_name = f"probekit synthetic world (d={d}, seed {(world or {}).get('seed', '?')})"
    model_name = repo_id.split("/")[-1]
    data = ModelCardData(
        library_name=_library_name(final),
        license=license,
        tags=TAGS
        + ([f"observation-{world['observation']}"] if world and world.get("observation") else []),
        datasets=[dataset_repo_id] if dataset_repo_id else None,
        model_name=model_name,
        eval_results=eval_results(metrics, dataset_repo_id or "probekit/synthetic", dataset_name)
        or None,
    )
    plots = sorted(p.name for p in probe.glob("*.png")) if probe.is_dir() else []
    sections = [
        f"# {model_name}",
        f"A small model pretrained with probekit ({source_url or card_sections.SOURCE_URL}) on "
        "proxy tasks over a synthetic Boolean world, to test *when* networks learn a model of "
        "the hidden world state (Zhang, Chen & Chen, ICML 2025). Everything needed to "
        "regenerate the world, the tasks and the data is in `probekit_spec.json`; the "
        "training config is `config.yaml`.",
        "## World\n\n" + describe_world(world),
        "## Tasks\n\n" + describe_tasks(tasks),
        card_sections.architecture_section(run),
        card_sections.task_accuracy_section(run),
        card_sections.verdict_section(run, summary),
        "## Probe results\n\n" + _results_text(summary, metrics),
    ]
    if plots:
        sections.append("## Plots\n\n" + "\n\n".join(f"![{name}](probe/{name})" for name in plots))
    sections.append(card_sections.commands_section(repo_id, revision, source_url))
    library = data.library_name
    register = (
        "import probekit.models  # registers the probekit model classes\n"
        if library == "probekit"
        else ""
    )
    sections.append(
        f"## Load it\n\n```python\n{register}from transformers import AutoModel, AutoTokenizer\n"
        f'model = AutoModel.from_pretrained("{repo_id}")\n'
        f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}")\n```'
    )
    if spec and spec.get("versions"):
        versions = ", ".join(f"{k} {v}" for k, v in sorted(spec["versions"].items()))
        sections.append(f"## Versions\n\nTrained with {versions}.")
    if dataset_repo_id:
        sections.append(
            f"## Data\n\nThe generated dataset is at [`{dataset_repo_id}`](../datasets/{dataset_repo_id})."
        )
    sections += [card_sections.limitations_section(summary), card_sections.citation_section()]
    content = f"---\n{data.to_yaml()}\n---\n\n" + "\n\n".join(sections) + "\n"
    return ModelCard(content)


def build_dataset_card(
    run_dir: str | Path, repo_id: str, *, model_repo_id: str, license: str = "apache-2.0"
) -> DatasetCard:
    """The dataset card for the generated token dataset of `run_dir`."""
    exp = experiment_of(read_json(Path(run_dir) / "final" / "probekit_spec.json"))
    data = DatasetCardData(license=license, tags=TAGS, pretty_name=f"{repo_id.split('/')[-1]}")
    body = "\n\n".join(
        [
            f"# {repo_id.split('/')[-1]}",
            f"Token sequences generated by probekit to pretrain [`{model_repo_id}`](../../{model_repo_id}).",
            "## World\n\n" + describe_world(exp.get("world")),
            "## Tasks\n\n" + describe_tasks(exp.get("tasks")),
            "## Data spec\n\n```json\n"
            + json.dumps(exp.get("data") or {}, indent=2, sort_keys=True)
            + "\n```",
        ]
    )
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{body}\n")
