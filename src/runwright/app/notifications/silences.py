"""Keep a run's Alertmanager silences alive while the run is driven; expire them at its end.

The ``silence`` step journals each silence it creates. This keeper follows the run's events:
every third of a lease it extends each silence the run holds (Alertmanager may answer with a
new id when it replaces one; the new id is journaled), and when the run has ended it expires
them. Nothing extends a silence of a run that nobody drives (runwright died, or the run waits
for a person), so such a silence lapses by itself within one lease; ``resume`` extends it
again (or creates it anew if it lapsed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from runwright.engine.clock import Clock
from runwright.engine.store import Store
from runwright.errors import NotifyError
from runwright.model.event_type import EventType
from runwright.notify.alertmanager import Alertmanager, Matcher

log = logging.getLogger(__name__)


@dataclass
class Held:
    id: str
    alertmanager: str
    matchers: list[Matcher]
    starts: datetime
    lease: float
    comment: str
    created_by: str
    due: float = 0.0


@dataclass
class SilenceKeeper:
    store: Store
    clock: Clock
    actor: str
    active: bool = True
    tick: float = 0.2
    held: dict[str, Held] = field(default_factory=dict)
    _seen: int = 0
    _stop: bool = False

    def _read(self, run_id: int) -> None:
        for event in self.store.events(run_id):
            if event.seq <= self._seen:
                continue
            self._seen = event.seq
            data = event.data
            if event.type == EventType.SILENCE_CREATED:
                matchers = [
                    Matcher(m["name"], m["value"], m["isRegex"], m["isEqual"])
                    for m in data["matchers"]
                ]
                self.held[str(data["id"])] = Held(
                    str(data["id"]),
                    str(data["alertmanager"]),
                    matchers,
                    datetime.fromisoformat(str(data["starts"])),
                    float(data["lease"]),
                    str(data.get("comment", "")),
                    event.actor,
                )
            elif event.type == EventType.SILENCE_EXTENDED and data["from"] in self.held:
                old = self.held.pop(str(data["from"]))
                old.id = str(data["id"])
                self.held[old.id] = old
            elif event.type == EventType.SILENCE_EXPIRED:
                self.held.pop(str(data["id"]), None)

    async def _extend(self, run_id: int, held: Held) -> None:
        client = Alertmanager(held.alertmanager)
        now = self.clock.now()
        starts = held.starts if held.starts <= now else now
        try:
            new_id = await client.put_silence(
                matchers=held.matchers,
                starts=starts,
                lease=(now - starts).total_seconds() + held.lease,
                created_by=held.created_by,
                comment=held.comment,
                silence_id=held.id,
            )
        except NotifyError as exc:
            log.warning("could not extend silence %s: %s", held.id, exc)
            return
        finally:
            await client.aclose()
        self.store.append(
            run_id,
            actor=self.actor,
            type=EventType.SILENCE_EXTENDED,
            at=now,
            data={"id": new_id, "from": held.id, "lease": held.lease},
        )
        self._read(run_id)

    async def _expire_all(self, run_id: int) -> None:
        for held in list(self.held.values()):
            client = Alertmanager(held.alertmanager)
            try:
                await client.expire(held.id)
            except NotifyError as exc:
                log.warning("could not expire silence %s: %s", held.id, exc)
                continue
            finally:
                await client.aclose()
            self.store.append(
                run_id,
                actor=self.actor,
                type=EventType.SILENCE_EXPIRED,
                at=self.clock.now(),
                data={"id": held.id},
            )
        self._read(run_id)

    async def pump(self, run_id: int) -> None:
        self._read(run_id)
        if self.store.run(run_id).terminal:
            await self._expire_all(run_id)
            return
        now = self.clock.monotonic()
        for held in list(self.held.values()):
            if held.due == 0.0:
                held.due = now + held.lease / 3
            elif now >= held.due:
                held.due = now + held.lease / 3
                await self._extend(run_id, held)

    async def follow(self, run_id: int) -> None:
        first = True
        while not self._stop:
            if first:
                self._read(run_id)
                for held in list(self.held.values()):
                    await self._extend(run_id, held)
                first = False
            await self.pump(run_id)
            await self.clock.sleep(self.tick)
        await self.pump(run_id)

    def stop(self) -> None:
        self._stop = True

    async def aclose(self) -> None:
        return None
