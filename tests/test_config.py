from dataclasses import dataclass, field

import pytest

from synthetic.config import (
    apply_overrides,
    from_dict,
    load_config,
    load_yaml,
    to_dict,
    write_atomic,
)
from synthetic.registry import UnknownNameError
from synthetic.tasks import TaskSpec
from synthetic.world import WorldSpec


@dataclass(frozen=True)
class Experiment:
    world: WorldSpec = field(default_factory=WorldSpec)
    tasks: TaskSpec = field(default_factory=TaskSpec)
    name: str = "run"
    lr: float = 1e-3
    tags: list[str] = field(default_factory=list)


def test_nested_roundtrip():
    exp = Experiment(world=WorldSpec(d=5, m=7), tasks=TaskSpec(n=3, k=2), lr=2, tags=["a"])
    data = to_dict(exp)
    assert data["world"]["d"] == 5 and data["lr"] == 2
    back = from_dict(Experiment, data)
    assert back == exp and isinstance(back.lr, float)


def test_unknown_key_lists_known_keys():
    with pytest.raises(ValueError) as err:
        from_dict(Experiment, {"world": {"dd": 3}})
    msg = str(err.value)
    assert msg.startswith("Unknown key 'world.dd'. Known keys: d, m, observation")


def test_wrong_types():
    with pytest.raises(ValueError, match="'world.d': expected int, got str 'ten'"):
        from_dict(Experiment, {"world": {"d": "ten"}})
    with pytest.raises(ValueError, match="'lr': expected float"):
        from_dict(Experiment, {"lr": "fast"})
    with pytest.raises(ValueError, match="'world.d': expected int, got bool"):
        from_dict(Experiment, {"world": {"d": True}})
    with pytest.raises(ValueError, match="'tags': expected a list"):
        from_dict(Experiment, {"tags": "a"})
    with pytest.raises(ValueError, match="'world': expected a mapping"):
        from_dict(Experiment, {"world": 3})


def test_spec_validation_errors_say_where():
    with pytest.raises(ValueError, match="In 'world': WorldSpec.d must be a positive"):
        from_dict(Experiment, {"world": {"d": 0}})
    with pytest.raises(UnknownNameError, match="In 'world'.*Unknown observation map 'x'"):
        from_dict(Experiment, {"world": {"observation": "x"}})


def test_missing_required_key():
    @dataclass
    class Needs:
        a: int

    with pytest.raises(ValueError, match="Missing key 'a'"):
        from_dict(Needs, {})


def test_overrides():
    data = {"world": {"d": 4}, "name": "x"}
    out = apply_overrides(
        data, ["world.d=12", "world.m=null", "tasks.k=3", "name=run 2", "lr=1e-4"]
    )
    assert out == {"world": {"d": 12, "m": None}, "tasks": {"k": 3}, "name": "run 2", "lr": 1e-4}
    assert data == {"world": {"d": 4}, "name": "x"}  # input untouched
    exp = from_dict(Experiment, out)
    assert exp.world.d == 12 and exp.tasks.k == 3 and exp.lr == 1e-4
    with pytest.raises(ValueError, match="key=value"):
        apply_overrides(data, ["world.d"])
    with pytest.raises(ValueError, match="'world.d' holds a int"):
        apply_overrides(data, ["world.d.x=1"])
    with pytest.raises(ValueError, match="Unknown key 'world.dd'"):
        from_dict(Experiment, apply_overrides(data, ["world.dd=3"]))


def test_yaml_load_config(tmp_path):
    path = tmp_path / "exp.yaml"
    write_atomic(path, "world:\n  d: 6\n  observation: gf2_linear\ntasks:\n  n: 8\n")
    exp = load_config(
        Experiment, path, ["tasks.k=1", "world.latent_bias=[0.5, 0.5, 0.5, 0.5, 0.5, 0.2]"]
    )
    assert exp.world.observation == "gf2_linear" and exp.tasks.n == 8 and exp.tasks.k == 1
    assert exp.world.latent_bias[-1] == 0.2
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind
    empty = tmp_path / "empty.yaml"
    write_atomic(empty, "")
    assert load_yaml(empty) == {}
    write_atomic(empty, "- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping at the top level"):
        load_yaml(empty)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_yaml(tmp_path / "missing.yaml")


def test_scientific_notation_without_dot_is_a_float(tmp_path):
    path = tmp_path / "exp.yaml"
    write_atomic(path, "lr: 3e-4\n")
    assert load_config(Experiment, path).lr == 3e-4
    assert from_dict(Experiment, {"lr": "5E2"}).lr == 500.0
    with pytest.raises(ValueError, match="'name': expected str, got float"):
        load_config(Experiment, path, ["name=1e3"])


def test_probe_config_reads_the_retired_recoding_control_as_the_alternative_basis():
    # Specs saved before the alternative-basis control name `recoding`; they still load.
    from probekit.config import ProbeConfig

    cfg = ProbeConfig(controls=("random_init", "recoding", "alt_basis"))
    assert cfg.controls == ("random_init", "alt_basis")
    with pytest.raises(ValueError, match="Available: random_init, input, alt_basis"):
        ProbeConfig(controls=("bijection",))
