"""`probekit push RUN_DIR --repo-id NAME`: share a trained run on the Hugging Face Hub."""

from __future__ import annotations

import argparse
import sys

EXIT_REJECTED = 1  # the Hub refused (metadata, permissions) or the run is incomplete
EXIT_UNAVAILABLE = 3  # offline or unreachable: retry later with the printed command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `probekit push`."""
    parser.add_argument("run_dir", help="the run directory (holds final/, probe/, config.yaml)")
    parser.add_argument("--repo-id", required=True, help="target model repo, `user/name` or `name`")
    parser.add_argument("--private", action="store_true", help="create the repo(s) as private")
    parser.add_argument("--revision", default=None, help="branch to push to (default: main)")
    parser.add_argument(
        "--endpoint", default=None, help="Hub URL (default: $HF_ENDPOINT or the public Hub)"
    )
    parser.add_argument(
        "--token", default=None, help="write token (default: $HF_TOKEN or `hf auth login`)"
    )
    parser.add_argument(
        "--with-dataset", action="store_true", help="also push the generated dataset"
    )
    parser.add_argument(
        "--dataset-repo-id", default=None, help="dataset repo (default: <repo-id>-data)"
    )
    parser.add_argument(
        "--license", default="apache-2.0", help="licence id for the cards (default: apache-2.0)"
    )
    parser.add_argument("--message", default=None, help="commit message")
    parser.add_argument(
        "--source-url",
        default=None,
        help="the toolkit's repository URL, for the card's install line "
        '(pip install "git+URL"; default: a placeholder to replace)',
    )


def run(args: argparse.Namespace) -> int:
    """Push the run; print what happened; map failures to a message and an exit code."""
    from probekit.hub.client import HubError, HubUnavailableError
    from probekit.hub.push import push_run

    try:
        results = push_run(
            args.run_dir,
            args.repo_id,
            private=args.private,
            revision=args.revision,
            endpoint=args.endpoint,
            token=args.token,
            with_dataset=args.with_dataset,
            dataset_repo_id=args.dataset_repo_id,
            license=args.license,
            message=args.message,
            source_url=args.source_url,
        )
    except HubUnavailableError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except (HubError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_REJECTED
    for result in results:
        kind = "dataset" if result.repo_type == "dataset" else "model"
        if result.up_to_date:
            print(f"{kind} {result.repo_id}: already up to date ({result.url}); nothing pushed.")
        else:
            removed = f", removed {len(result.deleted)}" if result.deleted else ""
            print(
                f"{kind} {result.repo_id}: pushed {len(result.uploaded)} file(s){removed} "
                f"in commit {result.commit[:10]} ({result.url})."
            )
    return 0
