"""Package layout only; all metadata lives in pyproject.toml.

`plugins/` is installed as `zoo_plugins`, so the wheel claims no generic top-level
import name (`plugins`, `cli`); `cli.py` stays a checkout-only convenience.
"""
from setuptools import find_packages, setup

plugin_packages = ["zoo_plugins"] + [f"zoo_plugins.{p}" for p in find_packages("plugins")]
setup(
    packages=find_packages(include=["zoo", "zoo.*"]) + plugin_packages,
    package_dir={"zoo_plugins": "plugins"},
)
