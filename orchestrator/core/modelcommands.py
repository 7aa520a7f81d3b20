"""Operator commands at the model gate: admission (a command is judged once, for ever),
authorization and signature, freshness and nonce (a command is good once and for a while),
then the rollback or override itself.

Judged once, for ever: a command's event id and nonce are remembered from its `issued_at` for
max_command_age + COMMAND_SKEW_MS (durably, in the gate's state), by the latest broker time of
a command the gate has read. A command issued before that horizon could be one the gate has
judged and forgotten: it is refused unjudged (dlq, E_COMMAND_EXPIRED), never decided again
under the decision id it was given the first time. No other input shares this memory."""

from __future__ import annotations

from datetime import datetime

from orchestrator.contracts.codec import to_jsonable
from orchestrator.contracts.events import CommandOverride, CommandRollback, signed_time_ms
from orchestrator.contracts.records import Check, Outcome, SourceOffset
from orchestrator.core.access import Command, verify
from orchestrator.core.checks import check
from orchestrator.core.decision import SubjectKind, make_decision
from orchestrator.core.digest import digest
from orchestrator.core.effects import ChampionChanged, Decided, Effect, Rejected
from orchestrator.core.modelchecks import ModelChecks
from orchestrator.core.modelstate import META
from orchestrator.core.timeutil import format_rfc3339_ms
from orchestrator.errors import (
    E_BAD_SIGNATURE,
    E_COMMAND_EXPIRED,
    E_COMMAND_REPLAYED,
    E_DUPLICATE_CONFLICT,
    E_NO_ROLLBACK_TARGET,
    E_STATE_LIMIT,
    E_UNAUTHORIZED,
    E_UNKNOWN_SUBJECT,
)


def admit(mg: ModelChecks, cmd: Command, received_ms: int | None) -> list[Effect] | None:
    """What to do with a command before it is judged: None (judge it; its event id is
    remembered from now on), [] (the same command again: ignored) or a refusal for the dlq
    (the event id reused with other content; issued outside what the gate remembers; the
    memory full). A refusal changes no state."""
    content = digest(to_jsonable(cmd))
    known = mg.commands.get(cmd.event_id) or mg.seen.get(cmd.event_id)
    if known is not None:
        if known[0] == content:
            return []
        return [
            Rejected(
                mg.spec.model,
                cmd.event_id,
                E_DUPLICATE_CONFLICT,
                f"event_id {cmd.event_id!r} was already used with different content",
            )
        ]
    clock = mg.clock_ms if received_ms is None else max(mg.clock_ms, received_ms)
    issued = signed_time_ms(cmd.issued_at)
    memory = mg.command_memory_ms
    if not clock - memory <= issued <= clock + memory:
        return [
            Rejected(
                mg.spec.model,
                cmd.event_id,
                E_COMMAND_EXPIRED,
                f"field 'issued_at': {cmd.issued_at} is more than {memory} ms "
                f"(max_command_age + skew) from the latest broker time of a command, "
                f"{format_rfc3339_ms(clock)}: a command that old is not judged (it may be one "
                "judged before and forgotten); issue a new one",
            )
        ]
    if len(mg.commands) >= mg.spec.max_event_ids:
        return [
            Rejected(
                mg.spec.model,
                cmd.event_id,
                E_STATE_LIMIT,
                f"model {mg.spec.model} remembers {len(mg.commands)} commands issued in the "
                f"last {memory} ms (max_event_ids): send it again later",
            )
        ]
    if clock != mg.clock_ms:
        mg.clock_ms = clock
        mg.changed.add((META, ""))
    mg.remember_command(cmd.event_id, content, issued)
    for kind, ident in mg._trim_commands():
        mg.changed.add((kind, ident))
    return None


def _authorize(mg: ModelChecks, cmd: Command, action: str) -> Check:
    access = mg.access
    if not access.allowed(cmd.actor, action, mg.spec.model):
        return check(
            "authorization",
            False,
            "error",
            {"actor": cmd.actor, "action": action},
            {"model": mg.spec.model},
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
    mg: ModelChecks,
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
            gate=mg.access.gate,
            checks=checks,
            event_ids=[cmd.event_id],
            inputs_digest=digest(to_jsonable(cmd)),
            offsets=[source],
            decided_at=at,
            version=mg.version,
            champion_before=before,
            champion_after=after,
            trigger=mg.trigger,
            model=mg.spec.model,
        )
    )


def on_command(
    mg: ModelChecks, cmd: Command, source: SourceOffset, at: datetime, received_ms: int | None
) -> list[Effect]:
    action = "rollback" if isinstance(cmd, CommandRollback) else "override"
    auth = _authorize(mg, cmd, action)
    champ = mg.champion
    if not auth.passed:
        return [_command_decision(mg, cmd, "denied", [auth], source, at, champ, champ)]
    once = _once(mg, cmd, received_ms)
    if not all(c.passed for c in once):
        return [_command_decision(mg, cmd, "denied", [auth, *once], source, at, champ, champ)]
    checks = [auth, *once]
    if isinstance(cmd, CommandRollback):
        return _rollback(mg, cmd, checks, source, at)
    return _override(mg, cmd, checks, source, at)


def _once(mg: ModelChecks, cmd: Command, received_ms: int | None) -> list[Check]:
    """A signed command is good once and for a while: issued within max_command_age of its
    broker time (either side: clocks drift), with a nonce not seen before. A command whose
    record has no broker time the worker trusts (None) is not fresh: no check is skipped."""
    age = mg.access.max_command_age_ms
    issued = signed_time_ms(cmd.issued_at)
    fresh = received_ms is not None and abs(received_ms - issued) <= age
    out = [
        check(
            "freshness",
            fresh,
            "error",
            {"issued_at": cmd.issued_at, "received_ms": received_ms},
            {"max_command_age_ms": age},
            E_COMMAND_EXPIRED,
        )
    ]
    if not fresh:
        return out
    replayed = cmd.nonce in mg.nonces
    out.append(
        check("nonce", not replayed, "error", cmd.nonce, "not seen before", E_COMMAND_REPLAYED)
    )
    if not replayed:
        mg.remember_nonce(cmd.nonce, issued)
    return out


def _rollback(
    mg: ModelChecks, cmd: CommandRollback, checks: list[Check], source: SourceOffset, at: datetime
) -> list[Effect]:
    champ = mg.champion
    if cmd.to_version is not None:
        t = mg.versions.get(cmd.to_version)
        ok = (
            t is not None
            and cmd.to_version != champ
            and t.state in ("promoted", "rolled_back")
            and mg.clean_lineage(cmd.to_version)
        )
        target = cmd.to_version if ok else None
    else:
        target = mg.fallback(champ) if champ else None
    target_check = check(
        "rollback_target",
        champ is not None and target is not None,
        "error",
        {"champion": champ, "target": target},
        cmd.to_version or "previous clean champion",
        E_NO_ROLLBACK_TARGET,
    )
    checks = [*checks, target_check]
    if not target_check.passed or champ is None:
        return [_command_decision(mg, cmd, "denied", checks, source, at, champ, champ)]
    mg.transition(champ, "rollback")
    mg.crown(target)
    decided = _command_decision(mg, cmd, "rollback", checks, source, at, champ, target)
    return [decided, ChampionChanged(mg.spec.model, target, decided.decision.decision_id)]


def _override(
    mg: ModelChecks, cmd: CommandOverride, checks: list[Check], source: SourceOffset, at: datetime
) -> list[Effect]:
    model, _, version = cmd.subject.partition(":")
    v = mg.versions.get(version) if model == mg.spec.model else None
    champ = mg.champion
    if v is None:
        unknown = check(
            "subject", False, "error", cmd.subject, "a known model version", E_UNKNOWN_SUBJECT
        )
        return [_command_decision(mg, cmd, "denied", [*checks, unknown], source, at, champ, champ)]
    forced = check(
        "override",
        True,
        "error",
        {"outcome": cmd.outcome, "actor": cmd.actor, "reason": cmd.reason},
        None,
        "OK",
    )
    checks = [*checks, forced]
    if cmd.outcome == "promote":
        decided = mg.decide(
            version,
            "override",
            checks,
            at,
            "override_promote",
            before=champ,
            after=version,
            gate=mg.access.gate,
        )
        return [
            decided,
            ChampionChanged(mg.spec.model, version, decided.decision.decision_id),
        ]
    after = mg.fallback(version) if version == champ else champ
    decided = mg.decide(
        version,
        "override",
        checks,
        at,
        "override_reject",
        before=champ,
        after=after,
        gate=mg.access.gate,
    )
    effects: list[Effect] = [decided]
    if after != champ:
        mg.crown(after)
        effects.append(ChampionChanged(mg.spec.model, after, decided.decision.decision_id))
    return effects
