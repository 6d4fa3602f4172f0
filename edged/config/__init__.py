"""edged's configuration: pydantic models for one YAML file, and its loader."""

from edged.config.base import EdgedModel
from edged.config.load import ConfigError, load_config, parse_config
from edged.config.root import Config, ConfigIssue

__all__ = ["Config", "ConfigError", "ConfigIssue", "EdgedModel", "load_config", "parse_config"]
