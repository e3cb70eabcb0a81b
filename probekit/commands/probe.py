"""`probekit probe`: probe a checkpoint layer by layer for the latents, with controls.

probekit probe runs/x --out runs/x/probe                     # regenerate from the spec
probekit probe runs/x/final --data data/default --out OUT    # a generated dataset
probekit probe user/model --out OUT                          # a Hub repo id
probekit probe MODEL_DIR --text-dataset DIR --text-column text --label-columns a,b --out OUT
probekit probe MODEL_DIR --text-dataset DIR --label-columns a --group-column noun --out OUT
probekit probe runs/x --json                # the best layers as one JSON line, not a table
probekit probe runs/x/checkpoints/step-00000500 # one saved step (out: runs/x/emergence/step-N)
probekit probe runs/x --steps all           # every saved step, and when each latent emerges
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `probekit probe`."""
    parser.add_argument("checkpoint", help="run directory, its final/ directory, or a Hub repo id")
    src = parser.add_mutually_exclusive_group()
    src.add_argument(
        "--data",
        help="a `probekit generate` directory (default: regenerate "
        "world, tasks and inputs from the checkpoint's probekit_spec.json)",
    )
    src.add_argument("--text-dataset", help="a labelled `datasets` dataset saved with save_to_disk")
    parser.add_argument("--text-column", default="text", help="text column of --text-dataset")
    parser.add_argument(
        "--label-columns",
        type=_csv,
        default=[],
        help="comma-separated label columns of --text-dataset",
    )
    parser.add_argument(
        "--control-type-column",
        help="column of --text-dataset whose values are the control task's types, e.g. a "
        "subject noun (default: each text's first token)",
    )
    parser.add_argument(
        "--split",
        help="dataset split to probe, re-split (default: a text dataset's own train / "
        "validation / test when it has train and test; `all`: its splits pooled and re-split)",
    )
    parser.add_argument(
        "--group-column",
        help="column of --text-dataset whose values never fall on both sides of the split "
        "(e.g. the subject noun, so the probe cannot score by memorising it)",
    )
    parser.add_argument(
        "--max-length", type=int, help="truncate --text-dataset texts to this many tokens"
    )
    parser.add_argument("--out", help="output directory (default: RUN/probe for a run directory)")
    parser.add_argument(
        "--sites",
        type=_csv,
        help="comma-separated sites, e.g. embed,layer.4,layer.4.attn,layer.4.mlp, or `all` "
        "(default: every block output; sub-layer sites for GPT-2, Llama and BERT by name)",
    )
    parser.add_argument(
        "--position",
        help="auto | sep | last_x | mean_x | mean | cls | index:K | x:K (the K-th x token) | "
        "query:J | answer:J (the J-th query / answer token of a next-token sequence) "
        "(default: auto, the model folder's sentence-transformers pooling if it has one, else where the model reads its "
        "answers: CLS for BERT-style encoders, SEP for decoders)",
    )
    parser.add_argument("--probes", type=_csv, help="comma-separated: linear,mlp (default: linear)")
    parser.add_argument(
        "--controls",
        type=_csv,
        help="comma-separated subset of random_init,input,alt_basis,control_task, or none "
        "(leave out random_init to skip building the untrained copy)",
    )
    parser.add_argument(
        "--dtype",
        choices=("float32", "float16", "bfloat16"),
        help="precision of the model's forward passes (default: as saved)",
    )
    parser.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: the best available)")
    parser.add_argument("--batch-size", type=int, help="forward-pass batch (default: 256)")
    parser.add_argument("--seed", type=int, help="split / control seed (default: the spec's)")
    parser.add_argument("--revision", help="Hub revision when CHECKPOINT is a repo id")
    parser.add_argument("--cache-dir", help="activation cache (default: OUT/cache)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--json",
        action="store_true",
        help='print {"out": ..., "best_layer": ...} as one JSON line instead of the table',
    )
    parser.add_argument(
        "--steps",
        help="`all` or a comma list of steps: probe those saved steps of the run (snapshots, "
        "checkpoints, final) into OUT/step-N, draw z against step per layer and estimate when "
        "each latent emerges (default OUT: RUN/emergence; docs/probing.md)",
    )


def _default_out(checkpoint: str) -> Path | None:
    path = Path(checkpoint)
    if path.parent.name in ("checkpoints", "snapshots") and path.name.startswith("step-"):
        return path.parent.parent / "emergence" / path.name  # where --steps puts it too
    return path / "probe" if (path / "final").is_dir() else None


def _run_steps(args: argparse.Namespace) -> int:
    """`--steps`: probe the run's saved steps, print when each latent emerged."""
    from probekit.probing.emergence import format_emergence, probe_steps

    result = probe_steps(
        args.checkpoint,
        args.steps,
        out=args.out,
        data=args.data,
        sites=args.sites,
        position=args.position,
        probes=args.probes,
        seed=args.seed,
        controls=[] if args.controls == ["none"] else args.controls,
        cache_dir=args.cache_dir,
        progress=not args.no_progress,
    )
    if args.json:
        found = {
            scope: {"site": e["site"], "emergence": e["sites"][e["site"]]["emergence"]}
            for scope, e in result["scopes"].items()
        }
        print(json.dumps({"out": result["out"], "steps": result["steps"], "scopes": found}))
    else:
        print(format_emergence(result))
        print(f"\nwrote {result['out']}: step-N/ per step, emergence.json, emergence.png")
    return 0


def _num(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def format_summary(summary: dict, out: Path) -> str:
    """Per probe, a table of the layers (the reported split) and the layer chosen on validation."""
    from probekit.report.render import text_table

    family = summary.get("primary_family", "z")
    key, models = f"acc_{family}", summary["models"]
    scope = summary.get("scope", "seen")
    where = "the model never trained on" if scope == "unseen" else "of the model's training"
    d = summary.get("inputs", {}).get("d")
    what = "latents" if family == "z" else "labels"  # a text dataset's probes are of labels
    lines = [
        f"probed {summary.get('checkpoint', '?')} at position {summary.get('position', '?')}; "
        f"accuracy on {summary.get('n_test', '?')} test inputs {where}, held out from the probe"
    ]
    for probe, sites in models.get("trained", {}).items():
        best = summary["best_layer"].get(probe) or {}
        untrained = models.get("random_init", {}).get(probe, {})
        cols = [("T(z)", "acc_alt_basis"), ("control task", "acc_control_task")]
        cols = [(name, k) for name, k in cols if any(k in v for v in sites.values())]
        rows = [
            [
                ("* " if site == best.get("site") else "  ") + site,
                _num(v.get(key)),
                _num(untrained.get(site, {}).get(key)),
                *(_num(v.get(k)) for _, k in cols),
                _num(v.get("mcc_units")),
                str(v.get("rung", "–")),
            ]
            for site, v in sites.items()
        ]
        raw = models.get("input", {}).get(probe, {}).get("input", {}).get(key)
        if raw is not None:
            rows.append(["  raw input", _num(raw), "–", *("–" for _ in cols), "–", "–"])
        header = ["  layer", family, f"{family}, untrained", *(n for n, _ in cols), "MCC units"]
        header.append("rung")
        lines += ["", f"{probe} probe, held-out accuracy:", text_table(header, rows)]
        if best:
            ci = best.get(f"{key}_ci")
            recovered = best.get("latents_recovered")
            lines.append(
                f"* chosen on validation inputs: {best['site']}, {family} {_num(best.get(key))}"
                + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
                + ("" if recovered is None else f"; {what} recovered: {recovered}")
                + ("" if recovered is None or d is None else f" of {d}")
            )
    lines += format_labels(summary)
    lines += ["", f"wrote {out}: results.jsonl, summary.json, probes.safetensors, plots "
              "(--json: the best layers)"]  # fmt: skip
    return "\n".join(lines)


def _split_words(summary: dict) -> str:
    """Which rows the probes were fitted, chosen and reported on."""
    own = summary.get("dataset_splits")
    if own:
        names = [f"{role.split('_')[0]} = {name}" for role, name in own.items()]
        if "val_seen" not in own:
            names.insert(1, f"val = 20 % of {own['fit']} (by {summary.get('split_by')})")
        return "the dataset's own splits: " + ", ".join(names)
    pooled = (summary.get("inputs") or {}).get("split")
    where = f"split {pooled!r}, " if pooled else ""
    return f"{where}re-split by {summary.get('split_by', 'distinct input')}"


def format_labels(summary: dict) -> list[str]:
    """For a text dataset: how it was split, and each label at the chosen layer beside its controls."""
    family = summary.get("primary_family", "z")
    if family == "z":
        return []
    from probekit.report.render import text_table

    lines = ["", f"split: {_split_words(summary)}; {summary.get('shared_fit_test', 0)} "
             f"{'groups' if 'group' in str(summary.get('split_by')) else 'texts'} in both "
             "fit and test"]  # fmt: skip
    for probe, best in summary.get("best_layer", {}).items():
        per = best.get(f"acc_{family}_per_label") or {}
        cis = best.get(f"acc_{family}_per_label_ci") or {}
        controls = best.get("controls_per_label") or {}
        rows = []
        for label, acc in per.items():
            c = controls.get(label) or {}
            ci = cis.get(label)
            control = c.get("control_task")
            rows.append([label, _num(acc) + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""),
                         _num(c.get("random_init")), _num(c.get("raw_input")), _num(control),
                         _num(None if control is None else acc - control)])  # fmt: skip
        header = ["label", "trained [95% CI]", "untrained", "bag of tokens", "control task"]
        lines += ["", f"{probe} probe per label at {best.get('site')}, held-out accuracy:",
                  text_table([*header, "selectivity"], rows)]  # fmt: skip
    return lines


def run(args: argparse.Namespace) -> int:
    """Run the sweep and print the per-layer table (or the best layers as one JSON line)."""
    from probekit.probing.pipeline import probe_checkpoint

    if args.steps:
        return _run_steps(args)
    out = args.out or _default_out(args.checkpoint)
    if out is None:
        raise ValueError("Give --out DIR (where results.jsonl, summary.json and plots go).")
    report = probe_checkpoint(
        args.checkpoint,
        data=args.data,
        text_dataset=args.text_dataset,
        text_column=args.text_column,
        label_columns=args.label_columns,
        control_type_column=args.control_type_column,
        split=args.split,
        out=out,
        sites=args.sites,
        position=args.position,
        probes=args.probes,
        seed=args.seed,
        controls=[] if args.controls == ["none"] else args.controls,
        group_column=args.group_column,
        max_length=args.max_length,
        dtype=args.dtype,
        device=args.device,
        batch_size=args.batch_size,
        cache_dir=args.cache_dir,
        revision=args.revision,
        progress=not args.no_progress,
    )
    if args.json:
        best = report.summary["best_layer"]
        print(json.dumps({"out": str(report.out), "best_layer": best}, default=str))
    else:
        print(format_summary(report.summary, report.out))
    return 0
