"""The model gate and promotion (SPEC §4): metrics, regression, lineage, hold, retraction,
signed commands and retraining triggers, for one model. Pure: inputs in, effects out."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from orchestrator.contracts.codec import to_jsonable
from orchestrator.contracts.events import CommandOverride, CommandRollback, ModelUpdate
from orchestrator.contracts.records import Check, Outcome, SourceOffset, TrainingRequested
from orchestrator.core.checks import check, gate_fails
from orchestrator.core.decision import GateInfo, SubjectKind, make_decision
from orchestrator.core.digest import canonical, digest
from orchestrator.core.effects import (
    ChampionChanged,
    Decided,
    Effect,
    Rejected,
    StatePut,
    TrainingRequest,
)
from orchestrator.core.promotion import State, next_state
from orchestrator.errors import (
    E_BAD_SIGNATURE,
    E_DUPLICATE_CONFLICT,
    E_LINEAGE_PENDING,
    E_LINEAGE_REJECTED,
    E_METRIC_MISSING,
    E_METRIC_THRESHOLD,
    E_REGRESSION,
    E_UNAUTHORIZED,
)

E_NO_ROLLBACK_TARGET = "E_NO_ROLLBACK_TARGET"
E_UNKNOWN_SUBJECT = "E_UNKNOWN_SUBJECT"
E_UNKNOWN_MODEL = "E_UNKNOWN_MODEL"


@dataclass(frozen=True, slots=True)
class ModelGateSpec:
    gate: GateInfo
    model: str
    datasets: frozenset[str]
    required_metrics: tuple[str, ...] = ()
    thresholds: tuple[tuple[str, float | None, float | None], ...] = ()  # (metric, min, max)
    primary: tuple[str, Literal["max", "min"], float] | None = (
        None  # (metric, direction, tolerance)
    )
    retrain_every: int | None = None


@dataclass(frozen=True, slots=True)
class AccessSpec:
    gate: GateInfo
    grants: frozenset[tuple[str, str, str]]  # (actor, action, model); model "*" = any
    keys: tuple[tuple[str, bytes], ...] = ()  # (actor, HMAC key), resolved by the shell

    def allowed(self, actor: str, action: str, model: str) -> bool:
        return (actor, action, model) in self.grants or (actor, action, "*") in self.grants

    def key(self, actor: str) -> bytes | None:
        return dict(self.keys).get(actor)


@dataclass(frozen=True, slots=True)
class DataNotice:
    """The latest data-gate decision of a window, routed to every model that uses its dataset."""

    window_id: str
    outcome: str
    decision_id: str


ModelInput = ModelUpdate | CommandRollback | CommandOverride | DataNotice


def signing_payload(command: CommandRollback | CommandOverride) -> bytes:
    """The canonical event without its signature: what an actor's key signs."""
    body = to_jsonable(command)
    body.pop("signature", None)
    return canonical(body)


def sign(command: CommandRollback | CommandOverride, key: bytes) -> str:
    """HMAC-SHA256 hex of the canonical event (the `signature` field is ignored)."""
    return hmac.new(key, signing_payload(command), hashlib.sha256).hexdigest()


C = TypeVar("C", CommandRollback, CommandOverride)


def signed(command: C, key: bytes) -> C:
    """The command with its signature set for `key` (whatever it carried before)."""
    return command.model_copy(update={"signature": sign(command, key)})


def version_id(model: str, version: str) -> str:
    """The subject id of a model version."""
    return f"{model}:{version}"


@dataclass
class Version:
    update: ModelUpdate
    source: SourceOffset
    state: State = "new"
    revision: int = 0
    decision_id: str | None = None


@dataclass
class ModelGate:
    spec: ModelGateSpec
    access: AccessSpec
    version: str  # orchestrator version, recorded in decisions
    versions: dict[str, Version] = field(default_factory=dict)
    windows: dict[str, tuple[str, str]] = field(
        default_factory=dict
    )  # window -> (outcome, decision)
    champions: list[str] = field(default_factory=list)  # promotion history; the last is champion
    seen: dict[str, str] = field(default_factory=dict)  # event id -> content digest
    promoted_windows: list[str] = field(default_factory=list)
    _trigger: SourceOffset | None = None  # where the input being handled sits in models.log

    @property
    def champion(self) -> str | None:
        return self.champions[-1] if self.champions else None

    # -- entry point ------------------------------------------------------------------------------

    def handle(
        self,
        item: ModelInput,
        source: SourceOffset,
        decided_at: datetime,
        trigger: SourceOffset | None = None,
    ) -> list[Effect]:
        self._trigger = trigger
        if isinstance(item, DataNotice):
            effects = self._on_data(item, decided_at)
        else:
            content = digest(to_jsonable(item))
            seen = self.seen.get(item.event_id)
            if seen == content:
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
            self.seen[item.event_id] = content
            if isinstance(item, ModelUpdate):
                effects = self._on_update(item, source, decided_at)
            else:
                effects = self._on_command(item, source, decided_at)
        effects.append(StatePut(self.spec.model, self.snapshot()))
        return effects

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
        self.versions[update.version] = Version(update, source)
        return self._evaluate(update.version, at, quiet_hold=False)

    def _lineage(self, v: Version) -> tuple[list[str], list[str], list[tuple[str, str, str]]]:
        """(rejected windows, pending windows, known decisions) of a version's trained_on."""
        rejected, pending, known = [], [], []
        for w in v.update.trained_on:
            dataset = w.split("/", 1)[0]
            decided = self.windows.get(w)
            if dataset not in self.spec.datasets:
                rejected.append(w)
            elif decided is None:
                pending.append(w)
            else:
                known.append((w, decided[0], decided[1]))
                if decided[0] != "promote":
                    rejected.append(w)
        return rejected, pending, known

    def _checks(self, v: Version) -> tuple[list[Check], list[str], list[str]]:
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
        for name, lo, hi in spec.thresholds:
            value = metrics.get(name)
            ok = value is not None and (lo is None or value >= lo) and (hi is None or value <= hi)
            out.append(
                check(
                    f"threshold:{name}",
                    ok,
                    "error",
                    value,
                    {"min": lo, "max": hi},
                    E_METRIC_THRESHOLD if value is not None else E_METRIC_MISSING,
                )
            )
        if spec.primary is not None:
            name, direction, tol = spec.primary
            champ = self.champion
            base = (
                self.versions[champ].update.metrics.get(name)
                if champ and champ != v.update.version
                else None
            )
            value = metrics.get(name)
            if base is None or value is None:
                ok = value is not None
            elif direction == "max":
                ok = value >= base - tol
            else:
                ok = value <= base + tol
            out.append(
                check(
                    "regression",
                    ok,
                    "error",
                    value,
                    {
                        "champion": champ if base is not None else None,
                        "champion_value": base,
                        "direction": direction,
                        "tolerance": tol,
                    },
                    E_REGRESSION if value is not None else E_METRIC_MISSING,
                )
            )
        rejected, pending, _ = self._lineage(v)
        lineage_code = E_LINEAGE_REJECTED if rejected else E_LINEAGE_PENDING
        out.append(
            check(
                "lineage",
                not rejected and not pending,
                "error",
                {"rejected": rejected, "pending": pending},
                {"trained_on": "promote"},
                lineage_code,
            )
        )
        return out, rejected, pending

    def _inputs(self, v: Version) -> tuple[list[str], str, list[SourceOffset]]:
        _, _, known = self._lineage(v)
        ids = [v.update.event_id] + [d for _, _, d in known]
        return ids, digest([digest(to_jsonable(v.update)), known]), [v.source]

    def _decide(
        self,
        v: Version,
        outcome: Outcome,
        checks: list[Check],
        at: datetime,
        transition: str,
        *,
        before: str | None,
        after: str | None,
        kind: SubjectKind = "model_version",
        subject: str | None = None,
        gate: GateInfo | None = None,
    ) -> Decided:
        v.state = next_state(v.state, transition)
        v.revision += 1
        ids, inputs_digest, offsets = self._inputs(v)
        decision = make_decision(
            kind=kind,
            subject_id=subject or version_id(self.spec.model, v.update.version),
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
        checks, rejected, pending = self._checks(v)
        others_fail = gate_fails([c for c in checks if c.name != "lineage"])
        champ = self.champion
        if others_fail or rejected:
            return [self._decide(v, "reject", checks, at, "reject", before=champ, after=champ)]
        if pending:
            if quiet_hold and v.state == "held":
                return []  # still waiting: nothing new to record
            return [self._decide(v, "hold", checks, at, "hold", before=champ, after=champ)]
        self.champions.append(name)
        decided = self._decide(v, "promote", checks, at, "promote", before=champ, after=name)
        return [decided, ChampionChanged(self.spec.model, name, decided.decision.decision_id)]

    # -- data decisions ---------------------------------------------------------------------------

    def _on_data(self, notice: DataNotice, at: datetime) -> list[Effect]:
        previous = self.windows.get(notice.window_id)
        self.windows[notice.window_id] = (notice.outcome, notice.decision_id)
        effects: list[Effect] = []
        was_promoted = previous is not None and previous[0] == "promote"
        if notice.outcome == "promote" and not was_promoted:
            effects.extend(self._count_promoted(notice.window_id))
        for name, v in list(self.versions.items()):
            if notice.window_id not in v.update.trained_on:
                continue
            if v.state == "held":
                effects.extend(self._evaluate(name, at, quiet_hold=True))
            elif v.state == "promoted" and notice.outcome != "promote" and was_promoted:
                effects.extend(self._retract(name, at))
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
        v = self.versions[name]
        rejected, pending, _ = self._lineage(v)
        return not rejected and not pending

    def _fallback(self, excluding: str) -> str | None:
        """The newest earlier champion, still promoted, whose lineage is clean."""
        for name in reversed(self.champions):
            if (
                name != excluding
                and self.versions[name].state in ("promoted", "rolled_back")
                and self._clean(name)
            ):
                return name
        return None

    def _retract(self, name: str, at: datetime) -> list[Effect]:
        v = self.versions[name]
        checks, _, _ = self._checks(v)
        if name != self.champion:
            return [
                self._decide(
                    v, "reject", checks, at, "reject", before=self.champion, after=self.champion
                )
            ]
        target = self._fallback(name)
        self._set_champion(target, removing=name)
        decided = self._decide(v, "rollback", checks, at, "rollback", before=name, after=target)
        return [decided, ChampionChanged(self.spec.model, target, decided.decision.decision_id)]

    def _set_champion(self, target: str | None, removing: str) -> None:
        self.champions = [c for c in self.champions if c != removing and c != target]
        if target is not None:
            t = self.versions[target]
            if t.state == "rolled_back":
                t.state = next_state(t.state, "restore")
            self.champions.append(target)

    # -- commands ---------------------------------------------------------------------------------

    def _authorize(self, cmd: CommandRollback | CommandOverride, action: str) -> Check:
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
        key = access.key(cmd.actor)
        ok = key is not None and hmac.compare_digest(sign(cmd, key), cmd.signature)
        return check(
            "signature",
            ok,
            "error",
            {"actor": cmd.actor},
            "HMAC-SHA256 over the canonical event",
            E_BAD_SIGNATURE,
        )

    def _command_decision(
        self,
        cmd: CommandRollback | CommandOverride,
        outcome: Outcome,
        checks: list[Check],
        source: SourceOffset,
        at: datetime,
        before: str | None,
        after: str | None,
    ) -> Decided:
        inputs_digest = digest(to_jsonable(cmd))
        return Decided(
            make_decision(
                kind="command",
                subject_id=cmd.event_id,
                revision=1,
                outcome=outcome,
                gate=self.access.gate,
                checks=checks,
                event_ids=[cmd.event_id],
                inputs_digest=inputs_digest,
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
        self, cmd: CommandRollback | CommandOverride, source: SourceOffset, at: datetime
    ) -> list[Effect]:
        action = "rollback" if isinstance(cmd, CommandRollback) else "override"
        auth = self._authorize(cmd, action)
        champ = self.champion
        if not auth.passed:
            return [self._command_decision(cmd, "denied", [auth], source, at, champ, champ)]
        if isinstance(cmd, CommandRollback):
            return self._rollback(cmd, auth, source, at)
        return self._override(cmd, auth, source, at)

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
        current = self.versions[champ]
        current.state = next_state(current.state, "rollback")
        self._set_champion(target, removing=champ)
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
            self.champions = [c for c in self.champions if c != version] + [version]
            decided = self._decide(
                v,
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
        after = champ
        if version == champ:
            after = self._fallback(version)
            self._set_champion(after, removing=version)
        decided = self._decide(
            v,
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
            effects.append(ChampionChanged(self.spec.model, after, decided.decision.decision_id))
        return effects

    # -- persistence ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "versions": {
                k: {
                    "update": to_jsonable(v.update),
                    "source": v.source.model_dump(),
                    "state": v.state,
                    "revision": v.revision,
                    "decision_id": v.decision_id,
                }
                for k, v in self.versions.items()
            },
            "windows": self.windows,
            "champions": self.champions,
            "seen": self.seen,
            "promoted_windows": self.promoted_windows,
        }

    def restore(self, value: dict[str, Any]) -> None:
        self.versions = {
            k: Version(
                ModelUpdate.model_validate(v["update"]),
                SourceOffset.model_validate(v["source"]),
                v["state"],
                v["revision"],
                v["decision_id"],
            )
            for k, v in value["versions"].items()
        }
        self.windows = {w: (o, d) for w, (o, d) in value["windows"].items()}
        self.champions = list(value["champions"])
        self.seen = dict(value["seen"])
        self.promoted_windows = list(value["promoted_windows"])


POSITION_KEY = "\x1fpos"


class ModelPartition:
    """The model gates of one `models.log` partition, one per model, plus the input position."""

    def __init__(self, specs: dict[str, ModelGateSpec], access: AccessSpec, version: str) -> None:
        self.specs = specs
        self.access = access
        self.version = version
        self.gates: dict[str, ModelGate] = {}
        self.position = 0

    def gate(self, model: str) -> ModelGate | None:
        g = self.gates.get(model)
        if g is None and model in self.specs:
            g = self.gates[model] = ModelGate(self.specs[model], self.access, self.version)
        return g

    def handle(
        self,
        model: str,
        item: ModelInput,
        source: SourceOffset,
        offset: int,
        decided_at: datetime,
        trigger: SourceOffset | None = None,
    ) -> list[Effect]:
        self.position = offset + 1
        g = self.gate(model)
        if g is None:
            event_id = item.decision_id if isinstance(item, DataNotice) else item.event_id
            return [
                Rejected(
                    model,
                    event_id,
                    E_UNKNOWN_MODEL,
                    f"field 'model': no policy for model {model!r} in gates/models",
                )
            ]
        return g.handle(item, source, decided_at, trigger)

    def skip(self, offset: int) -> None:
        self.position = offset + 1

    def position_entry(self) -> StatePut:
        return StatePut(POSITION_KEY, self.position)

    @classmethod
    def restore(
        cls,
        specs: dict[str, ModelGateSpec],
        access: AccessSpec,
        version: str,
        entries: list[tuple[str, Any]],
    ) -> ModelPartition:
        part = cls(specs, access, version)
        for key, value in entries:
            if key == POSITION_KEY:
                part.position = int(value)
            else:
                g = part.gate(key)
                if g is not None:
                    g.restore(value)
        return part
