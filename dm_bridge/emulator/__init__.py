"""A local stand-in for the Whop REST API (and the elements runtime script).

Run it with ``python -m dm_bridge.emulator --port 8765``; drive it from tests through
:mod:`dm_bridge.testing`. The behaviour it implements, and where it departs from or guesses
at Whop's, is described in ``docs/emulator.md``.
"""

from dm_bridge.emulator.server import Emulator, EmulatorConfig, make_server

__all__ = ["Emulator", "EmulatorConfig", "make_server"]
