"""The built-in context: memory files, their imports, sub-directories, the git snapshot.

Sessions run through the real loop against the fake model server, and the tests
assert on what the server received: the system prompt of each request, and, for
the hostile repositories, that a secret appears in no request at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio

from claw_runtime.config.settings import Settings
from claw_runtime.context._inline import InlineWhileFast
from claw_runtime.context.memory import MAX_IMPORT_DEPTH, find_imports
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.runtime import open_runtime
from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server
from claw_runtime.testing.fake_server import FakeModelServer

from _harness import claw_env, require_binary, run_claw

SECRET = "SECRET-d41d8cd98f00b204e980"


def _environ(tmp_path: Path, server: FakeModelServer) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "CLAUDE_CONFIG_DIR": str(tmp_path / "home" / ".claude"),
        "CLAW_CONFIG_DIR": str(tmp_path / "home" / ".claw"),
        "ANTHROPIC_BASE_URL": server.base_url,
        "ANTHROPIC_API_KEY": "test-key",
    }


async def run_session(
    tmp_path: Path,
    cwd: Path,
    turns: Sequence[Turn] = (Turn.say("ok"),),
    prompts: Sequence[str] = ("hi",),
    permission_mode: str = "default",
) -> tuple[FakeModelServer, list[str]]:
    """Run ``prompts`` in one session in ``cwd``; the server and each run's result text."""
    results = []
    async with open_fake_model_server(Script(list(turns))) as server:
        environ = _environ(tmp_path, server)
        with trio.fail_after(60):
            async with (
                open_runtime(Settings(), environ=environ, no_plugins=True) as runtime,
                runtime.open_session(
                    cwd=cwd, persist=False, permission_mode=permission_mode
                ) as session,
            ):
                for prompt in prompts:
                    result = await session.run(prompt)
                    assert not result.is_error, result.result
                    results.append(result.result)
    return server, results


def system_of(server: FakeModelServer, index: int = 0) -> str:
    messages = [r for r in server.requests if r.path.endswith("/messages")]
    return "".join(block["text"] for block in messages[index].body["system"])


def everything_sent(server: FakeModelServer) -> bytes:
    return b"\n".join(orjson.dumps(r.body) for r in server.requests)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def fake_repository(root: Path) -> Path:
    """A directory git would call a repository root (the memory search only looks for .git)."""
    (root / ".git").mkdir(parents=True)
    return root


def trust(tmp_path: Path, directory: Path) -> None:
    write(tmp_path / "home" / ".claw" / "trusted-projects.json", json.dumps([str(directory)]))


def positions(text: str, markers: Sequence[str]) -> list[int]:
    found = [text.find(m) for m in markers]
    assert -1 not in found, [m for m, at in zip(markers, found, strict=True) if at == -1]
    return found


# ------------------------------------------------------------------ discovery


async def test_memory_files_user_dirs_then_repo_root_down_to_cwd_and_not_above(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    write(home / ".claude" / "CLAUDE.md", "USER-CLAUDE")
    write(home / ".claw" / "CLAW.md", "USER-CLAW")
    write(tmp_path / "CLAUDE.md", "ABOVE-THE-REPOSITORY")
    repo = fake_repository(tmp_path / "repo")
    write(repo / "CLAUDE.md", "REPO-CLAUDE")
    write(repo / "AGENTS.md", "REPO-AGENTS")
    work = repo / "packages" / "api"
    write(work / "CLAUDE.md", "API-CLAUDE")
    write(work / "CLAW.md", "API-CLAW")
    write(work / "CLAUDE.local.md", "API-LOCAL")
    write(repo / "packages" / "web" / "CLAUDE.md", "SIBLING-WEB")

    server, _ = await run_session(tmp_path, work)

    system = system_of(server)
    order = positions(
        system,
        ["USER-CLAUDE", "USER-CLAW", "REPO-CLAUDE", "REPO-AGENTS", "API-CLAUDE", "API-CLAW"],
    )
    assert order == sorted(order)
    assert order[-1] < system.find("API-LOCAL")  # the personal file last
    assert "ABOVE-THE-REPOSITORY" not in system
    assert "SIBLING-WEB" not in system
    assert f"Contents of {repo / 'AGENTS.md'} (project instructions)" in system
    assert f"Contents of {work / 'CLAUDE.local.md'} (the user's private instructions" in system


async def test_outside_a_repository_only_the_working_directory_is_read(tmp_path: Path) -> None:
    write(tmp_path / "CLAUDE.md", "PARENT-DIRECTORY")
    work = tmp_path / "work"
    write(work / "AGENTS.md", "WORK-AGENTS")

    server, _ = await run_session(tmp_path, work)

    system = system_of(server)
    assert "WORK-AGENTS" in system
    assert "PARENT-DIRECTORY" not in system
    assert "Is a git repository: no" in system


# ------------------------------------------------------------------ imports


def test_find_imports_skips_code_and_mail_addresses() -> None:
    text = "\n".join(
        [
            "See @docs/style.md and @./a.md, then @~/notes.md or @/etc/abs.md.",
            "Mail me at someone@example.com; see `@in/span.md` or ``@double `x` span``.",
            "```",
            "@in/fence.md",
            "```",
            "~~~~",
            "@in/tilde-fence.md",
            "```",
            "still @in/tilde-fence-2.md",
            "~~~~",
            r"Escaped @my\ notes.md and @@weird and a lone @ sign and @#hash.",
            "@last.md",
        ]
    )
    assert find_imports(text) == [
        "docs/style.md",
        "./a.md,",  # trailing punctuation is dropped when the file as spelled is missing
        "~/notes.md",
        "/etc/abs.md.",
        "my notes.md",
        "last.md",
    ]


async def test_imports_relative_nested_depth_limited_cycles_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home / "personal.md", "PERSONAL-NOTES")
    write(home / ".claude" / "CLAUDE.md", "Mine: @~/personal.md")
    repo = fake_repository(tmp_path / "repo")
    write(
        repo / "CLAUDE.md",
        "Style: @docs/style.md.\n"  # relative, with the sentence's full stop
        "Chain: @chain/0.md\n"
        "Loop: @loop/a.md\n"
        "Not this: `@docs/in-span.md`\n"
        "```\n@docs/in-fence.md\n```\n"
        "Gone: @docs/missing.md\n",
    )
    write(repo / "docs" / "style.md", "STYLE-GUIDE, and see @../shared/nested.md")
    write(repo / "shared" / "nested.md", "NESTED-IMPORT")
    write(repo / "docs" / "in-span.md", "IN-SPAN")
    write(repo / "docs" / "in-fence.md", "IN-FENCE")
    for level in range(MAX_IMPORT_DEPTH + 2):
        write(repo / "chain" / f"{level}.md", f"LEVEL-{level} @{level + 1}.md")
    write(repo / "loop" / "a.md", "LOOP-A @b.md")
    write(repo / "loop" / "b.md", "LOOP-B @a.md")

    server, _ = await run_session(tmp_path, repo)

    system = system_of(server)
    for marker in ("PERSONAL-NOTES", "STYLE-GUIDE", "NESTED-IMPORT", "LOOP-A", "LOOP-B"):
        assert system.count(marker) == 1, marker
    assert f"Contents of {repo / 'docs' / 'style.md'} (imported by {repo / 'CLAUDE.md'})" in system
    # CLAUDE.md -> 0 is the first hop: levels 0..4 are hops 1..5, level 5 would be the sixth.
    for level in range(MAX_IMPORT_DEPTH):
        assert f"LEVEL-{level} " in system
    assert f"LEVEL-{MAX_IMPORT_DEPTH} " not in system
    assert f"@{MAX_IMPORT_DEPTH}.md was not imported: imports nest deeper than 5" in system
    assert "@a.md was not imported: it is already on this import chain (a cycle)" in system
    assert "IN-SPAN" not in system and "IN-FENCE" not in system
    assert "missing.md was not" not in system  # left out quietly (logged, and in /memory)


async def test_a_hostile_repository_cannot_import_a_secret_from_outside(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home / ".ssh" / "id_rsa", f"{SECRET}-ssh-key")
    outside = write(tmp_path / "elsewhere" / "secret.txt", f"{SECRET}-outside")
    repo = fake_repository(tmp_path / "repo")
    write(
        repo / "CLAUDE.md",
        "HOSTILE-CLAUDE\n@~/.ssh/id_rsa\n@../elsewhere/secret.txt\n"
        f"@{outside}\n@link/secret.txt\n@inside.md\n",
    )
    write(repo / "inside.md", "INSIDE-IMPORT @../elsewhere/secret.txt")
    (repo / "link").symlink_to(tmp_path / "elsewhere")
    (repo / "AGENTS.md").symlink_to(home / ".ssh" / "id_rsa")  # a memory file that is a link
    sub = repo / "sub"
    sub.mkdir()
    (sub / "CLAUDE.md").symlink_to(outside)
    write(sub / "code.py", "print('hi')\n")
    turns = [Turn.call(ToolCallSpec("Read", {"file_path": str(sub / "code.py")})), Turn.say("ok")]

    server, _ = await run_session(tmp_path, repo, turns)

    assert SECRET.encode() not in everything_sent(server)
    system = system_of(server, -1)
    assert "HOSTILE-CLAUDE" in system and "INSIDE-IMPORT" in system  # the rest still works
    refused = "was not imported: outside the project, which you have not trusted"
    assert system.count(refused) == 5, system

    # The same files once the user trusts the project: the rule is trust, not a broken import.
    trust(tmp_path, repo)
    server, _ = await run_session(tmp_path, repo)
    assert f"{SECRET}-outside" in system_of(server)


async def test_a_user_memory_file_may_import_from_anywhere_but_not_through_the_project(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    write(tmp_path / "notes" / "mine.md", "MY-OWN-NOTES")
    write(home / ".ssh" / "id_rsa", SECRET)
    repo = fake_repository(tmp_path / "repo")
    write(home / ".claude" / "CLAUDE.md", f"@{tmp_path / 'notes' / 'mine.md'}\n@{repo / 'team.md'}")
    write(repo / "team.md", "TEAM-FILE @~/.ssh/id_rsa")  # the project's file, reached via the user

    server, _ = await run_session(tmp_path, repo)

    system = system_of(server)
    assert "MY-OWN-NOTES" in system and "TEAM-FILE" in system
    assert SECRET.encode() not in everything_sent(server)


async def test_a_home_directory_kept_in_git_is_no_boundary_for_imports(tmp_path: Path) -> None:
    home = fake_repository(tmp_path / "home")  # dotfiles in git
    write(home / ".ssh" / "id_rsa", SECRET)
    write(home / "CLAUDE.md", "HOME-REPOSITORY-RULES @.ssh/id_rsa")
    project = home / "downloads" / "project"
    write(project / "CLAUDE.md", "DOWNLOADED @../../.ssh/id_rsa")

    server, _ = await run_session(tmp_path, project)

    system = system_of(server)
    assert "HOME-REPOSITORY-RULES" in system and "DOWNLOADED" in system
    assert SECRET.encode() not in everything_sent(server)
    assert system.count("was not imported: outside the project") == 2


# ------------------------------------------------------------------ sub-directories


async def test_sub_directory_memory_joins_after_a_file_tool_works_there(tmp_path: Path) -> None:
    repo = fake_repository(tmp_path / "repo")
    write(repo / "CLAUDE.md", "ROOT-RULES")
    write(repo / "services" / "AGENTS.md", "SERVICES-RULES")
    write(repo / "services" / "api" / "CLAUDE.md", "API-RULES @conventions.md")
    write(repo / "services" / "api" / "conventions.md", "API-CONVENTIONS")
    target = write(repo / "services" / "api" / "handler.py", "def handle(): ...\n")
    worker = repo / "services" / "worker"
    write(worker / "CLAUDE.md", "WORKER-RULES")
    turns = [
        Turn.call(ToolCallSpec("Read", {"file_path": str(target)})),
        Turn.call(ToolCallSpec("Read", {"file_path": "services/api/handler.py"})),
        Turn.call(ToolCallSpec("Read", {"file_path": str(worker / "missing.py")})),
        Turn.call(ToolCallSpec("Write", {"file_path": str(worker / "new.py"), "content": "x\n"})),
        Turn.say("done"),
    ]

    server, _ = await run_session(tmp_path, repo, turns, permission_mode="acceptEdits")

    before, after, again, failed, written = (system_of(server, i) for i in range(5))
    assert "ROOT-RULES" in before
    assert "SERVICES-RULES" not in before and "API-RULES" not in before
    positions(after, ["ROOT-RULES", "SERVICES-RULES", "API-RULES", "API-CONVENTIONS"])
    assert after.count("API-RULES") == 1 and again == after  # once each
    assert (
        f"Contents of {repo / 'services' / 'api' / 'CLAUDE.md'} "
        "(instructions for files in this directory)" in after
    )
    assert "WORKER-RULES" not in after  # a sibling directory nobody worked in
    assert failed == after  # a Read that failed worked nowhere
    assert (worker / "new.py").exists()
    assert "WORKER-RULES" in written and written.count("SERVICES-RULES") == 1


# ------------------------------------------------------------------ /memory


async def test_memory_command_lists_the_files_the_prompt_uses(tmp_path: Path) -> None:
    repo = fake_repository(tmp_path / "repo")
    write(repo / "CLAUDE.md", "@AGENTS.md\n@docs/more.md\n@~/.ssh/id_rsa\n")
    write(repo / "AGENTS.md", "shared agent rules")
    write(repo / "docs" / "more.md", "more")
    write(tmp_path / "home" / ".ssh" / "id_rsa", SECRET)

    server, [report] = await run_session(tmp_path, repo, turns=[], prompts=["/memory"])

    assert server.requests == []
    lines = report.splitlines()
    assert f"  {repo / 'CLAUDE.md'}  (project, " in lines[1]
    assert f"    {repo / 'AGENTS.md'}  (imported, 18 bytes)" in lines
    assert f"    {repo / 'docs' / 'more.md'}  (imported, 4 bytes)" in lines
    assert report.count(str(repo / "AGENTS.md")) == 1  # imported, so not listed again
    assert "@~/.ssh/id_rsa in " in report and "not trusted" in report
    assert SECRET not in report


# ------------------------------------------------------------------ git


def git(cwd: Path, *args: str) -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def git_repository(root: Path) -> Path:
    require_binary("git")
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    write(root / "a.txt", "one\n")
    git(root, "add", "a.txt")
    git(root, "commit", "-q", "-m", "First commit")
    write(root / "a.txt", "two\n")
    git(root, "commit", "-q", "-am", "Second: change a")
    git(root, "checkout", "-q", "-b", "feature/context")
    return root


async def test_the_environment_has_the_git_branch_status_and_recent_commits(
    tmp_path: Path,
) -> None:
    repo = git_repository(tmp_path / "repo")
    write(repo / "a.txt", "three\n")
    for n in range(45):
        write(repo / f"new-{n:02}.txt", "x")

    server, _ = await run_session(tmp_path, repo)

    system = system_of(server)
    assert "Is a git repository: yes" in system
    assert "Current branch: feature/context" in system
    assert "Main branch (usually the base for pull requests): main" in system
    status = system[system.index("Status:") : system.index("Recent commits:")].splitlines()
    assert " M a.txt" in status and "?? new-00.txt" in status
    assert len([line for line in status if line.startswith(("?? ", " M "))]) == 40
    assert "... and 6 more (run git status to see them all)" in status
    commits = system[system.index("Recent commits:") :].splitlines()[1:3]
    assert [c.split(" ", 1)[1] for c in commits] == ["Second: change a", "First commit"]


async def test_git_runs_none_of_an_untrusted_repository_s_programs(tmp_path: Path) -> None:
    repo = git_repository(tmp_path / "repo")
    marker = tmp_path / "PWNED"
    program = write(tmp_path / "evil.sh", f"#!/bin/sh\ntouch {marker}-$1\ncat\n")
    program.chmod(0o755)
    write(repo / ".gitattributes", "*.txt filter=evil\n")
    git(repo, "config", "filter.evil.clean", f"{program} clean")
    git(repo, "config", "core.fsmonitor", f"{program} fsmonitor")
    git(repo, "config", "log.showSignature", "true")
    git(repo, "config", "gpg.program", f"{program} gpg")
    # Same size, new mtime: git must hash a.txt again, through the clean filter.
    os.utime(repo / "a.txt", (1, 1))
    write(repo / "a.txt", "tw0\n")

    server, _ = await run_session(tmp_path, repo)

    assert "Current branch: feature/context" in system_of(server)
    assert not list(tmp_path.glob("PWNED*"))
    # The trap is real: the same git status outside claw runs the filter.
    git(repo, "status", "--porcelain")
    assert list(tmp_path.glob("PWNED*"))


async def test_no_git_process_for_version_or_tools_call_but_a_run_has_one(
    tmp_path: Path,
) -> None:
    git_repository(tmp_path / "repo")
    repo = tmp_path / "repo"
    shim = tmp_path / "shim"
    calls = tmp_path / "git-calls.txt"
    real_git = require_binary("git")
    write(shim / "git", f'#!/bin/sh\necho "$@" >> {calls}\nexec {real_git} "$@"\n').chmod(0o755)
    async with open_fake_model_server(Script([Turn.say("hello")])) as server:
        env = claw_env(tmp_path, server, PATH=f"{shim}:{os.environ['PATH']}")
        version = await run_claw(["--version"], repo, env)
        tool = await run_claw(
            ["tools", "call", "Read", "--input", json.dumps({"file_path": "a.txt"})], repo, env
        )
        assert version.returncode == 0 and tool.returncode == 0, tool.stderr
        assert not calls.exists()
        run = await run_claw(["-p", "hi"], repo, env)
    assert run.returncode == 0, run.stderr.decode()
    assert "status --porcelain" in calls.read_text()


async def test_without_git_the_environment_still_says_it_is_a_repository(tmp_path: Path) -> None:
    repo = fake_repository(tmp_path / "repo")
    async with open_fake_model_server(Script([Turn.say("ok")])) as server:
        environ = _environ(tmp_path, server) | {"PATH": str(tmp_path / "empty-path")}
        async with (
            open_runtime(Settings(), environ=environ, no_plugins=True) as runtime,
            runtime.open_session(cwd=repo, persist=False) as session,
        ):
            result = await session.run("hi")
    assert not result.is_error
    system = system_of(server)
    assert "Is a git repository: yes" in system and "Current branch" not in system


async def test_an_embedder_s_trusted_directories_open_the_import_rule(tmp_path: Path) -> None:
    """Trust decided in code (``Settings(trusted_directories=...)``) counts as the user's."""
    outside = write(tmp_path / "elsewhere" / "notes.txt", "SHARED-NOTES from outside")
    repo = fake_repository(tmp_path / "repo")
    write(repo / "CLAUDE.md", f"PROJECT-MEMORY\n@{outside}\n")

    async def system_with(settings: Settings) -> str:
        async with open_fake_model_server(Script([Turn.say("ok")])) as server:
            with trio.fail_after(60):
                async with (
                    open_runtime(
                        settings, environ=_environ(tmp_path, server), no_plugins=True
                    ) as runtime,
                    runtime.open_session(cwd=repo, persist=False) as session,
                ):
                    await session.run("hi")
        return system_of(server)

    untrusted = await system_with(Settings())
    assert "PROJECT-MEMORY" in untrusted and "SHARED-NOTES" not in untrusted
    assert "which you have not trusted" in untrusted
    trusted = await system_with(Settings(trusted_directories=[str(repo)]))
    assert "SHARED-NOTES from outside" in trusted
    assert not (tmp_path / "home" / ".claw" / "trusted-projects.json").exists()  # in code only


# ------------------------------------------------------------ one thread per session


async def test_a_session_reads_its_context_files_in_one_worker_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory, environment, skills and agent files are read in one hand-off to a thread
    before the first prompt, not one each: a hand-off costs about 0.25 ms of CPU, which
    1,000 concurrent sessions notice. Later prompts need none."""
    repo = tmp_path / "project"  # no repository: git would hand its processes to threads
    write(repo / "CLAUDE.md", "Use tabs.")
    write(
        repo / ".claude" / "skills" / "lint" / "SKILL.md",
        "---\nname: lint\ndescription: Lint it.\n---\nRun it.",
    )
    write(
        repo / ".claude" / "agents" / "critic.md",
        "---\nname: critic\ndescription: Criticise.\n---\nBe harsh.",
    )
    trust(tmp_path, repo)
    hops: list[str] = []
    hand_off = trio.to_thread.run_sync

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(fn, "__qualname__", repr(fn)))
        return await hand_off(fn, *args, **kwargs)

    monkeypatch.setattr(trio.to_thread, "run_sync", counted)
    server, _ = await run_session(tmp_path, repo, [Turn.say("one"), Turn.say("two")], ["a", "b"])
    system = system_of(server)
    assert "Use tabs." in system and "lint: Lint it." in system and "critic: Criticise." in system
    assert system_of(server, 1) == system
    assert hops == ["InlineWhileFast._timed"]  # the processors' prepare, all in one


async def test_once_a_prepare_proved_quick_later_sessions_prepare_in_place(
    tmp_path: Path,
) -> None:
    """Only a run's first prepare goes to a worker thread: in a thread, each of the few
    dozen file checks must win the GIL back from the busy event loop, which cost 1,000
    concurrent sessions more than the checks themselves (docs/performance.md)."""
    from claw_runtime.context.processors import ContextProcessor, PromptContext
    from claw_runtime.tooling import SessionState

    prepared_in: list[int] = []

    class Recorder:
        @staticmethod
        def _prepare(state: SessionState) -> None:
            prepared_in.append(threading.get_ident())
            state.extras["recorder.prepared"] = True

        @staticmethod
        async def _process(context: PromptContext) -> None:
            if context.session.extras.get("recorder.prepared"):
                context.system_sections.append("RECORDER PREPARED")

        @hookimpl
        def register_context_processors(self, register: Any) -> None:
            register(ContextProcessor(name="rec", process=self._process, prepare=self._prepare))

    write(tmp_path / "CLAUDE.md", "Use tabs.")
    async with open_fake_model_server(Script([Turn.say("fine")] * 3)) as server:
        with trio.fail_after(60):
            async with open_runtime(
                Settings(),
                environ=_environ(tmp_path, server),
                no_plugins=True,
                extra_plugins=[("rec", Recorder())],
            ) as runtime:
                for _ in range(3):
                    async with runtime.open_session(cwd=tmp_path, persist=False) as session:
                        assert (await session.run("hi")).result == "fine"
    loop_thread = threading.get_ident()
    assert prepared_in[0] != loop_thread
    assert prepared_in[1:] == [loop_thread, loop_thread]
    for request in range(3):
        assert "RECORDER PREPARED" in system_of(server, request)
        assert "Use tabs." in system_of(server, request)


class _Clocks:
    """Wall and CPU time a test moves by hand."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def work(self, *, waited: float = 0.0, cpu: float = 0.0) -> Any:
        """A call that waits ``waited`` seconds and computes ``cpu``; it returns its thread."""

        def call() -> int:
            self.wall += waited + cpu
            self.cpu += cpu
            return threading.get_ident()

        return call


async def test_a_blocking_call_runs_in_place_only_while_calls_prove_quick() -> None:
    clocks = _Clocks()
    runner = InlineWhileFast(wall=lambda: clocks.wall, cpu=lambda: clocks.cpu)
    loop = threading.get_ident()
    assert await runner.run(clocks.work(waited=0.2)) != loop  # the first: a worker thread
    assert await runner.run(clocks.work()) != loop  # none proved quick yet
    assert await runner.run(clocks.work()) == loop  # the last one did
    assert await runner.run(clocks.work(cpu=0.5)) == loop  # a long collection is not waiting
    assert await runner.run(clocks.work()) == loop
    assert await runner.run(clocks.work(waited=0.2)) == loop  # a slow disk, found in place
    assert await runner.run(clocks.work(waited=0.2)) != loop  # so threads again
    assert await runner.run(clocks.work(waited=0.2)) != loop  # (a slow thread proves nothing)
    clocks.wall += runner.cooldown_s
    assert await runner.run(clocks.work()) == loop  # the cooldown is over
    assert await runner.run(clocks.work(waited=0.2)) == loop
    assert await runner.run(clocks.work()) != loop
    assert await runner.run(clocks.work()) == loop  # a quick one in a thread ends it early


async def test_a_prepare_that_raises_disables_its_plugin_and_the_session_goes_on(
    tmp_path: Path,
) -> None:
    from claw_runtime.context.processors import ContextProcessor, PromptContext
    from claw_runtime.tooling import SessionState

    class Broken:
        @staticmethod
        def _prepare(state: SessionState) -> None:
            raise OSError("disk on fire")

        @staticmethod
        async def _process(context: PromptContext) -> None:
            context.system_sections.append("BROKEN SECTION")

        @hookimpl
        def register_context_processors(self, register: Any) -> None:
            register(ContextProcessor(name="broken", process=self._process, prepare=self._prepare))

    write(tmp_path / "CLAUDE.md", "Use tabs.")
    async with open_fake_model_server(Script([Turn.say("fine")])) as server:
        with trio.fail_after(60):
            async with (
                open_runtime(
                    Settings(),
                    environ=_environ(tmp_path, server),
                    no_plugins=True,
                    extra_plugins=[("broken", Broken())],
                ) as runtime,
                runtime.open_session(cwd=tmp_path, persist=False) as session,
            ):
                result = await session.run("hi")
    assert result.result == "fine"
    assert "Use tabs." in system_of(server) and "BROKEN SECTION" not in system_of(server)
    (error,) = [e for e in runtime.host.errors if e.plugin == "broken"]
    assert "OSError: disk on fire" in str(error)
