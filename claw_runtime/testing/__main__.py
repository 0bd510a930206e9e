"""``python -m claw_runtime.testing --script turns.json``: the standalone fake model server."""

from claw_runtime.testing.fake_server import main

main()
