"""A secured Apache Kafka (kafka.sh start-secure): SASL_SSL with SCRAM users, mTLS, the
StandardAuthorizer with the ACLs `orchestrator acls` prints. The CLI and the worker work over
SCRAM-SHA-512 and over mTLS, each role can do its job and nothing more, and a wrong password or
an untrusted certificate is one clear line and exit code 2."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from orchestrator.catalog.topics import Catalog
from orchestrator.kafka.clients import Connection
from orchestrator.kafka.connect import connection
from orchestrator.settings import Settings
from orchestrator.simulate import EXAMPLE_KEYS
from orchestrator.testing import wait_for
from tests import scenario
from tests.conftest import KAFKA_SH, ROOT, caught_up, make_catalog, run_cli
from tests.integration.support import make_worker, write_lines

ROLES = ("admin", "worker", "producer", "operator", "auditor", "trainer")
KEY_ENV = {
    "ORCHESTRATOR_KEY_ALICE": EXAMPLE_KEYS["alice"].decode(),
    "ORCHESTRATOR_KEY_BOB": EXAMPLE_KEYS["bob"].decode(),
}


@dataclass
class Secured:
    sasl: str
    mtls: str
    tls: Path
    secrets: Path
    run: Path

    def password_file(self, user: str, password: str | None = None) -> Path:
        path = self.secrets / f"{user}-{password or 'ok'}.pw"
        path.write_text((password or f"{user}-secret") + "\n")
        path.chmod(0o600)
        return path

    def scram(self, user: str, password: str | None = None) -> dict[str, str]:
        """Settings (as environment) for `user` over SASL_SSL SCRAM-SHA-512."""
        return {
            "ORCHESTRATOR_BROKER": self.sasl,
            "ORCHESTRATOR_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "ORCHESTRATOR_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "ORCHESTRATOR_KAFKA_SASL_USERNAME": user,
            "ORCHESTRATOR_KAFKA_SASL_PASSWORD_FILE": str(self.password_file(user, password)),
            "ORCHESTRATOR_KAFKA_SSL_CAFILE": str(self.tls / "ca.crt"),
        }

    def mtls_env(self, user: str, ca: Path | None = None) -> dict[str, str]:
        """Settings for `user` over SSL with its client certificate (the principal is its CN)."""
        return {
            "ORCHESTRATOR_BROKER": self.mtls,
            "ORCHESTRATOR_KAFKA_SECURITY_PROTOCOL": "SSL",
            "ORCHESTRATOR_KAFKA_SSL_CAFILE": str(ca or self.tls / "ca.crt"),
            "ORCHESTRATOR_KAFKA_SSL_CERTFILE": str(self.tls / f"{user}.crt"),
            "ORCHESTRATOR_KAFKA_SSL_KEYFILE": str(self.tls / f"{user}.key"),
        }

    def conn(self, env: dict[str, str]) -> Connection:
        keep = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            settings = Settings()
        finally:
            for k, v in keep.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        return connection(settings, settings.broker)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    run = tmp_path_factory.mktemp("secure-kafka")
    env = {
        **os.environ,
        "KAFKA_SCRAM_USERS": " ".join(f"{u}={u}-secret" for u in ROLES),
        "KAFKA_TLS_CLIENTS": " ".join(ROLES),
    }
    out = subprocess.run(
        ["bash", str(KAFKA_SH), "start-secure", str(run)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    if out.returncode != 0:
        pytest.fail(f"could not start the secured Kafka: {out.stderr[-2000:]}")
    secrets = tmp_path_factory.mktemp("secrets")
    try:
        yield Secured(
            sasl=out.stdout.strip().splitlines()[-1],
            mtls=(run / "bootstrap-ssl").read_text().strip(),
            tls=run / "tls",
            secrets=secrets,
            run=run,
        )
    finally:
        subprocess.run(["bash", str(KAFKA_SH), "stop", str(run)], timeout=120)


@pytest.fixture(scope="module")
def catalog_dir(secured: Secured, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Topics created and ACLs applied by the admin, for every role's default principal."""
    topics = make_catalog(tmp_path_factory.mktemp("topics"), f"s{uuid.uuid4().hex[:8]}")
    out = run_cli("topics", "apply", "--topics", str(topics), env=secured.scram("admin"))
    assert out.returncode == 0, out.stderr
    out = run_cli(
        "acls",
        "--apply",
        "--topics",
        str(topics),
        env={**secured.scram("admin"), "ORCHESTRATOR_APP_ID": "secure-app"},
    )
    assert out.returncode == 0 and "applied" in out.stdout, out.stderr
    return topics


def run_pipeline(secured: Secured, topics: Path, tmp: Path, env_of: Any, app: str) -> None:
    """produce (producer), a worker (worker), a signed rollback (operator), replay and audit
    (auditor): each as its own principal, through the CLI."""
    events = write_lines(tmp / "events.jsonl", scenario.events())
    out = run_cli(  # the scenario's unknown dataset is the worker's to refuse
        "produce", str(events), "--allow-unknown", "--topics", str(topics), env=env_of("producer")
    )
    assert out.returncode == 0, out.stderr
    key_file = tmp / "worker.key"
    key_file.write_text("example-worker-key-tests-only")
    key_file.chmod(0o600)
    # no --broker: the worker takes the secured broker from its environment
    env = {
        **env_of("worker"),
        **KEY_ENV,
        "ORCHESTRATOR_APP_ID": "secure-app",
        "ORCHESTRATOR_WORKER_KEY_FILE": str(key_file),
    }
    w = make_worker(None, topics, app, tmp / f"{app}.log", env=env)
    w.start()
    try:
        catalog = Catalog.load(topics)
        conn = secured.conn(env_of("admin"))  # the test watches the worker's group as admin
        wait_for(
            lambda: caught_up("", "secure-app-eventtime", [catalog.name("arrivals")], conn),
            timeout=120,
        )
        out = run_cli(
            "rollback",
            "churn",
            "--actor",
            "alice",
            "--reason",
            "over TLS",
            "--topics",
            str(topics),
            env={**env_of("operator"), **KEY_ENV},
        )
        assert out.returncode == 0, out.stderr
        wait_for(
            lambda: caught_up("", "secure-app-models", [catalog.name("model_log")], conn),
            timeout=120,
        )
    finally:
        w.stop()
    out = run_cli(
        "replay",
        "--topics",
        str(topics),
        "--processes",
        "1",
        env={**env_of("auditor"), **KEY_ENV, "ORCHESTRATOR_WORKER_KEY_FILE": str(key_file)},
    )
    assert out.returncode == 0 and "replay verdict: MATCH" in out.stdout, (
        out.stdout[-2000:] + out.stderr
    )
    window = "clicks/2026-11-23T10:00:00Z/PT1H"
    out = run_cli("audit", "history", window, "--topics", str(topics), env=env_of("auditor"))
    assert out.returncode == 0 and "rev 1" in out.stdout, out.stderr
    out = run_cli(
        "audit",
        "champion",
        "churn",
        "--at",
        "2999-01-01T00:00:00Z",
        "--topics",
        str(topics),
        env=env_of("auditor"),
    )
    assert out.returncode in (0, 1) and "Traceback" not in out.stderr, out.stderr
    out = run_cli(
        "override",
        "churn:v1",
        "--outcome",
        "reject",
        "--actor",
        "alice",
        "--reason",
        "over TLS",
        "--topics",
        str(topics),
        env={**env_of("operator"), **KEY_ENV},
    )
    assert out.returncode == 0, out.stderr
    out = run_cli(
        "simulate",
        "--send",
        "--example-keys",
        "--topics",
        str(topics),
        env=env_of("admin"),
        timeout=180,
    )
    assert out.returncode == 0 and "phase commands" in out.stdout, out.stderr


def test_every_role_over_scram_sha_512(secured: Secured, catalog_dir: Path, tmp_path: Path) -> None:
    """The whole path, each role as its own SCRAM-SHA-512 user with only its ACLs."""
    run_pipeline(secured, catalog_dir, tmp_path, secured.scram, "scram")


def test_every_role_over_mtls(
    secured: Secured, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The same over SSL with client certificates: the principal is the certificate's CN."""
    topics = make_catalog(tmp_path_factory.mktemp("topics-mtls"), f"m{uuid.uuid4().hex[:8]}")
    assert (
        run_cli(
            "topics", "apply", "--topics", str(topics), env=secured.mtls_env("admin")
        ).returncode
        == 0
    )
    out = run_cli(
        "acls",
        "--apply",
        "--topics",
        str(topics),
        env={**secured.mtls_env("admin"), "ORCHESTRATOR_APP_ID": "secure-app"},
    )
    assert out.returncode == 0, out.stderr
    run_pipeline(secured, topics, tmp_path, secured.mtls_env, "mtls")


def test_a_wrong_password_is_one_line_and_exit_2(secured: Secured, catalog_dir: Path) -> None:
    out = run_cli(
        "topics",
        "apply",
        "--topics",
        str(catalog_dir),
        env=secured.scram("admin", "not-the-password"),
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0, out.stderr
    assert "authentication failed" in out.stderr and "Traceback" not in out.stderr
    assert "not-the-password" not in out.stderr + out.stdout  # never printed


def _token_env(secured: Secured, token: str) -> dict[str, str]:
    path = secured.secrets / f"{uuid.uuid4().hex}.token"
    path.write_text(token + "\n")
    path.chmod(0o600)
    return {
        "ORCHESTRATOR_BROKER": secured.sasl,
        "ORCHESTRATOR_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "ORCHESTRATOR_KAFKA_SASL_MECHANISM": "OAUTHBEARER",
        "ORCHESTRATOR_KAFKA_OAUTH_TOKEN_FILE": str(path),
        "ORCHESTRATOR_KAFKA_SSL_CAFILE": str(secured.tls / "ca.crt"),
    }


def _b64(obj: dict[str, Any]) -> str:
    import base64

    return base64.urlsafe_b64encode(orjson.dumps(obj)).decode().rstrip("=")


def test_oauthbearer_takes_only_tokens_its_identity_provider_signed(
    secured: Secured, catalog_dir: Path, tmp_path: Path
) -> None:
    """OAUTHBEARER on the secured recipe: a token signed by its identity provider (token.sh)
    works as `admin`; an unsigned token naming admin (what Kafka's unsecured login module
    makes), and one signed by another key, are refused: no token a client makes up reaches the
    super user."""
    sign = ROOT / "deploy" / "kafka" / "token.sh"
    good = subprocess.run(
        ["bash", str(sign), str(secured.tls), "admin"], capture_output=True, text=True, check=True
    ).stdout.strip()
    out = run_cli("topics", "apply", "--topics", str(catalog_dir), env=_token_env(secured, good))
    assert out.returncode == 0, out.stderr
    unsigned = f"{_b64({'alg': 'none'})}.{_b64({'sub': 'admin', 'iat': 1, 'exp': 4102444800})}."
    rogue_dir = tmp_path / "rogue"
    rogue_dir.mkdir()
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-out", str(rogue_dir / "oauth.key")],
        check=True,
        capture_output=True,
    )
    rogue = subprocess.run(
        ["bash", str(sign), str(rogue_dir), "admin"], capture_output=True, text=True, check=True
    ).stdout.strip()
    for token in (unsigned, rogue):
        out = run_cli(
            "topics", "apply", "--topics", str(catalog_dir), env=_token_env(secured, token)
        )
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stdout


def test_the_controller_listener_takes_no_anonymous_client(secured: Secured) -> None:
    """The controller listener speaks TLS and wants a client certificate: a plain client, and a
    TLS client without a certificate, get nowhere (no ANONYMOUS super user)."""
    import re

    props = (secured.run / "server.properties").read_text()
    assert "ANONYMOUS" not in props
    port = re.search(r"^controller.quorum.voters=1@127.0.0.1:(\d+)$", props, re.MULTILINE)
    assert port is not None
    controller = f"127.0.0.1:{port.group(1)}"
    plain = run_cli(
        "topics", "apply", "--broker", controller, "--topics", str(ROOT / "topics"), timeout=60
    )
    tls = run_cli(
        "topics",
        "apply",
        "--topics",
        str(ROOT / "topics"),
        timeout=60,
        env={
            "ORCHESTRATOR_BROKER": controller,
            "ORCHESTRATOR_KAFKA_SECURITY_PROTOCOL": "SSL",
            "ORCHESTRATOR_KAFKA_SSL_CAFILE": str(secured.tls / "ca.crt"),
        },
    )
    assert plain.returncode == 2 and tls.returncode == 2, (plain.stderr, tls.stderr)


@pytest.mark.parametrize("what", ["tls key", "oauth token"])
def test_secret_files_others_can_read_are_refused(
    secured: Secured, catalog_dir: Path, tmp_path: Path, what: str
) -> None:
    """A TLS private key or an OAuth token file readable by group or others: refused before
    anything is sent, one line naming the setting."""
    if what == "tls key":
        key = tmp_path / "admin.key"
        key.write_bytes((secured.tls / "admin.key").read_bytes())
        key.chmod(0o644)
        env = {**secured.mtls_env("admin"), "ORCHESTRATOR_KAFKA_SSL_KEYFILE": str(key)}
        setting = "kafka_ssl_keyfile"
    else:
        env = _token_env(secured, "x.y.z")
        Path(env["ORCHESTRATOR_KAFKA_OAUTH_TOKEN_FILE"]).chmod(0o644)
        setting = "kafka_oauth_token_file"
    out = run_cli("topics", "apply", "--topics", str(catalog_dir), env=env)
    assert out.returncode == 2 and f"{setting}: readable by group or others" in out.stderr, (
        out.stderr
    )
    assert out.stderr.strip().count("\n") == 0


def test_an_untrusted_certificate_is_one_line_and_exit_2(
    secured: Secured, catalog_dir: Path, tmp_path: Path
) -> None:
    """A client that trusts another CA refuses the broker's certificate."""
    other = tmp_path / "other"
    subprocess.run(["bash", str(ROOT / "deploy/kafka/tls.sh"), str(other), "x"], check=True)
    out = run_cli(
        "topics",
        "apply",
        "--topics",
        str(catalog_dir),
        env={**secured.scram("admin"), "ORCHESTRATOR_KAFKA_SSL_CAFILE": str(other / "ca.crt")},
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "not trusted" in out.stderr, out.stderr


def test_without_write_on_commands_the_broker_refuses(secured: Secured, catalog_dir: Path) -> None:
    """The producer role may not send commands: the broker refuses, one line, exit 2."""
    out = run_cli(
        "rollback",
        "churn",
        "--actor",
        "alice",
        "--reason",
        "not mine",
        "--topics",
        str(catalog_dir),
        env={**secured.scram("producer"), **KEY_ENV},
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "TopicAuthorizationFailed" in out.stderr and "commands" in out.stderr, out.stderr


async def _can_write(conn: Connection, topic: str, key: bytes = b"k") -> bool:
    producer = conn.producer(acks="all", request_timeout_ms=10_000)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, b"{}", key=key), 20)
        return True
    except KafkaError:
        return False
    finally:
        await producer.stop()


async def _can_read(conn: Connection, topic: str, group: str | None = None) -> bool:
    """True if the topic's records come back (the test wrote one before): a refused fetch
    brings nothing, whichever way the client reports it."""
    consumer = conn.consumer(group_id=group, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        if group is None:
            consumer.assign([TopicPartition(topic, p) for p in range(6)])
            await consumer.seek_to_beginning()
        else:
            consumer.subscribe([topic])
        deadline = asyncio.get_running_loop().time() + 15
        while asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            if any(batch.values()):
                return True
        return False
    except (KafkaError, TimeoutError):
        return False
    finally:
        await consumer.stop()


def test_each_role_can_do_its_job_and_nothing_more(secured: Secured, catalog_dir: Path) -> None:
    """With the ACLs applied, each role's principal is allowed exactly what `acls` printed for
    it; everything tried beyond that, the broker refuses."""
    catalog = Catalog.load(catalog_dir)
    name = catalog.name

    async def check() -> dict[str, dict[str, bool]]:
        admin = secured.conn(secured.scram("admin"))
        for topic in ("audit", "arrivals", "training"):  # something to read
            assert await _can_write(admin, name(topic))
        c = {role: secured.conn(secured.scram(role)) for role in ROLES if role != "admin"}
        return {
            "producer": {
                "write arrivals": await _can_write(c["producer"], name("arrivals"), b"clicks"),
                "write updates": await _can_write(c["producer"], name("model_updates"), b"churn"),
                "write commands": await _can_write(c["producer"], name("commands")),
                "read audit": await _can_read(c["producer"], name("audit")),
            },
            "operator": {
                "write commands": await _can_write(c["operator"], name("commands")),
                "write arrivals": await _can_write(c["operator"], name("arrivals")),
                "read audit": await _can_read(c["operator"], name("audit")),
            },
            "auditor": {
                "read audit": await _can_read(c["auditor"], name("audit")),
                "read arrivals": await _can_read(c["auditor"], name("arrivals")),
                "write audit": await _can_write(c["auditor"], name("audit")),
                "write arrivals": await _can_write(c["auditor"], name("arrivals")),
            },
            "trainer": {
                "read training": await _can_read(
                    c["trainer"], name("training"), "orchestrator-example-trainer"
                ),
                "write updates": await _can_write(c["trainer"], name("model_updates"), b"churn"),
                "read training in another group": await _can_read(
                    c["trainer"], name("training"), "other"
                ),
                "write arrivals": await _can_write(c["trainer"], name("arrivals")),
            },
            "worker": {
                "write audit": await _can_write(c["worker"], name("audit")),
                "write commands": await _can_write(c["worker"], name("commands")),
                "read training": await _can_read(c["worker"], name("training")),
            },
        }

    got = asyncio.run(check())
    assert got == {
        "producer": {
            "write arrivals": True,
            "write updates": True,
            "write commands": False,
            "read audit": False,
        },
        "operator": {"write commands": True, "write arrivals": False, "read audit": False},
        "auditor": {
            "read audit": True,
            "read arrivals": True,
            "write audit": False,
            "write arrivals": False,
        },
        "trainer": {
            "read training": True,
            "write updates": True,
            "read training in another group": False,
            "write arrivals": False,
        },
        "worker": {"write audit": True, "write commands": False, "read training": False},
    }
