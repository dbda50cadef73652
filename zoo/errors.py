"""Errors a user can cause. The CLI prints them as one line and exits with `exit_code`."""


class ZooError(Exception):
    """A problem with the user's input: one clear line, no traceback, exit code 2."""

    exit_code = 2


class UnknownModelError(ZooError, LookupError):
    """A model, family or tag name that no plugin provides."""


class ConfigError(ZooError, ValueError):
    """A config value, file or override that does not validate."""


class PluginError(ZooError):
    """A plugin whose manifest is invalid or whose code does not import."""
