"""Load a saved model back as the class it was saved as (LM heads included), from a local directory."""

from __future__ import annotations

from pathlib import Path

import transformers
from transformers import AutoConfig, PreTrainedModel

from probekit.models.mlp import MLPModel
from probekit.models.task_heads import TaskHeadsModel

_OWN_CLASSES = {cls.__name__: cls for cls in (MLPModel, TaskHeadsModel)}


def load_model(path: str | Path, **kwargs) -> PreTrainedModel:
    """`from_pretrained` with the class named in config.json's `architectures`, in eval mode.

    `AutoModel` would drop the LM head of a `GPT2LMHeadModel`; this keeps it.
    """
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"No config.json in {path}; pass a directory written by save_pretrained "
            "(a run's final/ directory)."
        )
    config = AutoConfig.from_pretrained(path)
    names = config.architectures or []
    if not names:
        raise ValueError(f"{path / 'config.json'} names no architecture; re-save the model.")
    cls = _OWN_CLASSES.get(names[0]) or getattr(transformers, names[0], None)
    if not (isinstance(cls, type) and issubclass(cls, PreTrainedModel)):
        raise ValueError(f"Unknown architecture {names[0]!r} in {path / 'config.json'}.")
    model = cls.from_pretrained(path, config=config, **kwargs)
    return model.eval()
