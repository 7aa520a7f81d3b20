"""The pipeline's logics, built in one place from the policies and the topic catalog: the worker,
replay, the chaos oracle and the bench run the very same objects (STYLE: build once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from orchestrator import __version__
from orchestrator.catalog.topics import Catalog
from orchestrator.contracts.roles import Role
from orchestrator.core.access import AccessSpec
from orchestrator.core.policy import DatasetSpec
from orchestrator.pipeline.eventtime import EventTimeLogic
from orchestrator.pipeline.models import ModelLogic, RouterLogic
from orchestrator.pipeline.recordtime import BrokerTime, RecordTime
from orchestrator.policies import Policies


@dataclass(frozen=True)
class Logics:
    """What every logic is made of; each logic is built once, on first use."""

    policies: Policies
    catalog: Catalog
    #: actor -> HMAC key (commands are verified with them)
    keys: dict[str, bytes] = field(default_factory=dict)
    #: the worker's own key (its idle-source watermarks)
    worker_key: bytes | None = None
    #: whose record times count (record_time)
    record_time: RecordTime = field(default_factory=BrokerTime)
    #: the orchestrator version recorded in decisions
    version: str = __version__

    @cached_property
    def limits(self) -> dict[Role, int]:
        """Topic role -> the largest record its topic takes."""
        return self.catalog.limits()

    @cached_property
    def dataset_specs(self) -> dict[str, DatasetSpec]:
        """The event-time specs, each window bounded to fit the windows and audit topics."""
        return self.policies.dataset_specs(self.catalog.window_record_limit())

    @cached_property
    def access(self) -> AccessSpec:
        return self.policies.access.spec(self.keys)

    @cached_property
    def eventtime(self) -> EventTimeLogic:
        arrivals = self.catalog.name("arrivals")
        return EventTimeLogic(
            self.dataset_specs,
            self.policies.data_gates(arrivals),
            self.policies.fanout(),
            arrivals,
            self.limits["dlq"],
            self.worker_key,
            self.record_time,
        )

    @cached_property
    def roles(self) -> dict[str, Role]:
        """The router's topics: name -> catalog role."""
        return {self.catalog.name(r): r for r in ("model_updates", "commands")}

    @cached_property
    def router(self) -> RouterLogic:
        return RouterLogic(self.roles, self.limits["dlq"], self.record_time, self.policies.models)

    @cached_property
    def models(self) -> ModelLogic:
        return ModelLogic(
            {n: p.gate_spec() for n, p in self.policies.models.items()},
            self.access,
            self.version,
            self.catalog.name("model_log"),
            self.limits["dlq"],
        )
