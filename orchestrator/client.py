"""A typed producer client: send the orchestrator's input events from Python with the same
validation, keys and error codes as `orchestrator produce`.

```python
from orchestrator.client import Producer

with Producer.connect(broker="kafka:9092") as p:     # or Producer.connect() with ORCHESTRATOR_*
    p.arrival(dataset="clicks", source="eu", event_time="2026-11-23T10:05:00Z",
              uri="s3://bucket/clicks/part-1.parquet", checksum="sha256:ab12", record_count=1200)
    p.watermark(dataset="clicks", source="eu", watermark="2026-11-23T11:00:00Z")
    delivered = p.flush()                            # every event acknowledged, in order
```

`AsyncProducer` is the same on asyncio (`await p.arrival(...)` hands the event to the
producer and returns a future of its `Delivered`; `await p.flush()` waits for all of them).

Every method validates the event against its contract before anything is sent: an invalid one
raises `ContractError` with the code `produce` would report (`E_SCHEMA`, `E_TOO_LARGE`,
`E_UNKNOWN_DATASET`, `E_UNKNOWN_MODEL`...) and a message naming the field; nothing is sent for
it. Each event goes to its topic with its contract key (the dataset, the model, the override's
subject), sent in batches (`linger_ms`), idempotently where the broker supports it. Datasets and
models are checked against the policies of `gates` when given (as `produce` does), unless
`allow_unknown`. Commands are signed with the actor's key (HMAC-SHA256, as the CLI's
`rollback`/`override`): the client never reads keys on its own, the caller passes the bytes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
import threading
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Concatenate, Literal, ParamSpec, Self, TypeVar

import orjson

from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.codec import MAX_PAYLOAD_BYTES, encode, parse_obj
from orchestrator.contracts.events import TOPIC_ROLE_FOR_TYPE, InputEvent, key_of
from orchestrator.core.access import signed
from orchestrator.errors import E_TOO_LARGE, ContractError
from orchestrator.kafka.capabilities import supports_idempotence
from orchestrator.kafka.clients import Connection
from orchestrator.policies import Policies
from orchestrator.produce import unknown_policy

__all__ = ["AsyncProducer", "ContractError", "Delivered", "Producer"]

Time = datetime | str
T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True)
class Delivered:
    """An event the broker acknowledged: where it is."""

    event_id: str
    type: str
    topic: str
    partition: int
    offset: int
    key: str


def _new_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex}"


def _time(value: Time | None) -> str | None:
    """A time as the contract's JSON has it: an aware datetime in RFC 3339 (a naive one is
    refused by the contract, as in a JSON line), or a string as given."""
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()


class _Events:
    """Building and validating events (no I/O): what both producers share."""

    def __init__(self, catalog: Catalog, policies: Policies | None, allow_unknown: bool) -> None:
        self.catalog = catalog
        self.policies = None if allow_unknown else policies

    def build(self, obj: Mapping[str, Any]) -> InputEvent:
        """`obj` validated exactly as a JSON line of `produce` is: the same codes, the same
        messages."""
        event = parse_obj(orjson.loads(orjson.dumps(dict(obj), option=orjson.OPT_NON_STR_KEYS)))
        if self.policies is not None:
            problem = unknown_policy(event, self.policies.datasets, self.policies.models)
            if problem is not None:
                raise ContractError(*problem, event.event_id)
        return event

    def route(self, event: InputEvent) -> tuple[str, bytes, bytes]:
        value = encode(event)
        if len(value) > MAX_PAYLOAD_BYTES:
            raise ContractError(
                E_TOO_LARGE,
                f"{len(value)} bytes; an event is at most {MAX_PAYLOAD_BYTES} bytes",
                event.event_id,
            )
        role = TOPIC_ROLE_FOR_TYPE[event.type]
        return self.catalog.name(role), key_of(event).encode(), value


#: an event validated, with its topic, key and value bytes
_Prepared = tuple[InputEvent, str, bytes, bytes]


def _drop_none(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class AsyncProducer:
    """Input events to Kafka on asyncio. Use `async with AsyncProducer.connect(...) as p`, or
    `start()` and `stop()`."""

    def __init__(
        self,
        conn: Connection,
        catalog: Catalog,
        *,
        policies: Policies | None = None,
        allow_unknown: bool = False,
        idempotent: bool | None = None,
        linger_ms: int = 5,
    ) -> None:
        self.conn = conn
        self.events = _Events(catalog, policies, allow_unknown)
        self.idempotent = idempotent
        self.linger_ms = linger_ms
        self._producer: Any = None
        self._pending: list[asyncio.Future[Delivered]] = []

    @classmethod
    def connect(
        cls,
        broker: str | None = None,
        *,
        topics: Path | str = "topics",
        gates: Path | str | None = "gates",
        allow_unknown: bool = False,
        linger_ms: int = 5,
    ) -> AsyncProducer:
        """A producer configured like the CLI: `broker` (else `ORCHESTRATOR_BROKER` and the
        other `ORCHESTRATOR_*` settings: TLS, SASL...), the topic catalog of `topics`, and the
        policies of `gates` when that directory exists (None: no policy check)."""
        from orchestrator.errors import BrokerError
        from orchestrator.kafka.connect import connection
        from orchestrator.kafka.embedded import registered_broker
        from orchestrator.settings import Settings

        settings = Settings(broker=broker) if broker else Settings()
        if settings.is_embedded:
            found = registered_broker(settings.state_dir.parent)
            if not found:
                raise BrokerError("no broker running: start `orchestrator dev` or pass broker=")
            conn = Connection(found)
        else:
            conn = connection(settings, settings.broker)
        gates_dir = Path(gates) if gates is not None else None
        policies = (
            Policies.load(gates_dir) if gates_dir is not None and gates_dir.is_dir() else None
        )
        idempotent = {"on": True, "off": False}.get(settings.idempotent_producer)
        return cls(
            conn,
            Catalog.load(Path(topics)),
            policies=policies,
            allow_unknown=allow_unknown,
            idempotent=idempotent,
            linger_ms=linger_ms,
        )

    async def start(self) -> None:
        idempotent = self.idempotent
        if idempotent is None:  # as the worker and `produce`: where the broker grants it
            idempotent = await supports_idempotence(self.conn)
        producer = self.conn.producer(
            acks="all",
            enable_idempotence=idempotent,
            linger_ms=self.linger_ms,
            client_id="orchestrator-client",
        )
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        """Everything sent is delivered first (what fails is raised by `flush`)."""
        if self._producer is None:
            return
        producer, self._producer = self._producer, None
        try:
            await producer.flush()
        finally:
            await producer.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- sending -----------------------------------------------------------------------------

    def _prepare(self, event: InputEvent | Mapping[str, Any]) -> _Prepared:
        """Validated (a model built elsewhere all the same, from its JSON) and routed."""
        built = self.events.build(
            event if isinstance(event, Mapping) else orjson.loads(encode(event))
        )
        return built, *self.events.route(built)

    async def send(self, event: InputEvent | Mapping[str, Any]) -> asyncio.Future[Delivered]:
        """Validate and hand one event to the producer; the future is its acknowledgement."""
        if self._producer is None:
            raise RuntimeError("the producer is not started (use `async with` or start())")
        return await self._hand(self._prepare(event))

    async def _hand(self, prepared: _Prepared) -> asyncio.Future[Delivered]:
        built, topic, key, value = prepared
        acked = await self._producer.send(topic, value, key=key)
        loop = asyncio.get_running_loop()
        result: asyncio.Future[Delivered] = loop.create_future()

        def done(f: asyncio.Future[Any]) -> None:
            if result.cancelled():
                return
            if f.exception() is not None:
                result.set_exception(f.exception())  # type: ignore[arg-type]
                return
            meta = f.result()
            result.set_result(
                Delivered(
                    built.event_id, built.type, topic, meta.partition, meta.offset, key.decode()
                )
            )

        acked.add_done_callback(done)
        self._pending.append(result)
        return result

    async def send_many(self, events: Sequence[InputEvent | Mapping[str, Any]]) -> list[Delivered]:
        """Validate every event first (sizes too: nothing is sent if one is invalid), then send
        them in order and wait for every acknowledgement."""
        prepared = [self._prepare(e) for e in events]
        if self._producer is None:
            raise RuntimeError("the producer is not started (use `async with` or start())")
        futures = [await self._hand(p) for p in prepared]
        return list(await asyncio.gather(*futures))

    async def flush(self) -> list[Delivered]:
        """Wait for every event sent so far; their deliveries, in the order they were sent.
        The first failure is raised (after all of them settled)."""
        pending, self._pending = self._pending, []
        if self._producer is not None:
            await self._producer.flush()
        results = await asyncio.gather(*pending, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return [r for r in results if isinstance(r, Delivered)]

    # -- the events --------------------------------------------------------------------------

    async def arrival(
        self,
        *,
        dataset: str,
        source: str,
        event_time: Time,
        uri: str,
        checksum: str,
        record_count: int,
        event_id: str | None = None,
        schema_fingerprint: str | None = None,
        produced_at: Time | None = None,
        attributes: Mapping[str, Any] | None = None,
        profile: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> asyncio.Future[Delivered]:
        """A batch of data landed (`data.arrival`, key: dataset)."""
        return await self.send(
            _drop_none(
                type="data.arrival",
                v=1,
                event_id=event_id or _new_id("arrival"),
                dataset=dataset,
                source=source,
                event_time=_time(event_time),
                uri=uri,
                checksum=checksum,
                record_count=record_count,
                schema_fingerprint=schema_fingerprint,
                produced_at=_time(produced_at),
                attributes=attributes,
                profile=profile,
            )
        )

    async def watermark(
        self, *, dataset: str, source: str, watermark: Time, event_id: str | None = None
    ) -> asyncio.Future[Delivered]:
        """Nothing older than `watermark` follows from `source` (`data.watermark`)."""
        return await self.send(
            {
                "type": "data.watermark",
                "v": 1,
                "event_id": event_id or _new_id("watermark"),
                "dataset": dataset,
                "source": source,
                "watermark": _time(watermark),
            }
        )

    async def model_update(
        self,
        *,
        model: str,
        version: str,
        artifact_uri: str,
        artifact_digest: str,
        metrics: Mapping[str, float],
        trained_on: Sequence[str],
        event_id: str | None = None,
        params: Mapping[str, Any] | None = None,
        code_version: str | None = None,
        event_time: Time | None = None,
    ) -> asyncio.Future[Delivered]:
        """A model version was trained (`model.update`, key: model)."""
        return await self.send(
            _drop_none(
                type="model.update",
                v=1,
                event_id=event_id or _new_id("update"),
                model=model,
                version=version,
                artifact_uri=artifact_uri,
                artifact_digest=artifact_digest,
                metrics=dict(metrics),
                trained_on=list(trained_on),
                params=params,
                code_version=code_version,
                event_time=_time(event_time),
            )
        )

    async def performance(
        self,
        *,
        model: str,
        version: str,
        interval_start: Time,
        interval_end: Time,
        metrics: Mapping[str, float],
        sample_count: int,
        source: str | None = None,
        event_id: str | None = None,
    ) -> asyncio.Future[Delivered]:
        """Live metrics of a deployed version over an interval (`model.performance`)."""
        return await self.send(
            _drop_none(
                type="model.performance",
                v=1,
                event_id=event_id or _new_id("performance"),
                model=model,
                version=version,
                interval_start=_time(interval_start),
                interval_end=_time(interval_end),
                metrics=dict(metrics),
                sample_count=sample_count,
                source=source,
            )
        )

    async def rollback(
        self,
        *,
        model: str,
        actor: str,
        reason: str,
        key: bytes,
        to_version: str | None = None,
        event_id: str | None = None,
    ) -> asyncio.Future[Delivered]:
        """A signed `command.rollback`: back to the previous champion, or `to_version`. `key`
        is the actor's HMAC key (as gates/access.yaml names it)."""
        return await self._command(
            _drop_none(
                type="command.rollback",
                model=model,
                to_version=to_version,
                actor=actor,
                reason=reason,
                event_id=event_id or _new_id("rollback"),
            ),
            key,
        )

    async def override(
        self,
        *,
        subject: str,
        outcome: Literal["promote", "reject"],
        actor: str,
        reason: str,
        key: bytes,
        event_id: str | None = None,
    ) -> asyncio.Future[Delivered]:
        """A signed `command.override` of a model version (`subject`: MODEL:VERSION)."""
        return await self._command(
            {
                "type": "command.override",
                "subject": subject,
                "outcome": outcome,
                "actor": actor,
                "reason": reason,
                "event_id": event_id or _new_id("override"),
            },
            key,
        )

    async def _command(self, fields: dict[str, Any], key: bytes) -> asyncio.Future[Delivered]:
        unsigned = self.events.build(
            {
                **fields,
                "v": 1,
                "issued_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "nonce": secrets.token_hex(16),
                "signature": "unsigned",
            }
        )
        return await self.send(signed(unsigned, key))  # type: ignore[type-var]


def _sync(
    method: Callable[Concatenate[AsyncProducer, P], Coroutine[Any, Any, asyncio.Future[Delivered]]],
) -> Callable[Concatenate[Producer, P], concurrent.futures.Future[Delivered]]:
    """`AsyncProducer`'s `method` on `Producer`: the same typed arguments, a
    `concurrent.futures.Future` of the delivery."""

    def call(
        self: Producer, /, *args: P.args, **kw: P.kwargs
    ) -> concurrent.futures.Future[Delivered]:
        return self._future(method(self._inner, *args, **kw))

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


class Producer:
    """`AsyncProducer` for code without an event loop: its loop runs in a thread of its own.
    Each method returns a `concurrent.futures.Future` of the event's `Delivered`; `flush()`
    waits for all. Use `with Producer.connect(...) as p`, or `close()`."""

    def __init__(self, inner: AsyncProducer) -> None:
        self._inner = inner
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="orchestrator-client", daemon=True
        )
        self._thread.start()
        self._call(inner.start())

    @classmethod
    def connect(cls, broker: str | None = None, **kw: Any) -> Producer:
        """As `AsyncProducer.connect`."""
        return cls(AsyncProducer.connect(broker, **kw))

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _future(
        self, coro: Coroutine[Any, Any, asyncio.Future[Delivered]]
    ) -> concurrent.futures.Future[Delivered]:
        out: concurrent.futures.Future[Delivered] = concurrent.futures.Future()
        inner = self._call(coro)  # validation errors are raised here, in the caller's thread

        def done(f: asyncio.Future[Delivered]) -> None:
            if f.exception() is not None:
                out.set_exception(f.exception())
            else:
                out.set_result(f.result())

        self._loop.call_soon_threadsafe(inner.add_done_callback, done)
        return out

    def send(self, event: InputEvent | Mapping[str, Any]) -> concurrent.futures.Future[Delivered]:
        return self._future(self._inner.send(event))

    def send_many(self, events: Sequence[InputEvent | Mapping[str, Any]]) -> list[Delivered]:
        return self._call(self._inner.send_many(events))

    def flush(self) -> list[Delivered]:
        return self._call(self._inner.flush())

    arrival = _sync(AsyncProducer.arrival)
    watermark = _sync(AsyncProducer.watermark)
    model_update = _sync(AsyncProducer.model_update)
    performance = _sync(AsyncProducer.performance)
    rollback = _sync(AsyncProducer.rollback)
    override = _sync(AsyncProducer.override)

    def close(self) -> None:
        """Deliver what was sent, then stop the producer and its thread."""
        try:
            self._call(self._inner.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
