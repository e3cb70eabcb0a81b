"""Models: the MLP baseline, stock transformers with task heads, and plain LM / MLM models.

A `ModelConfig` in, a `PreTrainedModel` out; a checkpoint directory or Hub id in, the
loaded model, tokenizer and spec out. Read `factory.py` first (`build_model`), then
`checkpoints.py` (`load_checkpoint`).

Importing this package registers `MLPConfig`/`MLPModel` ("probekit-mlp") and
`TaskHeadsConfig`/`TaskHeadsModel` ("probekit-task-heads") with `AutoConfig` and
`AutoModel`, so `AutoModel.from_pretrained(run_dir / "final")` loads them without remote code.

Model kinds (`ModelConfig.kind`), the data formats each trains on (`synthetic.sequences`,
preferred first) and the batch columns it reads (`model_input_names(kind)`; each is a dataset
column and a forward keyword argument, so a loop can call `model(**batch)`):

| kind       | model                                  | data format            | inputs      | target    | `representation_dim` |
|------------|----------------------------------------|------------------------|-------------|-----------|----------------------|
| `mlp`      | `MLPModel`                             | `array`                | `x` (B, m)  | `targets` | yes                  |
| `gpt2`     | `TaskHeadsModel` on `GPT2Model`, SEP   | `multitask`            | `input_ids` | `targets` | yes                  |
| `llama`    | `TaskHeadsModel` on `LlamaModel`, SEP  | `multitask`            | `input_ids` | `targets` | yes                  |
| `bert`     | `TaskHeadsModel` on `BertModel`, CLS   | `encoder`, `multitask` | `input_ids` | `targets` | yes                  |
| `gpt2-lm`  | `GPT2LMHeadModel`                      | `qa`, `qa_isolated`    | `input_ids` | `labels`  | no (ValueError)      |
| `llama-lm` | `LlamaForCausalLM`                     | `qa`, `qa_isolated`    | `input_ids` | `labels`  | no (ValueError)      |
| `bert-mlm` | `BertForMaskedLM`, answers at MASK     | `encoder`              | `input_ids` | `labels`  | no (ValueError)      |

`ModelConfig.representation_dim = D` (default None: no such layer, the model is exactly what
it is without the option) gives the theory's representation Φ: X → Z of exactly D units (D =
d asks whether it is z up to permutation and sign, docs/theory.md §1, §6): shared trunk (the
MLP's ReLU layers; a transformer's hidden state at its readout position, SEP / CLS) -> a
linear layer of D units, no activation -> a ReLU decoder of `decoder_layers` (default 2)
layers of `hidden` units shared by all tasks (the tasks are non-linear in z, so linear heads
on d units could not fit them) -> the per-task linear heads. The forward returns the D units
as `representation` (B, D); they are the probe site `repr`, listed after `layer.L`.

`targets` (B, n_tasks) float gives the soft-margin loss for `target="sign"` (±1) and MSE for
`target="real"`; `labels` are token ids, -100 everywhere but the answer tokens. Task-head models
also take optional `attention_mask` and `readout_position` (B,): without a position, decoders
read the last attended token (SEP of `BOS x SEP`) and BERT reads index 0 (CLS).

Hidden states: `output_hidden_states=True` returns `n_layers + 1` states, named by
`hidden_state_names(model)` as `embed`, `layer.1`, ..., `layer.L` (its docstring says which
include the final norm), then `repr` for a model with a representation layer (the output's
`representation`, not one of the hidden states). `load_model(dir)` reloads any kind with its
own class (LM heads kept).

`qa_isolated` batches also carry `segment_ids` and `position_ids`; `isolation.forward_inputs`
turns the segments into the custom 4-D attention mask under which each answer sees only x
and its own query.
"""

from transformers import AutoConfig, AutoModel

from probekit.models.factory import (
    MODEL_KINDS,
    ModelConfig,
    build_model,
    data_format_for,
    has_representation_layer,
    hidden_state_name,
    hidden_state_names,
    model_input_names,
    model_kinds,
)
from probekit.models.loading import load_model
from probekit.models.mlp import MLPConfig, MLPModel
from probekit.models.outputs import TaskModelOutput, task_loss
from probekit.models.task_heads import TaskHeadsConfig, TaskHeadsModel

# exist_ok: re-importing (e.g. importlib.reload in a notebook) must not fail.
AutoConfig.register(MLPConfig.model_type, MLPConfig, exist_ok=True)
AutoModel.register(MLPConfig, MLPModel, exist_ok=True)
AutoConfig.register(TaskHeadsConfig.model_type, TaskHeadsConfig, exist_ok=True)
AutoModel.register(TaskHeadsConfig, TaskHeadsModel, exist_ok=True)

__all__ = [
    "MODEL_KINDS",
    "MLPConfig",
    "MLPModel",
    "ModelConfig",
    "TaskHeadsConfig",
    "TaskHeadsModel",
    "TaskModelOutput",
    "build_model",
    "data_format_for",
    "has_representation_layer",
    "hidden_state_name",
    "hidden_state_names",
    "load_model",
    "model_input_names",
    "model_kinds",
    "task_loss",
]
