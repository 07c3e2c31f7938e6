"""Configuration: the schema (pydantic) and the TOML files a deployment edits."""

from config.schema import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "Settings", "load_settings"]
