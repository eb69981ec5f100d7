pytest_plugins = ["dm_bridge.testing"]
