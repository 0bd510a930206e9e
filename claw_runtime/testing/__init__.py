"""Testing helpers that ship with claw: the fake model server and its scripts.

::

    from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server
"""

from claw_runtime.testing.fake_server import (
    FakeModelServer,
    RecordedRequest,
    open_fake_model_server,
    serve_fake_model,
)
from claw_runtime.testing.script import Fault, Script, ToolCallSpec, Turn, dump_script, load_script

__all__ = [
    "FakeModelServer",
    "Fault",
    "RecordedRequest",
    "Script",
    "ToolCallSpec",
    "Turn",
    "dump_script",
    "load_script",
    "open_fake_model_server",
    "serve_fake_model",
]
