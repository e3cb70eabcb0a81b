"""Published reference numbers a report sets beside a run, and the settings they apply to.

One concept: `references(config)` returns (quantity, value, source) for the settings
that docs/theory.md reports numbers for: the paper's Appendix D identification error
by task degree and number of tasks (§4), and the §5 feasibility checks of the MLP and
of GPT-2 on the same world. A run whose config does not match gets no reference.
"""

from __future__ import annotations

from probekit.theory.paper import PAPER_FINAL, SECTION5_GPT2, SECTION5_MLP

# docs/theory.md §4: the paper's Appendix D, final identification error read off the figure
# (task degree k -> {n tasks: error}); its exact definition is unpublished.
APPENDIX_D = PAPER_FINAL


def references(config: dict) -> list[tuple[str, float, str]]:
    """(quantity, reference value, source) for the settings docs/theory.md §4/§5 report."""
    world, tasks, model = config.get("world", {}), config.get("tasks", {}), config.get("model", {})
    n, k, out = tasks.get("n"), tasks.get("k"), []
    walsh = tasks.get("family") == "walsh" and tasks.get("target", "sign") == "sign"
    if walsh and n in APPENDIX_D.get(k, {}):
        src = "paper, Appendix D (read off the figure; an MSE of unpublished definition and scale)"
        out.append(("identification_error", APPENDIX_D[k][n], src))
    same_world = walsh and k == 2 and world.get("d") == 10 and world.get("m") in (None, 10)
    obs = world.get("observation")
    mlp = model.get("kind") == "mlp" and model.get("hidden") == 256 and model.get("n_layers") == 3
    if same_world and mlp and n in SECTION5_MLP.get(obs, {}):
        src = "docs/theory.md §5 feasibility check (4000 steps, batch 256)"
        out.append(("probe_acc_z", SECTION5_MLP[obs][n], src))
    if (
        same_world
        and obs == "random_bijection"
        and model.get("kind") == "gpt2"
        and (model.get("hidden"), model.get("n_layers")) == (128, 4)
        and n in SECTION5_GPT2
    ):
        src = "docs/theory.md §5, GPT-2 4x128 at SEP, best layer"
        out += [(key, value, src) for key, value in SECTION5_GPT2[n].items()]
    return out
