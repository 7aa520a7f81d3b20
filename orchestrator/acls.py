"""`orchestrator acls`: the least-privilege Kafka ACLs of each role, derived from the topic
catalog, printed, and applied through the admin API with `--apply`.

Roles (each a principal of its own):
- worker:   reads its inputs and changelogs, writes its outputs, changelogs and idle watermarks;
            its consumer groups and transactional ids are the ones prefixed with its app id.
- producer: writes `data.arrivals` and `models.updates`.
- operator: writes `commands` (signed: the ACL decides who may send, the access policy whose
            command is obeyed).
- auditor:  reads what `replay` and `audit` read; writes nothing; no consumer group.
- trainer:  reads `training.requested` in its group, writes `models.updates`.
- admin:    creates and describes the catalog's topics (`topics apply`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.roles import Role
from orchestrator.kafka.clients import Connection

ROLES = ("worker", "producer", "operator", "auditor", "trainer", "admin")

#: Kafka's protocol codes
RESOURCE = {"TOPIC": 2, "GROUP": 3, "CLUSTER": 4, "TRANSACTIONAL_ID": 5}
PATTERN = {"LITERAL": 3, "PREFIXED": 4}
OPERATION = {"READ": 3, "WRITE": 4, "CREATE": 5, "DESCRIBE": 8, "DESCRIBE_CONFIGS": 10}
ALLOW = 3


@dataclass(frozen=True, order=True)
class Acl:
    role: str
    principal: str
    resource: str  # TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID
    name: str
    pattern: str  # LITERAL or PREFIXED
    operation: str

    def line(self) -> str:
        return (
            f"{self.role:9} {self.principal:18} ALLOW {self.operation:16} "
            f"{self.resource:16} {self.pattern:8} {self.name}"
        )


def plan(
    catalog: Catalog,
    app_id: str,
    principals: Mapping[str, str],
    trainer_group: str = "orchestrator-example-trainer",
) -> list[Acl]:
    """Every ACL of every role, for this catalog and app id."""
    name = catalog.name
    out: list[Acl] = []

    def allow(
        role: str, resource: str, names: Iterable[str], ops: Iterable[str], pattern: str = "LITERAL"
    ) -> None:
        out.extend(
            Acl(role, principals[role], resource, n, pattern, op) for n in names for op in ops
        )

    worker_reads: list[Role] = [
        "arrivals",
        "model_updates",
        "commands",
        "model_log",
        "eventtime_state",
        "model_state",
    ]
    worker_writes: list[Role] = [
        "arrivals",  # the idle-source watermarks
        "windows",
        "late",
        "dlq",
        "audit",
        "model_log",
        "champions",
        "training",
        "eventtime_state",
        "model_state",
        "snapshots",
    ]
    every_topic = [s.name for s in catalog]
    allow("worker", "TOPIC", [name(r) for r in worker_reads], ["READ"])
    allow("worker", "TOPIC", [name(r) for r in worker_writes], ["WRITE"])
    allow("worker", "TOPIC", every_topic, ["DESCRIBE", "DESCRIBE_CONFIGS"])  # verifies the catalog
    allow("worker", "GROUP", [f"{app_id}-"], ["READ"], "PREFIXED")
    allow("worker", "TRANSACTIONAL_ID", [f"{app_id}."], ["WRITE", "DESCRIBE"], "PREFIXED")
    allow("producer", "TOPIC", [name("arrivals"), name("model_updates")], ["WRITE", "DESCRIBE"])
    allow("operator", "TOPIC", [name("commands")], ["WRITE", "DESCRIBE"])
    auditor_reads: list[Role] = [
        "arrivals",
        "model_updates",
        "commands",
        "model_log",
        "windows",
        "audit",
        "champions",
        "late",
        "dlq",
        "snapshots",
    ]
    allow("auditor", "TOPIC", [name(r) for r in auditor_reads], ["READ", "DESCRIBE"])
    allow("trainer", "TOPIC", [name("training")], ["READ", "DESCRIBE"])
    allow("trainer", "GROUP", [trainer_group], ["READ"])
    allow("trainer", "TOPIC", [name("model_updates")], ["WRITE", "DESCRIBE"])
    allow("admin", "TOPIC", every_topic, ["CREATE", "DESCRIBE", "DESCRIBE_CONFIGS"])
    return sorted(set(out), key=lambda a: (ROLES.index(a.role), a))


def render(acls: list[Acl]) -> str:
    head = f"{'role':9} {'principal':18} {'':5} {'operation':16} {'resource':16} {'pattern':8} name"
    return "\n".join([head, *(a.line() for a in acls)])


async def apply(conn: Connection, acls: list[Acl]) -> int:
    """Create the ACLs (creating one that exists changes nothing). Returns how many were sent."""
    from aiokafka.errors import for_code
    from aiokafka.protocol.admin import CreateAclsRequest

    admin = conn.admin()
    await admin.start()
    try:
        for a in acls:
            request = CreateAclsRequest(
                RESOURCE[a.resource],
                a.name,
                PATTERN[a.pattern],
                a.principal,
                "*",
                OPERATION[a.operation],
                ALLOW,
            )
            response = await admin._send_request(request)
            for code, message in response.creation_responses:
                if code:
                    raise for_code(code)(f"{a.line()}: {message}")
    finally:
        await admin.close()
    return len(acls)


def principals_from(pairs: list[str] | None) -> dict[str, str]:
    """`ROLE=PRINCIPAL` pairs over the default principal of each role, `User:<role>`."""
    out = {role: f"User:{role}" for role in ROLES}
    for pair in pairs or []:
        role, sep, principal = pair.partition("=")
        if not sep or role not in ROLES or not principal:
            from orchestrator.errors import ConfigError

            raise ConfigError(
                "(command line)",
                "--principal",
                f"{pair!r}: expected ROLE=PRINCIPAL, ROLE one of {', '.join(ROLES)}",
            )
        out[role] = principal if ":" in principal else f"User:{principal}"
    return out
