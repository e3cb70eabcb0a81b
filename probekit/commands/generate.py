"""`probekit generate`: build a world, its tasks and a token dataset, and save it.

    probekit generate --config configs/default.yaml --out data/default [--overwrite] \
        [world.d=8 data.format=qa ...]
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

# Sections of an experiment file that generation does not read (model, training,
# probing); accepted so one YAML can drive generate, train and probe.
EXPERIMENT_SECTIONS = ("model", "train", "probe")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The config options shared by generate and fourier."""
    parser.add_argument(
        "--config",
        help="YAML with world:, tasks: and data: sections (default: the built-in defaults, "
        "the same as `probekit train` and `probekit theory` use)",
    )
    parser.add_argument("--world", help="YAML of the world spec (replaces the config's world)")
    parser.add_argument("--tasks", help="YAML of the task spec (replaces the config's tasks)")
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides, e.g. world.d=8"
    )


def _section(path: str, name: str) -> dict[str, Any]:
    """A spec file holds either the spec's keys or a single `name:` section."""
    from synthetic.config import load_yaml

    data = load_yaml(path)
    if set(data) == {name} and isinstance(data[name], dict):
        return data[name]
    return data


def config_from_args(args: argparse.Namespace, sections: Iterable[str] = EXPERIMENT_SECTIONS):
    """The GenerateConfig named by --config/--world/--tasks and the dotted overrides.

    Without --config the built-in defaults of every spec, as in `probekit train`.
    """
    from synthetic.config import load_yaml
    from synthetic.dataset import load_generate_config

    base = load_yaml(args.config) if args.config else {}
    if args.world:
        base["world"] = _section(args.world, "world")
    if args.tasks:
        base["tasks"] = _section(args.tasks, "tasks")
    return load_generate_config(None, args.overrides, allow_sections=sections, base=base)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `probekit generate`."""
    add_config_arguments(parser)
    parser.add_argument("--out", required=True, help="output dataset directory")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing dataset at --out"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Validate everything, generate, then write the dataset atomically."""
    from synthetic.dataset import check_output_dir, generate_dataset, read_metadata, save_dataset

    cfg = config_from_args(args)
    check_output_dir(args.out, args.overwrite)  # fail before the work, not after
    dsdict = generate_dataset(cfg, progress=not args.quiet)
    # FileExistsError if someone else created --out while we generated
    out = save_dataset(dsdict, cfg, args.out, overwrite=args.overwrite)
    meta = read_metadata(out)
    w, t, d = cfg.world, cfg.tasks, cfg.data
    print(f"wrote {out}")
    print(
        f"  world   d={w.d} m={w.n_observed} observation={w.observation} seed={w.seed}\n"
        f"  tasks   {t.family} n={t.n} k={t.k} target={t.target} seed={t.seed}\n"
        f"  data    format={d.format} bits_per_token={d.bits_per_token} "
        f"vocab={meta['layout']['vocab_size']} seed={d.seed}"
    )
    print("  splits  " + ", ".join(f"{k}={v}" for k, v in meta["splits"].items()))
    if meta["positions"]:
        print("  positions " + ", ".join(f"{k}={v}" for k, v in meta["positions"].items()))
    print(f"  fingerprint {meta['fingerprint'][:16]}")
    return 0
