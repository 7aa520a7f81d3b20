"""What the model gate of one model remembers, and how: versions, decided windows, the champion
history, event ids and command nonces seen, counters. State is kept per key, so that no
changelog record grows with history: the model's small record (counters, retraining progress,
lineage horizon), one record per version, per decided window, per remembered event id and per
nonce. Versions, windows and event ids are bounded by the policy (`max_versions`,
`max_windows`, `max_event_ids`), nonces by `max_command_age`; what falls out is forgotten by a
rule that `settle()` applies again after a restore, so forgetting needs no tombstone in the same
checkpoint (pipeline/shell.py, worker/sink.py)."""

from __future__ import annotations

import heapq
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Final

from orchestrator.contracts.events import ModelUpdate
from orchestrator.contracts.records import SourceOffset
from orchestrator.core.access import AccessSpec
from orchestrator.core.effects import Effect, Rejected, StateDelete, StatePut
from orchestrator.core.modelspec import ModelGateSpec, Version, WindowDecision
from orchestrator.core.promotion import History, next_state
from orchestrator.core.timeutil import dataset_start
from orchestrator.errors import E_STATE_LIMIT

SEP = "\x1f"
#: the kinds of a model gate's changelog keys (one letter each, so that keys stay short and
#: those already written keep being read)
META: Final = "m"  # champion, challenger, counters
VERSION: Final = "v"  # a version and what was decided of it
DECIDED: Final = "w"  # the latest data decision of a window its versions were trained on
SEEN: Final = "e"  # an event id seen (dedupe)
NONCE: Final = "n"  # a command nonce used
COMMAND: Final = "c"  # a command judged (never judged again)
#: how much longer than `max_command_age` a command (its event id and nonce) is remembered:
#: room for the clocks of the brokers behind different partitions, and for commands read later
#: than others. A command issued before that horizon is refused unjudged (core/modelcommands.py).
COMMAND_SKEW_MS = 300_000


@dataclass
class ModelState:
    """The state of one model's gate, its bounds and its changelog entries (the decisions
    themselves are `ModelGate`'s)."""

    spec: ModelGateSpec
    access: AccessSpec
    version: str  # orchestrator version, recorded in decisions
    versions: dict[str, Version] = field(default_factory=dict)
    windows: dict[str, WindowDecision] = field(default_factory=dict)
    history: History = field(default_factory=History)
    #: event id -> (content digest, sequence number), oldest first (evicted from the front)
    seen: OrderedDict[str, tuple[str, int]] = field(default_factory=OrderedDict)
    #: command event id -> (content digest, issued ms): kept as long as the nonces, and never
    #: evicted by other inputs (a command is judged once, for ever)
    commands: dict[str, tuple[str, int]] = field(default_factory=dict)
    promoted_windows: list[str] = field(default_factory=list)
    #: dataset -> the latest start (ms) of a window forgotten from `windows`
    horizon: dict[str, int] = field(default_factory=dict)
    #: command nonces seen -> when the command was issued (ms); kept for max_command_age + skew
    nonces: dict[str, int] = field(default_factory=dict)
    #: (issued ms, kind, ident) of every remembered command and nonce: what expires first on top
    expiry: list[tuple[int, str, str]] = field(default_factory=list)
    #: the latest broker time (ms) of a command handled (the nonce memory's clock)
    clock_ms: int = 0
    #: retraining requests made, and the event time (ms) of the latest (its debounce)
    requests: int = 0
    retrain_at_ms: int | None = None
    seq: int = 0
    trigger: SourceOffset | None = None  # where the input being handled sits in models.log
    #: where the input being handled was read (its topic, partition and offset)
    source: SourceOffset | None = None
    changed: set[tuple[str, str]] = field(default_factory=set)

    @property
    def champion(self) -> str | None:
        return self.history.champion

    @property
    def challenger(self) -> str | None:
        """The version in the staged rollout's challenger state (at most one)."""
        return next((n for n, v in self.versions.items() if v.state == "challenger"), None)

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _remember(self, event_id: str, content: str) -> None:
        self.seen[event_id] = (content, self._next())
        self.changed.add((SEEN, event_id))
        for forgotten in self._trim_seen():
            self.changed.add((SEEN, forgotten))

    def _trim_seen(self) -> list[str]:
        """The oldest ids past max_event_ids, each in O(1) (`seen` is kept oldest first)."""
        out = []
        while len(self.seen) > self.spec.max_event_ids:
            out.append(self.seen.popitem(last=False)[0])
        return out

    def _forgettable(self) -> list[str]:
        """Versions that may be forgotten, oldest first: not held, not the challenger, not in
        the champion history."""
        crowned = self.history.crowned
        return sorted(
            (
                n
                for n, v in self.versions.items()
                if v.state not in ("held", "challenger") and n not in crowned
            ),
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
        parsed = {w: dataset_start(w) for w in self.windows}
        forgotten = sorted(self.windows, key=lambda w: (parsed[w][1], w))[:excess]
        for w in forgotten:
            del self.windows[w]
            dataset, start = parsed[w]
            self.horizon[dataset] = max(self.horizon.get(dataset, start), start)
        return forgotten

    @property
    def command_memory_ms(self) -> int:
        """How long a command's event id and nonce are remembered after it was issued."""
        return self.access.max_command_age_ms + COMMAND_SKEW_MS

    def remember_command(self, event_id: str, content: str, issued_ms: int) -> None:
        self.commands[event_id] = (content, issued_ms)
        heapq.heappush(self.expiry, (issued_ms, COMMAND, event_id))
        self.changed.add((COMMAND, event_id))

    def remember_nonce(self, nonce: str, issued_ms: int) -> None:
        self.nonces[nonce] = issued_ms
        heapq.heappush(self.expiry, (issued_ms, NONCE, nonce))
        self.changed.add((NONCE, nonce))

    def _trim_commands(self) -> list[tuple[str, str]]:
        """Commands and nonces issued before clock - memory, each in O(log n): their commands
        can no longer be judged (core/modelcommands.py refuses them unjudged)."""
        horizon = self.clock_ms - self.command_memory_ms
        out = []
        expiry = self.expiry
        while expiry and expiry[0][0] < horizon:
            issued, kind, ident = heapq.heappop(expiry)
            memory: dict[str, Any] = self.commands if kind == COMMAND else self.nonces
            kept = memory.get(ident)
            if kept is not None and (kept[1] if kind == COMMAND else kept) == issued:
                del memory[ident]
                out.append((kind, ident))
        return out

    def transition(self, name: str, transition: str) -> None:
        """Move a version through the promotion table and the champion history together."""
        v = self.versions[name]
        v.state = next_state(v.state, transition)
        self.history.move(name, transition, self._next())
        self.changed.add((VERSION, name))

    def crown(self, target: str | None) -> None:
        """A fallback or rollback target becomes champion again (restored if rolled back);
        None: no version is champion any more."""
        if target is None:
            self.history.vacate(self._next())
        else:
            self.transition(target, "restore")

    def key(self, kind: str, ident: str = "") -> str:
        return f"{kind}{SEP}{self.spec.model}{SEP}{ident}"

    def _entry(self, kind: str, ident: str) -> Any:
        """The changelog value of one piece of state (None: it is gone)."""
        if kind == META:
            meta: dict[str, Any] = {
                "seq": self.seq,
                "pw": self.promoted_windows,
                "h": self.horizon,
                "vacant": self.history.vacant,
                "clock": self.clock_ms,
            }
            if self.requests:  # only once there is one: the record is what it always was
                meta["rq"] = [self.requests, self.retrain_at_ms]
            return meta
        if kind == VERSION:
            v = self.versions.get(ident)
            return v.entry(self.history.crowned.get(ident)) if v else None
        if kind == DECIDED:
            w = self.windows.get(ident)
            return [w.outcome, w.decision_id] if w else None
        if kind == NONCE:
            return self.nonces.get(ident)
        if kind == COMMAND:
            c = self.commands.get(ident)
            return list(c) if c else None
        s = self.seen.get(ident)
        return list(s) if s else None

    def state_effects(self) -> list[Effect]:
        """Puts and deletes of what changed since the last call."""
        out: list[Effect] = []
        for kind, ident in sorted(self.changed):
            value = self._entry(kind, ident)
            key = self.key(kind, ident)
            out.append(StateDelete(key) if value is None else StatePut(key, value))
        self.changed.clear()
        return out

    def entries(self) -> dict[str, Any]:
        """Everything the gate holds, as changelog entries (what `restore` takes back)."""
        idents = (
            [(META, "")]
            + [(VERSION, n) for n in self.versions]
            + [(DECIDED, w) for w in self.windows]
            + [(SEEN, e) for e in self.seen]
            + [(NONCE, n) for n in self.nonces]
            + [(COMMAND, c) for c in self.commands]
        )
        return {self.key(k, i): self._entry(k, i) for k, i in idents}

    def restore(self, kind: str, ident: str, value: Any) -> None:
        """Apply one changelog entry; call `settle()` after the last one."""
        if kind == META:
            self.seq = int(value["seq"])
            self.promoted_windows = list(value["pw"])
            self.horizon = {d: int(ms) for d, ms in value["h"].items()}
            self.history.vacant = value.get("vacant")
            self.clock_ms = int(value.get("clock", 0))
            requests, at = value.get("rq", (0, None))
            self.requests, self.retrain_at_ms = int(requests), None if at is None else int(at)
        elif kind == VERSION:
            self.versions[ident] = Version(
                ModelUpdate.model_validate(value["u"]),
                SourceOffset.model_validate(value["s"]),
                value["st"],
                int(value["r"]),
                value["d"],
                int(value["q"]),
                value.get("lv"),
                list(value.get("g", [])),
            )
            if value["c"] is not None:
                self.history.crowned[ident] = int(value["c"])
        elif kind == DECIDED:
            self.windows[ident] = WindowDecision(value[0], value[1])
        elif kind == SEEN:
            self.seen[ident] = (value[0], int(value[1]))
        elif kind == NONCE:
            self.remember_nonce(ident, int(value))
        elif kind == COMMAND:
            self.remember_command(ident, value[0], int(value[1]))
        else:
            raise ValueError(f"unknown model state kind {kind!r}")

    def settle(self) -> None:
        """After restore: forget what the bounds say is forgotten (tombstones may lag)."""
        # the changelog's order is not the order ids were remembered in: oldest first again
        self.seen = OrderedDict(sorted(self.seen.items(), key=lambda kv: kv[1][1]))
        self._trim_seen()
        self._trim_commands()
        self._trim_versions()
        self._trim_windows()
        self.changed.clear()
