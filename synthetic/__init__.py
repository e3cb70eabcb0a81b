"""Synthetic Boolean worlds: latents z, invertible observations x = ψ(z), proxy tasks g(z),
and exact Fourier–Walsh analysis."""

from synthetic.bits import cube, from_bool, from_index, to_bool, to_index
from synthetic.config import apply_overrides, from_dict, load_config, load_yaml, to_dict
from synthetic.fourier import (
    coefficients,
    conditional_degree,
    degree,
    fwht,
    ifwht,
    level_weights,
    vector_degree,
)
from synthetic.observation import OBSERVATION_MAPS, ObservationMap, build_observation
from synthetic.registry import Registry, UnknownNameError
from synthetic.task_degrees import degree_in_x, fourier_report
from synthetic.task_families import TASK_FAMILIES
from synthetic.tasks import TaskSet, TaskSpec
from synthetic.world import REDUNDANCY, World, WorldSpec

__all__ = [
    "OBSERVATION_MAPS",
    "REDUNDANCY",
    "TASK_FAMILIES",
    "ObservationMap",
    "Registry",
    "TaskSet",
    "TaskSpec",
    "UnknownNameError",
    "World",
    "WorldSpec",
    "apply_overrides",
    "build_observation",
    "coefficients",
    "conditional_degree",
    "cube",
    "degree",
    "degree_in_x",
    "fourier_report",
    "from_bool",
    "from_dict",
    "from_index",
    "fwht",
    "ifwht",
    "level_weights",
    "load_config",
    "load_yaml",
    "to_bool",
    "to_dict",
    "to_index",
    "vector_degree",
]
