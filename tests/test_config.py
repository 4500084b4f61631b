"""Known answers for the config system: defaults <- YAML <- opts, validation, freezing, round trips."""
import dataclasses

import pytest

from common.config import Config, ConfigError, config_from_dict, load_config, save_config, to_dict


def test_defaults_without_file():
    cfg = load_config(None, [])
    assert cfg == Config()
    assert cfg.train.lr == 1e-4 and cfg.train.lr_steps == (7,) and cfg.data.synthetic.occlusion_strata == (0.1, 0.3)


def test_unknown_key_suggests_nearest():
    with pytest.raises(ConfigError, match=r"train\.lrr: unknown key 'lrr'; did you mean 'lr'\?"):
        load_config(None, ["train.lrr=0.1"])
    with pytest.raises(ConfigError, match="did you mean 'train'"):
        load_config(None, ["trian.lr=0.1"])


def test_unknown_key_in_yaml_names_the_file(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("train:\n  epoch: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and "did you mean 'epochs'" in str(err.value)


@pytest.mark.parametrize("opt, message", [
    ("train.epochs=abc", "expected an integer"),
    ("train.epochs=2.5", "expected an integer"),
    ("train.amp=1", "expected true/false"),
    ("train.lr=fast", "expected a number"),
    ("train=3", "expected a mapping"),
    ("train.loss=3", "train.loss: expected a mapping"),
    ("data.input_size=250", "multiple of 32"),
    ("sefd.mode=teachr", "not one of"),
])
def test_wrong_types_and_values(opt, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [opt])


def test_yaml_then_opts_precedence(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("train:\n  lr: 1e-3\n  epochs: 5\n  lr_steps: [2, 4]\nexperiment:\n  name: yaml_name\n")
    cfg = load_config(path, ["train.lr=0.5", "experiment.name=cli_name"])
    assert cfg.train.lr == 0.5  # opts beat YAML
    assert cfg.train.epochs == 5 and cfg.train.lr_steps == (2, 4)  # YAML beats defaults
    assert cfg.experiment.name == "cli_name"
    assert cfg.train.weight_decay == 0.0  # untouched default
    assert load_config(path).train.lr == 1e-3  # YAML 1.1 '1e-3' read as a float


def test_opts_parse_lists_and_scalars():
    cfg = load_config(None, ["data.train_sets=[synthetic, muco]", "data.train_weights=[0.5, 0.5]",
                             "train.lr=1e-4", "experiment.seed=7"])
    assert cfg.data.train_sets == ("synthetic", "muco") and cfg.data.train_weights == (0.5, 0.5)
    assert cfg.train.lr == 1e-4 and cfg.experiment.seed == 7


def test_frozen():
    cfg = load_config(None, ["data.roots={synthetic: /x}"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.lr = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError, match="frozen"):
        cfg.data.roots["other"] = "/y"


def test_save_load_round_trip(tmp_path):
    cfg = load_config(None, ["train.lr=0.003", "train.lr_steps=[3, 6]", "data.roots={synthetic: /data/s}",
                             "experiment.name=rt"])
    save_config(cfg, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert again == cfg
    assert config_from_dict(to_dict(cfg)) == cfg
    assert to_dict(cfg)["train"]["lr_steps"] == [3, 6]
