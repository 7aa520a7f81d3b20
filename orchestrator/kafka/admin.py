"""`topics apply`: create missing topics, verify existing ones, change nothing on a mismatch."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from orchestrator.catalog.topics import TIMESTAMP_TYPE, Catalog, TopicSpec
from orchestrator.errors import TopicMismatch
from orchestrator.kafka.clients import Connection

#: What a broker reports when a config was never set on the topic (tansu reports nothing).
_BROKER_DEFAULTS = {"cleanup.policy": "delete", TIMESTAMP_TYPE: "CreateTime"}


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)


async def describe(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, object]]:
    """Partition count, replication and configs of the existing topics among `names`."""
    existing = set(await admin.list_topics())
    present = [n for n in names if n in existing]
    if not present:
        return {}
    out: dict[str, dict[str, object]] = {}
    for t in await admin.describe_topics(present):
        parts = t["partitions"]
        out[t["topic"]] = {
            "partitions": len(parts),
            "replication": len(parts[0]["replicas"]) if parts else 0,
            "configs": {},
        }
    resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in present]
    for resp in await admin.describe_configs(resources):
        for res in resp.resources:
            name = res[3]
            entries = res[4]
            out[name]["configs"] = {e[0]: e[1] for e in entries}
    return out


def compare(
    spec: TopicSpec, actual: dict[str, object], ignore: frozenset[str] = frozenset()
) -> list[str]:
    """Human-readable mismatches between the catalog and an existing topic (configs in
    `ignore` are not compared)."""
    problems = []
    if actual["partitions"] != spec.partitions:
        problems.append(
            f"topic {spec.name}: partitions: expected {spec.partitions}, "
            f"actual {actual['partitions']}"
        )
    if actual["replication"] != spec.replication:
        problems.append(
            f"topic {spec.name}: replication: expected {spec.replication}, "
            f"actual {actual['replication']}"
        )
    configs = actual["configs"]
    assert isinstance(configs, dict)
    for key, want in spec.broker_configs().items():
        if key in ignore:
            continue
        have = configs.get(key, _BROKER_DEFAULTS.get(key))
        if have is None:
            continue  # the broker does not report it; nothing to verify against
        if str(have) != want:
            problems.append(f"topic {spec.name}: {key}: expected {want}, actual {have}")
    return problems


async def apply_topics(
    conn: Connection, catalog: Catalog, ignore: frozenset[str] = frozenset()
) -> ApplyReport:
    """Verify every existing topic first; create the missing ones only if nothing mismatches
    (`ignore`: configs not compared, e.g. the timestamp type when record_time=producer)."""
    admin = conn.admin()
    await admin.start()
    try:
        specs = list(catalog)
        actual = await describe(admin, [s.name for s in specs])
        report = ApplyReport()
        for spec in specs:
            if spec.name in actual:
                problems = compare(spec, actual[spec.name], ignore)
                report.mismatches.extend(problems)
                if not problems:
                    report.verified.append(spec.name)
        if report.mismatches:
            raise TopicMismatch("\n".join(report.mismatches))
        missing = [s for s in specs if s.name not in actual]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(s.name, s.partitions, s.replication, topic_configs=s.broker_configs())
                    for s in missing
                ]
            )
            report.created.extend(s.name for s in missing)
        return report
    finally:
        await admin.close()


#: how long the worker waits for catalog topics it does not see yet (a topic just created is
#: listed by every broker only once the cluster's metadata reached them: `topics apply` then
#: `worker` at once, on a broker that just started, met that)
MISSING_GRACE_S = 15.0


async def verify_topics(
    conn: Connection,
    catalog: Catalog,
    ignore: frozenset[str] = frozenset(),
    grace_s: float = MISSING_GRACE_S,
) -> None:
    """Every catalog topic exists and matches (but for `ignore`); otherwise TopicMismatch
    naming each problem. Topics not there yet are asked for again for up to `grace_s`."""
    admin = conn.admin()
    await admin.start()
    try:
        specs = list(catalog)
        deadline = asyncio.get_running_loop().time() + grace_s
        while True:
            actual = await describe(admin, [s.name for s in specs])
            missing = [s for s in specs if s.name not in actual]
            if not missing or asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(0.5)
        problems = [f"topic {s.name}: missing (run `orchestrator topics apply`)" for s in missing]
        for spec in specs:
            if spec.name in actual:
                problems.extend(compare(spec, actual[spec.name], ignore))
        if problems:
            raise TopicMismatch("\n".join(problems))
    finally:
        await admin.close()
