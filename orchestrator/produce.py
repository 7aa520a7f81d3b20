"""`orchestrator produce`: validate JSON lines against the contracts and send them, keyed per SPEC."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field

import orjson

from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.codec import MAX_PAYLOAD_BYTES, encode, parse_obj
from orchestrator.contracts.events import TOPIC_ROLE_FOR_TYPE, InputEvent, key_of
from orchestrator.errors import E_TOO_LARGE, E_UNKNOWN_DATASET, E_UNKNOWN_MODEL, ContractError
from orchestrator.kafka.capabilities import producer_idempotence
from orchestrator.kafka.clients import Connection
from orchestrator.settings import Settings


@dataclass(frozen=True)
class LineError:
    line: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.code}: {self.message}"


@dataclass
class ParsedLines:
    events: list[tuple[int, InputEvent]] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)


def parse_lines(lines: Iterable[str | bytes]) -> ParsedLines:
    """Validate every non-blank line; keep the valid events and an error per invalid line."""
    out = ParsedLines()
    for number, raw in enumerate(lines, start=1):
        text = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")
        if not text.strip():
            continue
        if len(text.rstrip(b"\r\n")) > MAX_PAYLOAD_BYTES:
            out.errors.append(
                LineError(
                    number,
                    E_TOO_LARGE,
                    f"{len(text.rstrip())} bytes; an event is at most {MAX_PAYLOAD_BYTES} bytes",
                )
            )
            continue
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            out.errors.append(LineError(number, "E_DECODE", f"not JSON: {exc}"))
            continue
        try:
            out.events.append((number, parse_obj(obj)))
        except ContractError as exc:
            out.errors.append(LineError(number, exc.code, exc.message))
    return out


def unknown(parsed: ParsedLines, datasets: Iterable[str], models: Iterable[str]) -> ParsedLines:
    """The events whose dataset or model has no policy moved to the errors, with the code the
    worker would give them in the dlq (E_UNKNOWN_DATASET, E_UNKNOWN_MODEL): a typo is said
    here, before anything is sent, not found later in the dlq."""
    known_data, known_models = set(datasets), set(models)
    out = ParsedLines(errors=list(parsed.errors))
    for number, event in parsed.events:
        problem = unknown_policy(event, known_data, known_models)
        if problem is None:
            out.events.append((number, event))
        else:
            out.errors.append(LineError(number, *problem))
    out.errors.sort(key=lambda e: e.line)
    return out


def unknown_policy(
    event: InputEvent, datasets: Collection[str], models: Collection[str]
) -> tuple[str, str] | None:
    """(code, message) when `event`'s dataset or model has no policy among these; else None."""
    dataset = getattr(event, "dataset", None)
    if dataset is not None and dataset not in datasets:
        return E_UNKNOWN_DATASET, (
            f"field 'dataset': no policy for dataset {dataset!r} in gates/datasets "
            f"(known: {', '.join(sorted(datasets)) or 'none'}; --allow-unknown sends it anyway)"
        )
    model = getattr(event, "model", None)
    if model is None and event.type == "command.override":
        model = event.subject.partition(":")[0]
    if model is not None and model not in models:
        return E_UNKNOWN_MODEL, (
            f"field '{'subject' if event.type == 'command.override' else 'model'}': no policy "
            f"for model {model!r} in gates/models "
            f"(known: {', '.join(sorted(models)) or 'none'}; --allow-unknown sends it anyway)"
        )
    return None


def route(event: InputEvent, catalog: Catalog) -> tuple[str, bytes, bytes]:
    """(topic, key, value) for an event."""
    return catalog.name(TOPIC_ROLE_FOR_TYPE[event.type]), key_of(event).encode(), encode(event)


async def send_events(
    settings: Settings,
    conn: Connection,
    catalog: Catalog,
    events: list[InputEvent],
    sent: Callable[[int], None] | None = None,
) -> int:
    """Send in order, wait for every acknowledgement; returns the number sent. `sent` is told
    of each event handed to the producer (progress)."""
    idempotent = await producer_idempotence(settings, conn)
    producer = conn.producer(
        acks="all",
        enable_idempotence=idempotent,
        linger_ms=5,
        client_id="orchestrator-produce",
    )
    await producer.start()
    try:
        futures = []
        for event in events:
            topic, key, value = route(event, catalog)
            futures.append(await producer.send(topic, value=value, key=key))
            if sent is not None:
                sent(1)
        for fut in futures:
            await fut
        return len(futures)
    finally:
        await producer.stop()


async def send_raw(
    conn: Connection, topic: str, records: Sequence[tuple[bytes | None, bytes]]
) -> None:
    """Send records as they are, unvalidated: for simulating malformed input."""
    producer = conn.producer(client_id="orchestrator-raw")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()
