"""Shell commands against allow rules: a corpus of tricks, each run through the real loop.

Every command that must not run would create a marker file if bash executed
it; after the run the marker must not exist. Commands that should run are
checked by what they printed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from claw_runtime.config.settings import Settings
from claw_runtime.hooks.decisions import ToolCall
from claw_runtime.loop import Agent, AgentOptions
from claw_runtime.permissions import PermissionPolicy, parse_command
from claw_runtime.runtime import open_runtime
from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server

ALLOW = [
    "Bash(git status)",
    "Bash(ls:*)",
    "Bash(echo:*)",
    "Bash(cat:*)",
    "Bash(grep:*)",
    "Bash(pwd)",
    "Bash(npm run test:*)",
]

# Each {M} is the marker file: if bash ran the dangerous part, M exists.
MUST_NOT_RUN = [
    "echo hi; touch {M}",
    "echo hi;touch {M}",
    "echo hi && touch {M}",
    "echo hi&&touch {M}",
    "false || touch {M}",
    "echo hi | touch {M}",
    "echo hi & touch {M}",
    "echo hi\ntouch {M}",
    "echo $(touch {M})",
    "echo `touch {M}`",
    'echo "$(touch {M})"',
    "echo ${{X:-$(touch {M})}}",
    "cat <(touch {M})",
    "ls $(touch {M})",
    "git status $(touch {M})",
    "(touch {M})",
    "(echo hi)",
    "{{ touch {M}; }}",
    "eval 'touch {M}'",
    'bash -c "touch {M}"',
    "sh -c 'touch {M}'",
    "echo touch {M} | sh",
    "env touch {M}",
    "env X=1 touch {M}",
    "echo {M} | xargs touch",
    "nohup touch {M}",
    "timeout 5 touch {M}",
    "exec touch {M}",
    "command touch {M}",
    "builtin echo x; touch {M}",
    "time touch {M}",
    "nice touch {M}",
    "sudo -n touch {M}",
    "find . -maxdepth 0 -exec touch {M} \\;",
    "find . -maxdepth 0 -execdir touch {M} \\;",
    "find {M}.absent -delete",
    "git -c alias.st='!touch {M}' st",
    "git --exec-path=/tmp status",
    "echo hi > {M}",
    "echo hi >> {M}",
    "echo hi >| {M}",
    "echo hi &> {M}",
    "echo >{M} hi",
    "2>{M} echo hi",
    "echo hi 1>{M}",
    "ls > {M}",
    "cat <<EOF > {M}\nhi\nEOF",
    "echo x | tee {M}",
    "./ls",
    "/bin/sh -c 'touch {M}'",
    "source ./evil.sh",
    ". ./evil.sh",
    "LD_PRELOAD=x echo hi",
    "X=1 ls",
    "CMD=touch; $CMD {M}",
    "for i in 1; do touch {M}; done",
    "if true; then touch {M}; fi",
    "while false; do :; done; touch {M}",
    "until true; do :; done; touch {M}",
    "case x in x) touch {M};; esac",
    "f() {{ touch {M}; }}; f",
    "function f {{ touch {M}; }}; f",
    "! touch {M}",
    "[[ -n x ]] && touch {M}",
    "test -n x && touch {M}",
    "e'c'ho hi; t'ouch' {M}",
    "echo $((1+1)); touch {M}",
    "ls --color=never; touch {M}",
    "ls -- ; touch {M}",
    "ls 'x' \"y\" ;touch {M}",
    "awk 'BEGIN{{system(\"touch {M}\")}}'",
    "python3 -c \"open('{M}','w')\"",
    "git status; touch {M}",
    "git -C . status",
    "git status --porcelain",
    "gitx status",
    "npm run testx; touch {M}",
    "cat {M}.none 2>&1 | tee {M}",
    "coproc touch {M}",
    "echo 'unterminated",
    "",
]

MUST_RUN = [
    ("ls", "evil.sh"),
    ("ls -la", "evil.sh"),
    ("echo hi", "hi"),
    ("echo hi && ls", "evil.sh"),
    ("cat notes.txt | grep alpha", "alpha"),
    ("echo ok > /dev/null; echo done", "done"),
    ("echo ok 2>&1", "ok"),
    ("echo '$(touch {M})'", "$(touch"),
    ("echo a\\; touch {M}", "a; touch"),
    ("echo hi #; touch {M}", "hi"),
    ('e"ch"o quoted', "quoted"),
    ("pwd", "/"),
    ("grep -n beta notes.txt", "2:beta"),
]


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, bool, str]]:
    cases = [(c, False, "") for c in MUST_NOT_RUN] + [(c, True, out) for c, out in MUST_RUN]
    assert len(cases) >= 80
    return cases


async def run_commands(tmp_path: Path, commands: list[str]) -> list[str]:
    """Run each command as one Bash call in a headless default-mode run; the results' texts."""
    turns = [Turn.call(ToolCallSpec("Bash", {"command": c})) for c in commands] + [Turn.say("done")]
    async with open_fake_model_server(Script(turns)) as server:
        env = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "k"}
        async with open_runtime(Settings(), environ=env, no_plugins=True) as runtime:
            name, settings = runtime.provider_settings()
            agent = Agent(
                provider=runtime.make_provider(name, settings),
                tools=runtime.registry.tools,
                host=runtime.host,
                session=runtime.new_session(tmp_path),
                options=AgentOptions(
                    model=settings.model,
                    permissions=PermissionPolicy.from_rules(
                        "default", allow=ALLOW, project=tmp_path
                    ),
                ),
                scheduler=runtime.scheduler,
                http=runtime.http,
            )
            result = await agent.run("run them")
    assert result.result == "done"
    texts = []
    for message in agent.messages[2::2]:
        [block] = message.content
        texts.append(block.text)  # type: ignore[union-attr]
    return texts


async def test_shell_corpus_against_allow_rules(
    tmp_path: Path, corpus: list[tuple[str, bool, str]]
) -> None:
    marker = tmp_path / "MARKER"
    (tmp_path / "notes.txt").write_text("alpha\nbeta\n")
    (tmp_path / "evil.sh").write_text(f"touch {marker}\n")
    (tmp_path / "ls").write_text(f"#!/bin/sh\ntouch {marker}\n")
    (tmp_path / "ls").chmod(0o755)
    commands = [
        c.replace("{M}", str(marker)).replace("{{", "{").replace("}}", "}") for c, _, _ in corpus
    ]
    texts = await run_commands(tmp_path, commands)
    failures = []
    for (_, should_run, expected), command, text in zip(corpus, commands, texts, strict=True):
        denied = "needs approval" in text or "not granted" in text or "denied" in text
        if should_run and (denied or expected not in text):
            failures.append(f"should have run: {command!r} -> {text[:120]!r}")
        if not should_run and not denied:
            failures.append(f"should have been refused: {command!r} -> {text[:120]!r}")
        if marker.exists():
            failures.append(f"the marker was created by {command!r}")
            marker.unlink()
    assert failures == []


def test_denied_commands_are_found_inside_wrappers_even_in_bypass_mode(tmp_path: Path) -> None:
    policy = PermissionPolicy.from_rules(
        "bypassPermissions", deny=["Bash(rm:*)", "Bash(curl:*)"], project=tmp_path
    )

    def verdict(command: str) -> str:
        return policy.check(
            ToolCall(tool_use_id="t", name="Bash", input={"command": command})
        ).decision

    for command in [
        "rm -rf /",
        "ls && rm x",
        "timeout 5 rm x",
        "env A=1 rm x",
        "bash -c 'ls; rm x'",
        "eval rm x",
        "echo $(rm x)",
        "find . -exec rm {} \\;",
        "nohup curl http://x",
        "(cd /; rm x)",
        "echo x | xargs rm",
    ]:
        assert verdict(command) == "deny", command
    assert verdict("ls -la") == "allow"
    assert verdict("echo rm") == "allow"  # rm as an argument is not running rm


def test_parse_command_reports_why_a_command_fails_closed() -> None:
    parsed = parse_command("ls && echo $(whoami) > out.txt")
    # A substitution runs before the command that uses its output: that is the order given.
    assert [c.words[0] for c in parsed.commands] == ["ls", "whoami", "echo"]
    reasons = {c.words[0]: c.unsafe for c in parsed.commands}
    assert reasons["ls"] is None
    assert reasons["echo"] == "uses command substitution"
    assert reasons["whoami"] == "runs inside a substitution"
    assert parse_command("echo 'oops").error is not None
