"""The model gate (SPEC §4) of one model: metrics, regression, lineage, hold, retraction, signed
commands and retraining triggers. Pure: inputs in, effects out.

State is kept per key, so that no changelog record grows with history: the model's small
record (counters, retraining progress, lineage horizon), one record per version, per decided
window and per remembered event id. Each of the last three is bounded by the policy
(`max_versions`, `max_windows`, `max_event_ids`); what falls out is forgotten by a rule that
`settle()` applies again after a restore, so forgetting needs no tombstone in the same
checkpoint (pipeline/shell.py, worker/sink.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from orchestrator.contracts.codec import to_jsonable
from orchestrator.contracts.events import CommandOverride, CommandRollback, ModelUpdate
from orchestrator.contracts.modellog import DataNotice
from orchestrator.contracts.records import Check, Outcome, SourceOffset, TrainingRequested
from orchestrator.core.access import AccessSpec, Command, verify
from orchestrator.core.checks import check, gate_fails
from orchestrator.core.decision import GateInfo, SubjectKind, make_decision
from orchestrator.core.digest import digest
from orchestrator.core.effects import (
    ChampionChanged,
    Decided,
    Effect,
    Rejected,
    StateDelete,
    StatePut,
    TrainingRequest,
)
from orchestrator.core.promotion import History, State, next_state
from orchestrator.core.timeutil import parse_window_id, to_ms
from orchestrator.errors import (
    E_BAD_SIGNATURE,
    E_COMMAND_EXPIRED,
    E_COMMAND_REPLAYED,
    E_DUPLICATE_CONFLICT,
    E_LINEAGE_PENDING,
    E_LINEAGE_REJECTED,
    E_METRIC_MISSING,
    E_METRIC_THRESHOLD,
    E_NO_ROLLBACK_TARGET,
    E_REGRESSION,
    E_STATE_LIMIT,
    E_UNAUTHORIZED,
    E_UNKNOWN_SUBJECT,
)

SEP = "\x1f"
ModelInput = ModelUpdate | CommandRollback | CommandOverride | DataNotice


@dataclass(frozen=True, slots=True)
class Threshold:
    metric: str
    min: float | None
    max: float | None


@dataclass(frozen=True, slots=True)
class PrimaryMetric:
    name: str
    direction: Literal["max", "min"]
    tolerance: float


@dataclass(frozen=True, slots=True)
class ModelGateSpec:
    gate: GateInfo
    model: str
    datasets: frozenset[str]
    required_metrics: tuple[str, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    primary: PrimaryMetric | None = None
    retrain_every: int | None = None
    #: versions remembered at most; the oldest that are neither held nor in the champion
    #: history are forgotten first (a new version with none to forget is refused)
    max_versions: int = 1000
    #: decided windows remembered for lineage; the earliest by start are forgotten first
    max_windows: int = 10_000
    #: event ids (updates and commands) remembered for dedupe, the oldest forgotten first
    max_event_ids: int = 100_000


def version_id(model: str, version: str) -> str:
    """The subject id of a model version."""
    return f"{model}:{version}"


@dataclass(slots=True)
class Version:
    update: ModelUpdate
    source: SourceOffset
    state: State = "new"
    revision: int = 0
    decision_id: str | None = None
    #: arrival order among the model's versions (what is forgotten first)
    seq: int = 0

    def entry(self, crowned: int | None) -> dict[str, Any]:
        return {
            "u": to_jsonable(self.update),
            "s": self.source.model_dump(),
            "st": self.state,
            "r": self.revision,
            "d": self.decision_id,
            "q": self.seq,
            "c": crowned,
        }


@dataclass(frozen=True, slots=True)
class WindowDecision:
    """The latest data-gate decision of a window, as the model gate was told of it."""

    outcome: str
    decision_id: str


@dataclass(frozen=True, slots=True)
class Lineage:
    rejected: list[str]
    pending: list[str]
    #: windows older than anything the gate still remembers of their dataset (counted rejected)
    expired: list[str]
    known: list[tuple[str, str, str]]  # (window, outcome, decision id)

    @property
    def clean(self) -> bool:
        return not self.rejected and not self.pending


@dataclass
class ModelGate:
    spec: ModelGateSpec
    access: AccessSpec
    version: str  # orchestrator version, recorded in decisions
    versions: dict[str, Version] = field(default_factory=dict)
    windows: dict[str, WindowDecision] = field(default_factory=dict)
    history: History = field(default_factory=History)
    #: event id -> (content digest, sequence number)
    seen: dict[str, tuple[str, int]] = field(default_factory=dict)
    promoted_windows: list[str] = field(default_factory=list)
    #: dataset -> the latest start (ms) of a window forgotten from `windows`
    horizon: dict[str, int] = field(default_factory=dict)
    #: command nonces seen -> when the command was issued (ms); kept for max_command_age
    nonces: dict[str, int] = field(default_factory=dict)
    #: the latest broker time (ms) of a command handled (the nonce memory's clock)
    clock_ms: int = 0
    seq: int = 0
    _trigger: SourceOffset | None = None  # where the input being handled sits in models.log
    _changed: set[tuple[str, str]] = field(default_factory=set)

    @property
    def champion(self) -> str | None:
        return self.history.champion

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    # -- entry point ------------------------------------------------------------------------------

    def handle(
        self,
        item: ModelInput,
        source: SourceOffset,
        decided_at: datetime,
        trigger: SourceOffset | None = None,
        received_ms: int | None = None,
    ) -> list[Effect]:
        """Effects of one models.log entry; `received_ms` is the broker time of the record the
        router read it from (a command is judged fresh or expired against it)."""
        self._trigger = trigger
        if isinstance(item, DataNotice):
            effects = self._on_data(item, decided_at)
        else:
            content = digest(to_jsonable(item))
            seen = self.seen.get(item.event_id)
            if seen is not None and seen[0] == content:
                return []
            if seen is not None:
                return [
                    Rejected(
                        self.spec.model,
                        item.event_id,
                        E_DUPLICATE_CONFLICT,
                        f"event_id {item.event_id!r} was already used with different content",
                    )
                ]
            if isinstance(item, ModelUpdate):
                known = self.versions.get(item.version)
                if known is not None and known.update == item:
                    return []  # the same update again, its event id long forgotten
                refused = self._refuse_update(item)
                if refused is not None:
                    return [refused]
            self._remember(item.event_id, content)
            if isinstance(item, ModelUpdate):
                effects = self._on_update(item, source, decided_at)
            else:
                effects = self._on_command(item, source, decided_at, received_ms)
        self._changed.add(("m", ""))
        return effects + self.state_effects()

    # -- bounded memory ----------------------------------------------------------------------------

    def _remember(self, event_id: str, content: str) -> None:
        self.seen[event_id] = (content, self._next())
        self._changed.add(("e", event_id))
        for forgotten in self._trim_seen():
            self._changed.add(("e", forgotten))

    def _trim_seen(self) -> list[str]:
        excess = len(self.seen) - self.spec.max_event_ids
        if excess <= 0:
            return []
        oldest = sorted(self.seen, key=lambda e: self.seen[e][1])[:excess]
        for event_id in oldest:
            del self.seen[event_id]
        return oldest

    def _forgettable(self) -> list[str]:
        """Versions that may be forgotten, oldest first: not held, not in the champion history."""
        crowned = self.history.crowned
        return sorted(
            (n for n, v in self.versions.items() if v.state != "held" and n not in crowned),
            key=lambda n: self.versions[n].seq,
        )

    def _refuse_update(self, update: ModelUpdate) -> Rejected | None:
        if update.version in self.versions or len(self.versions) < self.spec.max_versions:
            return None
        if self._forgettable():
            return None
        return Rejected(
            self.spec.model,
            update.event_id,
            E_STATE_LIMIT,
            f"model {self.spec.model} holds {len(self.versions)} versions (max_versions), all "
            "held or in the champion history; send the update again once one is decided",
        )

    def _trim_versions(self) -> list[str]:
        excess = len(self.versions) - self.spec.max_versions
        forgotten = self._forgettable()[: max(0, excess)]
        for name in forgotten:
            del self.versions[name]
        return forgotten

    def _trim_windows(self) -> list[str]:
        excess = len(self.windows) - self.spec.max_windows
        if excess <= 0:
            return []
        parsed = {w: _parse(w) or ("", 0) for w in self.windows}
        forgotten = sorted(self.windows, key=lambda w: (parsed[w][1], w))[:excess]
        for w in forgotten:
            del self.windows[w]
            dataset, start = parsed[w]
            self.horizon[dataset] = max(self.horizon.get(dataset, start), start)
        return forgotten

    # -- model updates ----------------------------------------------------------------------------

    def _on_update(self, update: ModelUpdate, source: SourceOffset, at: datetime) -> list[Effect]:
        if update.version in self.versions:
            return [
                Rejected(
                    self.spec.model,
                    update.event_id,
                    E_DUPLICATE_CONFLICT,
                    f"version {update.version!r} of {update.model} was already submitted",
                )
            ]
        self.versions[update.version] = Version(update, source, seq=self._next())
        self._changed.add(("v", update.version))
        effects = self._evaluate(update.version, at, quiet_hold=False)
        for name in self._trim_versions():
            self._changed.add(("v", name))
        return effects

    def _lineage(self, v: Version) -> Lineage:
        rejected, pending, expired, known = [], [], [], []
        for w in v.update.trained_on:
            decided = self.windows.get(w)
            dataset, start = _parse(w) or ("", 0)
            if dataset not in self.spec.datasets:
                rejected.append(w)
            elif decided is not None:
                known.append((w, decided.outcome, decided.decision_id))
                if decided.outcome != "promote":
                    rejected.append(w)
            elif dataset in self.horizon and start <= self.horizon[dataset]:
                expired.append(w)
                rejected.append(w)
            else:
                pending.append(w)
        return Lineage(rejected, pending, expired, known)

    def _checks(self, v: Version) -> tuple[list[Check], Lineage]:
        spec, metrics = self.spec, v.update.metrics
        out: list[Check] = []
        missing = [m for m in spec.required_metrics if m not in metrics]
        out.append(
            check(
                "required_metrics",
                not missing,
                "error",
                sorted(metrics),
                list(spec.required_metrics),
                E_METRIC_MISSING,
            )
        )
        for t in spec.thresholds:
            value = metrics.get(t.metric)
            ok = (
                value is not None
                and (t.min is None or value >= t.min)
                and (t.max is None or value <= t.max)
            )
            out.append(
                check(
                    f"threshold:{t.metric}",
                    ok,
                    "error",
                    value,
                    {"min": t.min, "max": t.max},
                    E_METRIC_THRESHOLD if value is not None else E_METRIC_MISSING,
                )
            )
        if spec.primary is not None:
            p = spec.primary
            champ = self.champion
            base = (
                self.versions[champ].update.metrics.get(p.name)
                if champ and champ != v.update.version
                else None
            )
            value = metrics.get(p.name)
            if base is None or value is None:
                ok = value is not None
            elif p.direction == "max":
                ok = value >= base - p.tolerance
            else:
                ok = value <= base + p.tolerance
            out.append(
                check(
                    "regression",
                    ok,
                    "error",
                    value,
                    {
                        "champion": champ if base is not None else None,
                        "champion_value": base,
                        "direction": p.direction,
                        "tolerance": p.tolerance,
                    },
                    E_REGRESSION if value is not None else E_METRIC_MISSING,
                )
            )
        lineage = self._lineage(v)
        observed: dict[str, list[str]] = {"rejected": lineage.rejected, "pending": lineage.pending}
        if lineage.expired:
            observed["expired"] = lineage.expired
        out.append(
            check(
                "lineage",
                lineage.clean,
                "error",
                observed,
                {"trained_on": "promote"},
                E_LINEAGE_REJECTED if lineage.rejected else E_LINEAGE_PENDING,
            )
        )
        return out, lineage

    def _inputs(self, v: Version) -> tuple[list[str], str, list[SourceOffset]]:
        known = [list(k) for k in self._lineage(v).known]
        ids = [v.update.event_id] + [d for _, _, d in known]
        return ids, digest([digest(to_jsonable(v.update)), known]), [v.source]

    def _transition(self, name: str, transition: str) -> None:
        """Move a version through the promotion table and the champion history together."""
        v = self.versions[name]
        v.state = next_state(v.state, transition)
        self.history.move(name, transition, self._next())
        self._changed.add(("v", name))

    def _decide(
        self,
        name: str,
        outcome: Outcome,
        checks: list[Check],
        at: datetime,
        transition: str,
        *,
        before: str | None,
        after: str | None,
        gate: GateInfo | None = None,
    ) -> Decided:
        v = self.versions[name]
        self._transition(name, transition)
        v.revision += 1
        ids, inputs_digest, offsets = self._inputs(v)
        decision = make_decision(
            kind="model_version",
            subject_id=version_id(self.spec.model, v.update.version),
            revision=v.revision,
            outcome=outcome,
            gate=gate or self.spec.gate,
            checks=checks,
            event_ids=ids,
            inputs_digest=inputs_digest,
            offsets=offsets,
            decided_at=at,
            version=self.version,
            supersedes=v.decision_id,
            champion_before=before,
            champion_after=after,
            trigger=self._trigger,
            model=self.spec.model,
        )
        v.decision_id = decision.decision_id
        return Decided(decision)

    def _evaluate(self, name: str, at: datetime, *, quiet_hold: bool) -> list[Effect]:
        v = self.versions[name]
        checks, lineage = self._checks(v)
        others_fail = gate_fails([c for c in checks if c.name != "lineage"])
        champ = self.champion
        if others_fail or lineage.rejected:
            return [self._decide(name, "reject", checks, at, "reject", before=champ, after=champ)]
        if lineage.pending:
            if quiet_hold and v.state == "held":
                return []  # still waiting: nothing new to record
            return [self._decide(name, "hold", checks, at, "hold", before=champ, after=champ)]
        decided = self._decide(name, "promote", checks, at, "promote", before=champ, after=name)
        return [decided, ChampionChanged(self.spec.model, name, decided.decision.decision_id)]

    # -- data decisions ---------------------------------------------------------------------------

    def _on_data(self, notice: DataNotice, at: datetime) -> list[Effect]:
        previous = self.windows.get(notice.window_id)
        self.windows[notice.window_id] = WindowDecision(notice.outcome, notice.decision_id)
        self._changed.add(("w", notice.window_id))
        effects: list[Effect] = []
        was_promoted = previous is not None and previous.outcome == "promote"
        if notice.outcome == "promote" and not was_promoted:
            effects.extend(self._count_promoted(notice.window_id))
        for name, v in list(self.versions.items()):
            if notice.window_id not in v.update.trained_on:
                continue
            if v.state == "held":
                effects.extend(self._evaluate(name, at, quiet_hold=True))
            elif v.state == "promoted" and notice.outcome != "promote" and was_promoted:
                effects.extend(self._retract(name, at))
        for w in self._trim_windows():
            self._changed.add(("w", w))
        return effects

    def _count_promoted(self, window_id: str) -> list[Effect]:
        self.promoted_windows.append(window_id)
        n = self.spec.retrain_every
        if not n or len(self.promoted_windows) % n:
            return []
        windows = self.promoted_windows[-n:]
        self.promoted_windows = self.promoted_windows[-n:]
        return [
            TrainingRequest(
                TrainingRequested(
                    request_id=digest([self.spec.model, windows]),
                    model=self.spec.model,
                    windows=windows,
                    policy=self.spec.gate.name,
                    policy_version=self.spec.gate.version,
                )
            )
        ]

    def _clean(self, name: str) -> bool:
        return self._lineage(self.versions[name]).clean

    def _fallback(self, excluding: str) -> str | None:
        """The newest earlier champion, still promoted, whose lineage is clean."""
        for name in self.history.newest_first():
            if (
                name != excluding
                and self.versions[name].state in ("promoted", "rolled_back")
                and self._clean(name)
            ):
                return name
        return None

    def _crown(self, target: str | None) -> None:
        """A fallback or rollback target becomes champion again (restored if rolled back);
        None: no version is champion any more."""
        if target is None:
            self.history.vacate(self._next())
        else:
            self._transition(target, "restore")

    def _retract(self, name: str, at: datetime) -> list[Effect]:
        v = self.versions[name]
        checks, _ = self._checks(v)
        champ = self.champion
        if name != champ:
            return [self._decide(name, "reject", checks, at, "reject", before=champ, after=champ)]
        target = self._fallback(name)
        decided = self._decide(name, "rollback", checks, at, "rollback", before=name, after=target)
        self._crown(target)
        return [decided, ChampionChanged(self.spec.model, target, decided.decision.decision_id)]

    # -- commands ---------------------------------------------------------------------------------

    def _authorize(self, cmd: Command, action: str) -> Check:
        access = self.access
        if not access.allowed(cmd.actor, action, self.spec.model):
            return check(
                "authorization",
                False,
                "error",
                {"actor": cmd.actor, "action": action},
                {"model": self.spec.model},
                E_UNAUTHORIZED,
            )
        return check(
            "signature",
            verify(cmd, access.key(cmd.actor)),
            "error",
            {"actor": cmd.actor},
            "HMAC-SHA256 over the canonical event",
            E_BAD_SIGNATURE,
        )

    def _command_decision(
        self,
        cmd: Command,
        outcome: Outcome,
        checks: list[Check],
        source: SourceOffset,
        at: datetime,
        before: str | None,
        after: str | None,
    ) -> Decided:
        kind: SubjectKind = "command"
        return Decided(
            make_decision(
                kind=kind,
                subject_id=cmd.event_id,
                revision=1,
                outcome=outcome,
                gate=self.access.gate,
                checks=checks,
                event_ids=[cmd.event_id],
                inputs_digest=digest(to_jsonable(cmd)),
                offsets=[source],
                decided_at=at,
                version=self.version,
                champion_before=before,
                champion_after=after,
                trigger=self._trigger,
                model=self.spec.model,
            )
        )

    def _on_command(
        self, cmd: Command, source: SourceOffset, at: datetime, received_ms: int | None
    ) -> list[Effect]:
        action = "rollback" if isinstance(cmd, CommandRollback) else "override"
        auth = self._authorize(cmd, action)
        champ = self.champion
        if not auth.passed:
            return [self._command_decision(cmd, "denied", [auth], source, at, champ, champ)]
        once = self._once(cmd, received_ms)
        if not all(c.passed for c in once):
            return [self._command_decision(cmd, "denied", [auth, *once], source, at, champ, champ)]
        if isinstance(cmd, CommandRollback):
            return self._rollback(cmd, auth, source, at)
        return self._override(cmd, auth, source, at)

    def _once(self, cmd: Command, received_ms: int | None) -> list[Check]:
        """A signed command is good once and for a while: issued within max_command_age of its
        broker time (either side: clocks drift), with a nonce not seen before. Seen nonces are
        remembered for max_command_age, past which their commands are expired anyway."""
        age = self.access.max_command_age_ms
        issued = to_ms(cmd.issued_at)
        out = []
        if received_ms is not None:
            self.clock_ms = max(self.clock_ms, received_ms)
            self._changed.add(("m", ""))
            fresh = abs(received_ms - issued) <= age
            out.append(
                check(
                    "freshness",
                    fresh,
                    "error",
                    {"issued_at": cmd.issued_at.isoformat(), "received_ms": received_ms},
                    {"max_command_age_ms": age},
                    E_COMMAND_EXPIRED,
                )
            )
            if not fresh:
                return out
        replayed = cmd.nonce in self.nonces
        out.append(
            check("nonce", not replayed, "error", cmd.nonce, "not seen before", E_COMMAND_REPLAYED)
        )
        if not replayed:
            self.nonces[cmd.nonce] = issued
            self._changed.add(("n", cmd.nonce))
        for nonce in self._trim_nonces():
            self._changed.add(("n", nonce))
        return out

    def _trim_nonces(self) -> list[str]:
        horizon = self.clock_ms - self.access.max_command_age_ms
        old = [n for n, issued in self.nonces.items() if issued < horizon]
        for n in old:
            del self.nonces[n]
        return old

    def _rollback(
        self, cmd: CommandRollback, auth: Check, source: SourceOffset, at: datetime
    ) -> list[Effect]:
        champ = self.champion
        if cmd.to_version is not None:
            t = self.versions.get(cmd.to_version)
            ok = (
                t is not None
                and cmd.to_version != champ
                and t.state in ("promoted", "rolled_back")
                and self._clean(cmd.to_version)
            )
            target = cmd.to_version if ok else None
        else:
            target = self._fallback(champ) if champ else None
        target_check = check(
            "rollback_target",
            champ is not None and target is not None,
            "error",
            {"champion": champ, "target": target},
            cmd.to_version or "previous clean champion",
            E_NO_ROLLBACK_TARGET,
        )
        if not target_check.passed or champ is None:
            return [
                self._command_decision(
                    cmd, "denied", [auth, target_check], source, at, champ, champ
                )
            ]
        self._transition(champ, "rollback")
        self._crown(target)
        decided = self._command_decision(
            cmd, "rollback", [auth, target_check], source, at, champ, target
        )
        return [decided, ChampionChanged(self.spec.model, target, decided.decision.decision_id)]

    def _override(
        self, cmd: CommandOverride, auth: Check, source: SourceOffset, at: datetime
    ) -> list[Effect]:
        model, _, version = cmd.subject.partition(":")
        v = self.versions.get(version) if model == self.spec.model else None
        champ = self.champion
        if v is None:
            unknown = check(
                "subject", False, "error", cmd.subject, "a known model version", E_UNKNOWN_SUBJECT
            )
            return [
                self._command_decision(cmd, "denied", [auth, unknown], source, at, champ, champ)
            ]
        forced = check(
            "override",
            True,
            "error",
            {"outcome": cmd.outcome, "actor": cmd.actor, "reason": cmd.reason},
            None,
            "OK",
        )
        checks = [auth, forced]
        if cmd.outcome == "promote":
            decided = self._decide(
                version,
                "override",
                checks,
                at,
                "override_promote",
                before=champ,
                after=version,
                gate=self.access.gate,
            )
            return [
                decided,
                ChampionChanged(self.spec.model, version, decided.decision.decision_id),
            ]
        after = self._fallback(version) if version == champ else champ
        decided = self._decide(
            version,
            "override",
            checks,
            at,
            "override_reject",
            before=champ,
            after=after,
            gate=self.access.gate,
        )
        effects: list[Effect] = [decided]
        if after != champ:
            self._crown(after)
            effects.append(ChampionChanged(self.spec.model, after, decided.decision.decision_id))
        return effects

    # -- persistence ------------------------------------------------------------------------------

    def key(self, kind: str, ident: str = "") -> str:
        return f"{kind}{SEP}{self.spec.model}{SEP}{ident}"

    def _entry(self, kind: str, ident: str) -> Any:
        """The changelog value of one piece of state (None: it is gone)."""
        if kind == "m":
            return {
                "seq": self.seq,
                "pw": self.promoted_windows,
                "h": self.horizon,
                "vacant": self.history.vacant,
                "clock": self.clock_ms,
            }
        if kind == "v":
            v = self.versions.get(ident)
            return v.entry(self.history.crowned.get(ident)) if v else None
        if kind == "w":
            w = self.windows.get(ident)
            return [w.outcome, w.decision_id] if w else None
        if kind == "n":
            return self.nonces.get(ident)
        s = self.seen.get(ident)
        return list(s) if s else None

    def state_effects(self) -> list[Effect]:
        """Puts and deletes of what changed since the last call."""
        out: list[Effect] = []
        for kind, ident in sorted(self._changed):
            value = self._entry(kind, ident)
            key = self.key(kind, ident)
            out.append(StateDelete(key) if value is None else StatePut(key, value))
        self._changed.clear()
        return out

    def entries(self) -> dict[str, Any]:
        """Everything the gate holds, as changelog entries (what `restore` takes back)."""
        idents = (
            [("m", "")]
            + [("v", n) for n in self.versions]
            + [("w", w) for w in self.windows]
            + [("e", e) for e in self.seen]
            + [("n", n) for n in self.nonces]
        )
        return {self.key(k, i): self._entry(k, i) for k, i in idents}

    def restore(self, kind: str, ident: str, value: Any) -> None:
        """Apply one changelog entry; call `settle()` after the last one."""
        if kind == "m":
            self.seq = int(value["seq"])
            self.promoted_windows = list(value["pw"])
            self.horizon = {d: int(ms) for d, ms in value["h"].items()}
            self.history.vacant = value.get("vacant")
            self.clock_ms = int(value.get("clock", 0))
        elif kind == "v":
            self.versions[ident] = Version(
                ModelUpdate.model_validate(value["u"]),
                SourceOffset.model_validate(value["s"]),
                value["st"],
                int(value["r"]),
                value["d"],
                int(value["q"]),
            )
            if value["c"] is not None:
                self.history.crowned[ident] = int(value["c"])
        elif kind == "w":
            self.windows[ident] = WindowDecision(value[0], value[1])
        elif kind == "e":
            self.seen[ident] = (value[0], int(value[1]))
        elif kind == "n":
            self.nonces[ident] = int(value)
        else:
            raise ValueError(f"unknown model state kind {kind!r}")

    def settle(self) -> None:
        """After restore: forget what the bounds say is forgotten (tombstones may lag)."""
        self._trim_seen()
        self._trim_nonces()
        self._trim_versions()
        self._trim_windows()
        self._changed.clear()


def _parse(window_id: str) -> tuple[str, int] | None:
    """(dataset, start ms) of a window id, None if it is not one."""
    try:
        dataset, start, _ = parse_window_id(window_id)
    except ValueError:
        return None
    return dataset, start
