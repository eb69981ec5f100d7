"""dm_bridge — Whop direct messages for Django projects."""

__version__ = "0.3.1"
