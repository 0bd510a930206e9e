"""The commands a session can run now, from every source, in one table.

Registered commands (built-ins and plugins) come first; then each
:class:`~claw_runtime.commands.CommandLoader` in ascending ``order`` adds the
commands it finds (skills, then Markdown files), never replacing a name that is
already taken: a file in a cloned repository cannot turn ``/permissions`` or
``/help`` into a prompt of its own. What was left out is listed in ``/help``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs

from claw_runtime.commands import COMMAND_NAME, Command

if TYPE_CHECKING:
    from claw_runtime.sessions.session import Session

__all__ = ["CommandTable", "command_table"]


@attrs.frozen(kw_only=True)
class CommandTable:
    """Every command a session can run, by name, and what was shadowed."""

    commands: Mapping[str, Command]
    shadowed: tuple[tuple[Command, Command], ...] = ()
    """``(left out, the command that has its name)`` pairs."""

    def find(self, name: str) -> Command | None:
        """The command called ``name``; a bare name finds a namespaced one if only one has it.

        ``/component`` runs ``/frontend:component`` when no other command ends in
        ``:component`` (current Claude Code invokes namespaced commands by their
        bare name too).
        """
        found = self.commands.get(name)
        if found is not None or ":" in name:
            return found
        matches = [c for n, c in self.commands.items() if n.rsplit(":", 1)[-1] == name]
        return matches[0] if len(matches) == 1 else None


async def command_table(session: Session) -> CommandTable:
    """What ``/name`` can run in ``session`` now (loaders read the disk, in threads)."""
    runtime = session.runtime
    host = runtime.host
    commands: dict[str, Command] = {
        name: command
        for name, command in runtime.registry.commands.items()
        if host.is_active(command.plugin)
    }
    shadowed: list[tuple[Command, Command]] = []
    for loader in sorted(runtime.registry.command_loaders, key=lambda item: item.order):
        if not host.is_active(loader.plugin):
            continue
        try:
            loaded = await loader.load(session)
        except Exception as exc:  # a broken loader is reported like any failing plugin
            host.fail(loader.plugin or loader.name, "command_loader", exc)
            continue
        for command in loaded:
            if not COMMAND_NAME.fullmatch(command.name):
                continue
            command = attrs.evolve(command, plugin=loader.plugin)
            taken = commands.get(command.name)
            if taken is not None:
                shadowed.append((command, taken))
                continue
            commands[command.name] = command
    return CommandTable(commands=dict(sorted(commands.items())), shadowed=tuple(shadowed))
