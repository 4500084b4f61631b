"""Configuration: typed defaults <- experiment YAML <- command-line overrides, validated and frozen."""
from common.config.defaults import Config
from common.config.loader import ConfigError, config_from_dict, load_config, save_config, to_dict

__all__ = ["Config", "ConfigError", "config_from_dict", "load_config", "save_config", "to_dict"]
