"""Offline emulator of the VastCap solver API, with a siteverify endpoint for test sites.

Start one in-process with :func:`start_emulator`, or as a separate process with
``vastcaptcha emulator`` (see :mod:`scrapy_vastcaptcha.testing` for a launcher).
"""

from .config import EmulatorConfig
from .server import RunningEmulator, start_emulator
from .state import EmulatorState
from .tokens import image_answer

__all__ = ["EmulatorConfig", "EmulatorState", "RunningEmulator", "image_answer", "start_emulator"]
