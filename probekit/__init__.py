"""probekit: pretrain small transformers on proxy tasks of Boolean latents and probe them.

The notebook API is importable from the package root; the heavy modules (torch,
transformers) load on first use, so `import probekit` stays instant:

    from probekit import probe_checkpoint, extract_activations, LinearProbe, identification_error

`import probekit.models` registers the toolkit's model classes with `AutoModel`.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "extract_activations": "probekit.probing.activations",
    "site_names": "probekit.probing.activations",
    "probe_checkpoint": "probekit.probing.pipeline",
    "LinearProbe": "probekit.probing.estimators",
    "MLPProbe": "probekit.probing.estimators",
    "fit_linear_probes": "probekit.probing.probes",
    "identification_error": "probekit.probing.metrics",
    "train": "probekit.train",
    "load_experiment": "probekit.config",
    "ExperimentConfig": "probekit.config",
    "predict": "probekit.theory.predictions",
    "verdict": "probekit.theory.verdict",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'probekit' has no attribute {name!r}")
