"""Secrets never land in claw's own files or logs; ordinary text is left alone.

Every fixture below is fake but shaped like the real thing (the formats gitleaks
and the vendors document). A secret reaching the model is the user's choice; a
secret written to claw's transcript or log is a defect.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from claw_runtime.logs import close_logging, configure_logging
from claw_runtime.secrets import MASK, is_secret_key, known_secrets, redact, redact_json

from _harness import run_calls

ANTHROPIC = (
    "sk-ant-api03-"
    + "Qx7vB2nL9mK4pR8sT1wY6zA3cD5fG0hJ" * 2
    + "Ab3dE5gH7jK9mN1pQ3sT5vX7zB9dF1hJ2lN4p"
    + "AA"
)
OPENAI = "sk-proj-" + "Zt4Hq8Lm2Pn6Rv0Xb5Jc9Kd3Wf7Yg1Sa" + "T3BlbkFJ" + "mQ2xV7nB4kL9pR3sT8wY1zC6"
GITHUB = {
    "ghp_": "ghp_R8nT2vX6bL0mQ4sW9yZ3cF7hK1jP5dG8aE2u",
    "gho_": "gho_16C7e42F292c6912E7710c838347Ae178B4a",
    "ghu_": "ghu_Kp9Xv2Lm7Qn4Rt8Ws1Yb6Zc3Df5Gh0Jk2Mn4",
    "ghs_": "ghs_Tz5Yx8Wv1Ut4Sr7Qp0On3Ml6Kj9Ih2Gf5Ed8",
    "ghr_": "ghr_1B4a2e77838347a7E420ce178F2E7c6912E169",
    "github_pat_": "github_pat_11ABCDEFG0" + "aB3cD5eF7gH9iJ1kL3mN5oP7qR9sT1uV3wX5yZ7" * 2,
}
SLACK = {
    "xoxb-": "xoxb-2836512789012-3906214587123-k8Jv3Nq7Rz2Wx5Ty9Ub4Lm6P",
    "xoxp-": "xoxp-2836512789012-3906214587123-4917325698234-a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4",
    "xapp-": "xapp-1-A04BC5DE6FG-4917325698234-4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a",
}
AWS_ID = "AKIA4NQ7XR2VT8MKLP3W"
AWS_SECRET = "Zx8vQm2LpR7tYw3NcK9bHf6JdG4sA1eU0oI5uTyP"
GOOGLE = "AIzaSyD4kL9mN2pQ7rS1tU6vW3xY8zA0bC5dE2f"
STRIPE = "sk_live_51HqLm2Kx7Rv4Nt9Pw3Yz6Bc"
NPM = "npm_Kx7Rv4Nt9Pw3Yz6Bc2Lm8Qs5Ht1Jf0Dg3Aeq"
GITLAB = "glpat-Xc9Rv2Lm7Nq4Tw8Yb1Zk"
SENDGRID = "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"


def _jwt() -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    header = part({"alg": "RS256", "typ": "JWT", "kid": "k1"})
    claims = part({"sub": "system:serviceaccount:default:deployer", "iss": "kubernetes"})
    return f"{header}.{claims}.Sg4kQ9vT2xLm7Rn0Wp3Yb8Zc5Df1Gh6Jk4Mn2Pq9Rs7Tu0Vw3Xy"


JWT = _jwt()
PEM_BODY_LINES = [
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj",
    "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu",
    "NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ",
    "qgtzJ6GR3eqoYSW9b9UMvkBpZODSctWSNGj3P7jRFDO5VoTwCQAWbFnOjDfH5Ulg",
]
PEM = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(PEM_BODY_LINES) + "\n-----END PRIVATE KEY-----\n"


def assert_masked(text: str, *secrets: str) -> str:
    out = redact(text)
    for secret in secrets:
        assert secret not in out, (secret, out)
    assert MASK in out
    return out


# --- one test per class ----------------------------------------------------------------


def test_model_provider_keys_keep_their_prefix() -> None:
    out = assert_masked(f"ANTHROPIC={ANTHROPIC} and openai {OPENAI}", ANTHROPIC, OPENAI)
    assert "sk-ant-***" in out and "sk-proj-***" in out


@pytest.mark.parametrize("prefix", sorted(GITHUB))
def test_github_tokens_at_the_start_of_a_line_and_inside_text(prefix: str) -> None:
    token = GITHUB[prefix]
    out = assert_masked(f"{token}\nremote: https://x-access-token:{token}@github.com/o/r", token)
    assert out.startswith(prefix + MASK)


@pytest.mark.parametrize("prefix", sorted(SLACK))
def test_slack_tokens(prefix: str) -> None:
    token = SLACK[prefix]
    out = assert_masked(f"{token}\nSLACK_BOT={token}", token)
    assert out.startswith(prefix)


def test_an_aws_credentials_file() -> None:
    credentials = (
        "[default]\n"
        f"aws_access_key_id = {AWS_ID}\n"
        f"aws_secret_access_key = {AWS_SECRET}\n"
        "region = eu-west-1\n"
        "[ci]\n"
        f"aws_access_key_id={AWS_ID}\n"
        f"aws_secret_access_key={AWS_SECRET}\n"
    )
    out = assert_masked(credentials, AWS_ID, AWS_SECRET)
    assert "AKIA***" in out and "region = eu-west-1" in out


def test_an_aws_secret_key_next_to_its_key_id_without_a_name() -> None:
    out = assert_masked(f"{AWS_ID}\t{AWS_SECRET}\n", AWS_ID, AWS_SECRET)
    assert out.startswith("AKIA")
    assert_masked(f'{{"AccessKeyId": "{AWS_ID}", "SecretAccessKey": "{AWS_SECRET}"}}', AWS_SECRET)


def test_google_stripe_npm_and_jwt() -> None:
    text = f"key={GOOGLE}\ncharge with {STRIPE}\nNPM={NPM}\ncurl -d token={JWT}"
    out = assert_masked(text, GOOGLE, STRIPE, NPM, JWT)
    assert "AIza***" in out and "sk_live_***" in out


def test_vendor_formats_from_the_gitleaks_rule_set() -> None:
    assert_masked(f"GL: {GITLAB}\nmail via {SENDGRID}\n", GITLAB, SENDGRID)


def test_a_curl_command_with_authorization_headers() -> None:
    basic = base64.b64encode(b"deploy:Tr0ub4dor&3").decode()
    command = (
        f"curl -H 'Authorization: Bearer {JWT}' https://api.example.com/v1/items\n"
        f'curl -H "Authorization: Basic {basic}" https://example.com\n'
        f"curl --header 'authorization: token {GITHUB['gho_']}' https://api.github.com\n"
        "curl -H 'X-Api-Key: 9f8e7d6c5b4a39f8e7d6c5b4' https://example.com\n"
    )
    out = assert_masked(command, JWT, basic, GITHUB["gho_"], "9f8e7d6c5b4a39f8e7d6c5b4")
    assert "Bearer ***" in out and "Basic ***" in out


def test_pem_private_key_blocks_whole_body_multi_line() -> None:
    out = assert_masked(f"$ cat id_rsa\n{PEM}$ ", *PEM_BODY_LINES)
    assert "-----BEGIN PRIVATE KEY-----***-----END PRIVATE KEY-----" in out
    openssh = PEM.replace("PRIVATE KEY", "OPENSSH PRIVATE KEY")
    assert_masked(openssh, *PEM_BODY_LINES)


def test_a_truncated_pem_block_is_masked_to_its_end() -> None:
    cut = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(PEM_BODY_LINES[:3]) + "\n[truncated]"
    assert_masked(cut, *PEM_BODY_LINES[:3])


def test_a_private_key_in_a_json_string_with_escaped_newlines() -> None:
    service_account = json.dumps(
        {"type": "service_account", "private_key_id": "a1b2c3", "private_key": PEM},
        indent=2,
    )
    out = assert_masked(service_account, *PEM_BODY_LINES)
    assert '"type": "service_account"' in out


def test_a_dotenv_file() -> None:
    dotenv = (
        "# local settings\n"
        "DB_PASSWORD=hunter2!x\n"
        "export GITHUB_TOKEN=abc123def456\n"
        "API_SECRET='s3cr3t value'\n"
        'SERVICE_KEY="k-9f8e7d6c"\n'
        "SMTP_PASS: mailpass99\n"
        "DEBUG=true\n"
        "PORT=8080\n"
    )
    out = assert_masked(
        dotenv, "hunter2!x", "abc123def456", "s3cr3t value", "k-9f8e7d6c", "mailpass99"
    )
    assert out.startswith("# local settings\nDB_PASSWORD=***\nexport GITHUB_TOKEN=***\n")
    assert "DEBUG=true\nPORT=8080\n" in out


def test_a_shell_history_line() -> None:
    line = "  512  PGPASSWORD=Pa55w0rd psql -h db -U app && MY_API_KEY=zz9yy8xx7 ./deploy.sh"
    out = assert_masked(line, "Pa55w0rd", "zz9yy8xx7")
    assert "psql -h db -U app" in out and "./deploy.sh" in out


def test_yaml_toml_and_json_by_key_name() -> None:
    text = (
        "database:\n  password: correct-horse-battery\n  user: app\n"
        '[auth]\nclient_secret = "cs-7Hq2Lm9Rv4"\n'
        '{"password": "pw-in-json", "api_key": "k-in-json", "token": "t-in-json", '
        '"secret": "s-in-json", "authorization": "a-in-json", "user": "bob"}\n'
    )
    secrets = ["correct-horse-battery", "cs-7Hq2Lm9Rv4", "pw-in-json", "k-in-json", "t-in-json"]
    out = assert_masked(text, *secrets, "s-in-json", "a-in-json")
    assert "user: app" in out and '"user": "bob"' in out


def test_a_kubeconfig() -> None:
    kubeconfig = (
        "users:\n- name: deployer\n  user:\n"
        f"    token: {JWT}\n"
        "    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFcEFJQkFBS0NBUUVB\n"
        "    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM=\n"
    )
    out = assert_masked(
        kubeconfig, JWT, "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFcEFJQkFBS0NBUUVB"
    )
    assert "name: deployer" in out


def test_credentials_in_urls() -> None:
    text = (
        "DATABASE_URL_RO: postgres://app:s3cr3tP%40ss@db.internal:5432/app and https://u:p4ss@x.io/"
    )
    out = assert_masked(text, "s3cr3tP%40ss", "p4ss@")
    assert "postgres://app:***@db.internal:5432/app" in out


def test_npm_auth_token_in_npmrc() -> None:
    assert_masked(f"//registry.npmjs.org/:_authToken={NPM}\n", NPM)
    assert_masked(
        "//npm.internal/:_authToken=0f9e8d7c-6b5a-4f3e-2d1c-0b9a8f7e6d5c\n", "0f9e8d7c-6b5a"
    )


def test_known_secrets_are_masked_wherever_they_appear() -> None:
    known_secrets(["a-very-private-credential-9x", None, "short"])
    out = redact("echo a-very-private-credential-9x; echo short")
    assert "a-very-private-credential-9x" not in out and "short" in out


def test_redact_json_masks_by_key_name_and_walks_everything() -> None:
    value = {
        "headers": {"Authorization": "Bearer abc", "x-api-key": "k", "accept": "json"},
        "users": [{"name": "a", "password": "p"}, {"clientSecret": "c"}],
        "max_tokens": 1024,
        "token_count": "12",
        "note": f"key is {GITHUB['ghp_']}",
        "nested": ({"SecretAccessKey": AWS_SECRET},),
    }
    out = redact_json(value)
    assert out["headers"] == {"Authorization": MASK, "x-api-key": MASK, "accept": "json"}
    assert out["users"] == [{"name": "a", "password": MASK}, {"clientSecret": MASK}]
    assert (out["max_tokens"], out["token_count"]) == (1024, "12")
    assert out["note"] == "key is ghp_***"
    assert out["nested"] == ({"SecretAccessKey": MASK},)


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True),
        ("DB_PASSWORD", True),
        ("apiKey", True),
        ("x-api-key", True),
        ("client_secret", True),
        ("GITHUB_TOKEN", True),
        ("Authorization", True),
        ("aws_secret_access_key", True),
        ("max_tokens", False),
        ("token_count", False),
        ("secret_name", False),
        ("public_key", False),
        ("keyboard", False),
        ("author", False),
    ],
)
def test_secret_key_names(name: str, secret: bool) -> None:
    assert is_secret_key(name) is secret


# --- what must not be mangled ------------------------------------------------------------

ORDINARY = [
    "commit 3f786850e387550fdab836ed7e6dc881de23001b\nMerge: 1a2b3c4 5d6e7f8",
    "request id 123e4567-e89b-12d3-a456-426614174000 done",
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
    '"integrity": "sha512-hJ5Ez0pmzaG6sHdPCL7G+gR1eDpE7bNQ1vRzVLq6KRl8rq7zP3kR3tQSVE9ymPVu'
    'Jg2+Ba7lM0JVtK+eOTmJw=="',
    'checksum = "9a4a1b2f3e8c7d6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b"',
    '"resolved": "https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz"',
    "password:\nusername: bob",
    "Enter your password:",
    "def login(token: str, password: str | None = None) -> Session:",
    "    token = get_token()\n    if password == confirm:\n        return self.secret_store",
    "secret = os.environ['APP_SECRET']",
    "api_key: ${API_KEY}\npassword: {{ vault_password }}\ntoken: <your token here>",
    "Basic configuration is documented; Bearer authentication uses a header.",
    "The secret to a good transcript is that it stays readable.",
    '"max_tokens": 1024, "input_tokens": 33, "cache_read_input_tokens": 0',
    "git@github.com:org/repo.git and http://localhost:8080/path",
    "sha256:4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e",
    "keywords = ['token', 'secret']",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_not_mangled(text: str) -> None:
    assert redact(text) == text


def test_redact_is_total() -> None:
    for text in ["", "\x00\udcff", "-----BEGIN PRIVATE KEY-----", "İ" * 1000 + "token=x"]:
        assert isinstance(redact(text), str)
    assert redact_json(None) is None and redact_json(3.5) == 3.5


# --- end to end: nothing claw writes holds a secret ---------------------------------------


@pytest.fixture
def reset_structlog() -> Iterator[None]:
    yield
    close_logging()
    structlog.reset_defaults()


ALL_SECRETS = [
    ANTHROPIC,
    OPENAI,
    *GITHUB.values(),
    *SLACK.values(),
    AWS_ID,
    AWS_SECRET,
    GOOGLE,
    STRIPE,
    NPM,
    GITLAB,
    SENDGRID,
    JWT,
    *PEM_BODY_LINES,
    "hunter2!x",
    "Pa55w0rd",
    "s3cr3tP%40ss",
    "pw-in-json",
]


def _secret_file() -> str:
    return "\n".join(
        [
            f"ANTHROPIC_API_KEY={ANTHROPIC}",
            f"export OPENAI_API_KEY={OPENAI}",
            *GITHUB.values(),
            *SLACK.values(),
            f"aws_access_key_id = {AWS_ID}",
            f"aws_secret_access_key = {AWS_SECRET}",
            f"GOOGLE={GOOGLE} STRIPE={STRIPE}",
            f"//registry.npmjs.org/:_authToken={NPM}",
            f"{GITLAB} {SENDGRID}",
            f"curl -H 'Authorization: Bearer {JWT}' https://example.com",
            PEM,
            json.dumps({"private_key": PEM, "password": "pw-in-json"}),
            "DB_PASSWORD=hunter2!x",
            "PGPASSWORD=Pa55w0rd psql",
            "postgres://app:s3cr3tP%40ss@db:5432/app",
        ]
    )


async def test_no_secret_reaches_the_transcript_or_the_log(
    tmp_path: Path, reset_structlog: None
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "leaky.env").write_text(_secret_file())
    transcript = tmp_path / "session.jsonl"
    log_file = tmp_path / "claw.jsonl"
    configure_logging(0, log_file)
    structlog.get_logger("claw.test").info("reading", content=_secret_file())

    [outcome] = await run_calls(
        project,
        [("Read", {"file_path": str(project / "leaky.env")})],
        mode="bypassPermissions",
        transcript=transcript,
    )

    assert not outcome.is_error
    assert ANTHROPIC in outcome.text and PEM_BODY_LINES[0] in outcome.text  # the model saw it
    written = {path: path.read_text() for path in (transcript, log_file)}
    assert "leaky.env" in written[transcript]
    for path, text in written.items():
        leaked = [s for s in ALL_SECRETS if s in text]
        assert leaked == [], f"{path.name} holds {leaked}"


def test_the_prebuilt_rule_data_matches_the_vendored_gitleaks_file() -> None:
    """``_data/gitleaks-rules.json`` is ``gitleaks.toml`` translated; they never drift."""
    import orjson

    from claw_runtime import secrets

    data = Path(secrets.__file__).with_name("_data")
    built = secrets.build_rule_data((data / "gitleaks.toml").read_text(encoding="utf-8"))
    shipped = orjson.loads((data / "gitleaks-rules.json").read_bytes())
    assert shipped == built, (
        "gitleaks-rules.json is stale: run "
        "python -c 'from claw_runtime.secrets import write_rule_data; write_rule_data()'"
    )
    assert len(built["rules"]) > 150
