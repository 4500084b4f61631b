"""Configuration: typed defaults <- experiment YAML <- command-line overrides, validated and frozen."""
from common.config.defaults import Config
from common.config.errors import ConfigError
from common.config.loader import config_from_dict, load_config, save_config, to_dict
from common.config.plan import ExperimentPlan

__all__ = ["Config", "ConfigError", "ExperimentPlan", "config_from_dict", "load_config", "save_config", "to_dict"]
