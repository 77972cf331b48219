"""Sends the simulated county's actions through casetrack's real interfaces, as its real users would: each district's
own system over the NATS ingest subjects (every answer read back), children's services, the panel, district officers
and providers over HTTP with bearer tokens of their own, commissioners and finance officers for the catalogue and
money. Nothing is written into a store.

The county's catalogue and money go first; then one asyncio task per district sends that district's actions in
simulated time order (the simulator places each district's young people in its own schemes, so districts never race
each other for a unit). Every action carries its simulated `occurred_at` (or day). A refused message or request is a
failure of the demo (`DemoFailed`, with the reasons casetrack gave: never a value sent), not something to skip."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import nats

from shared.demo.simulator import Action, letters

RETRY = {429, 502, 503, 504}
CASE_PATHS = {
    "eligibility": "eligibility", "mediation-attempt": "mediation-attempts", "mediation-outcome": "mediation-outcomes",
    "assessment": "assessments", "panel-decision": "panel-decisions", "closure": "closure", "reopening": "reopening",
    "duty-start": "duty-starts", "duty-end": "duty-ends", "return-home-follow-up": "return-home-follow-ups",
    "legal-status": "legal-status",
}
"""District message kind -> the referral service's route under /cases/{id}/ for the same change over HTTP."""


class DemoFailed(RuntimeError):
    """casetrack refused something the demo sent: the demo's own failure, with casetrack's reasons."""


Tokens = Callable[..., str]
"""`tokens(role, subject=..., district=..., provider=...)` -> a bearer token for that caller."""


@dataclass
class Doors:
    """How to reach a running casetrack: each service's URL, bearer tokens, and each district's NATS options."""

    urls: dict[str, str]
    tokens: Tokens
    district_nats: Callable[[str], dict[str, Any]]


@dataclass
class Sent:
    """What the driver learned from casetrack's answers: ids for the simulation's names, and the last positions."""

    run: str
    providers: dict[str, str] = field(default_factory=dict)
    schemes: dict[str, str] = field(default_factory=dict)
    scheme_provider: dict[str, str] = field(default_factory=dict)
    scheme_keys: dict[str, str] = field(default_factory=dict)
    cases: dict[int, str] = field(default_factory=dict)
    case_positions: dict[int, str] = field(default_factory=dict)
    placements: dict[tuple[int, int], str] = field(default_factory=dict)
    placement_scheme: dict[tuple[int, int], str] = field(default_factory=dict)
    floating_support: dict[tuple[int, int], str] = field(default_factory=dict)
    floating_support_scheme: dict[tuple[int, int], str] = field(default_factory=dict)
    placement_positions: dict[int, str] = field(default_factory=dict)
    positions: dict[str, int] = field(default_factory=dict)
    actions: int = 0

    def saw(self, position: str) -> str:
        service, number = position.split(":")
        self.positions[service] = max(self.positions.get(service, 0), int(number))
        return position

    def after(self, *services: str) -> list[str]:
        """The last position written to each service (or to those named): `?after=` for a read of them all."""
        return [f"{service}:{number}" for service, number in sorted(self.positions.items())
                if not services or service in services]


class CountyDriver:
    """Drives one simulated county into a running casetrack."""

    def __init__(self, doors: Doors, run: str | None = None, done: Callable[[Action], None] = lambda _: None):
        self.doors = doors
        self.sent = Sent(run or uuid.uuid4().hex[:8])
        self.salt = letters(int(self.sent.run, 16)).capitalize()
        """Names are the simulation's plus the run's own letters, so a second demo on the same system never takes
        its young people for the first's."""
        self.done = done
        self._tokens: dict[tuple, str] = {}
        self._http: dict[str, httpx.AsyncClient] = {}

    async def drive(self, actions: list[Action], costed_through: date | None = None) -> Sent:
        """Send every action; then, given `costed_through`, run the finance service's cost run to that day."""
        self._http = {name: httpx.AsyncClient(base_url=url, timeout=60) for name, url in self.doors.urls.items()}
        try:
            by_district: dict[str, list[Action]] = defaultdict(list)
            for action in actions:
                if action.district is None:
                    await self._catalogue(action)
                    self._done(action)
                else:
                    by_district[action.district].append(action)
            connecting = {district: self.doors.district_nats(district) for district in by_district}
            async with asyncio.TaskGroup() as group:  # one district system each, all at once
                for district, theirs in by_district.items():
                    group.create_task(DistrictClient(self, district, connecting[district]).send(theirs))
            if costed_through is not None:
                await self.cost_run(costed_through)
        except* DemoFailed as failed:
            raise failed.exceptions[0] from None
        finally:
            for client in self._http.values():
                await client.aclose()
        return self.sent

    def _done(self, action: Action) -> None:
        self.sent.actions += 1
        self.done(action)

    # -- HTTP -----------------------------------------------------------------------------------------------------

    def token(self, role: str, subject: str, district: str | None = None, provider: str | None = None) -> dict:
        key = (role, subject, district, provider)
        if key not in self._tokens:
            self._tokens[key] = self.doors.tokens(role, subject=subject, district=district, provider=provider)
        return {"Authorization": f"Bearer {self._tokens[key]}"}

    async def request(self, what: Action | str, service: str, method: str, path: str, headers: dict,
                      body: dict | None = None, params: dict | None = None) -> dict:
        """One request, with an Idempotency-Key kept across retries; retried while casetrack says to wait (429,
        503, a write in progress); any other refusal is DemoFailed with its reasons."""
        client = self._http[service]
        headers = {**headers, "Idempotency-Key": uuid.uuid4().hex} if method == "POST" else headers
        pause = 0.1
        for _ in range(200):
            try:
                response = await client.request(method, path, json=body, params=params, headers=headers)
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code < 300:
                return response.json()
            if response is not None and response.status_code not in RETRY and not (
                    response.status_code == 409 and "retry-after" in response.headers):
                raise DemoFailed(f"{_what(what)}: {service} answered {response.status_code} "
                                 f"{_reasons(response)}")
            wait = float(response.headers.get("retry-after", pause)) if response is not None else pause
            await asyncio.sleep(min(wait, 5.0))  # casetrack asked the client to wait (429, 503) or is restarting
            pause = min(pause * 2, 2.0)
        raise DemoFailed(f"{_what(what)}: {service} did not answer")

    # -- the catalogue and money --------------------------------------------------------------------------------

    async def _catalogue(self, action: Action) -> None:
        facts, sent = action.facts, self.sent
        commissioner = self.token("commissioner", f"demo-commissioner-{sent.run}")
        at = action.at.isoformat()
        if action.kind == "provider":
            answer = await self.request(action, "placement", "POST", "/providers", commissioner, {
                "name": facts["provider"], "district": facts["district"], "occurred_at": at})
            sent.providers[facts["provider"]] = answer["provider_id"]
        elif action.kind == "scheme":
            answer = await self.request(action, "placement", "POST", "/schemes", commissioner, {
                "provider_id": sent.providers[facts["provider"]],
                "name": f"{facts['provider']}: {facts['provision_type'].replace('_', ' ')} in {facts['district']}",
                "occurred_at": at, **{key: facts[key] for key in (
                    "district", "provision_type", "pathway_stage", "support_level", "support_hours_per_week",
                    "capacity_units", "opened_on", "max_stay_days", "target_stay_days")}})
            sent.schemes[facts["scheme"]] = answer["scheme_id"]
            sent.scheme_provider[facts["scheme"]] = sent.providers[facts["provider"]]
            sent.scheme_keys[answer["scheme_id"]] = facts["scheme"]
        elif action.kind == "ofsted-registration":
            await self.request(action, "placement", "POST",
                               f"/schemes/{sent.schemes[facts['scheme']]}/ofsted-registrations", commissioner, {
                                   "registration_number": facts["registration_number"],
                                   "registered_from": facts["registered_from"], "occurred_at": at})
        elif action.kind == "contract":
            await self.request(action, "finance", "POST", "/contracts", commissioner, {
                "provider_id": sent.providers[facts["provider"]], "name": f"{facts['scheme']} ({facts['procurement']})",
                "scheme_ids": [sent.schemes[facts["scheme"]]], "occurred_at": at, **{key: facts[key] for key in (
                    "procurement", "service_type", "starts_on", "contracted_units", "basis", "package", "funding",
                    "district")}})
        elif action.kind == "budget":
            await self.request(action, "finance", "POST", "/budgets", commissioner, {**facts, "occurred_at": at})
        else:
            raise DemoFailed(f"{_what(action)}: the driver does not know this kind of action")

    async def cost_run(self, through: date) -> None:
        """The finance service's cost run to the last simulated day: each stay's monthly cost published now."""
        answer = await self.request("the cost run", "finance", "POST", "/cost-run",
                                    self.token("finance_officer", f"demo-finance-{self.sent.run}"),
                                    params={"through": through.isoformat()})
        self.sent.saw(answer["position"])


class DistrictClient:
    """One district's part of the county: its own system on NATS, its officers, the providers working there."""

    def __init__(self, driver: CountyDriver, district: str, connecting: dict[str, Any]):
        self.driver, self.district, self.sent = driver, district, driver.sent
        self.connecting = connecting
        self.doors: dict[int, str] = {}
        self.answers: dict[str, asyncio.Future] = {}
        self.messages = 0
        self.nc: Any = None

    async def send(self, actions: list[Action]) -> None:
        self.nc = await nats.connect(**self.connecting)
        try:
            for answer in ("accepted", "rejected"):
                await self.nc.subscribe(f"casetrack.{answer}.{self.district}", cb=self._answered(answer))
            await self.nc.flush()
            for action in actions:
                await self._send(action)
                self.driver._done(action)
        finally:
            await self.nc.drain()

    def _answered(self, answer: str):
        async def arrived(msg: Any) -> None:
            body = json.loads(msg.data)
            waiting = self.answers.get(body.get("message_id") or "")
            if waiting is not None and not waiting.done():
                waiting.set_result((answer, body))
        return arrived

    # -- who sends what -------------------------------------------------------------------------------------------

    def officer(self) -> dict:
        return self.driver.token("district_officer", f"demo-officer-{self.district}-{self.sent.run}",
                                 district=self.district)

    def childrens_services(self) -> dict:
        return self.driver.token("childrens_services", f"demo-childrens-services-{self.district}-{self.sent.run}")

    def provider(self, scheme_key: str) -> dict:
        provider = self.sent.scheme_provider[scheme_key]
        return self.driver.token("provider", f"demo-provider-{provider[:8]}-{self.district}-{self.sent.run}",
                                 provider=provider)

    async def _send(self, action: Action) -> None:
        kind, facts, person = action.kind, action.facts, action.young_person
        if not action.sent:
            return
        if kind == "referral":
            await self._refer(action)
        elif kind in CASE_PATHS:
            await self._change_case(action)
        elif kind.startswith(("placement-", "bed-and-breakfast")):
            await self._placement(action)
        elif kind.startswith("floating-support"):
            await self._floating_support(action)
        elif kind in ("support-plan", "support-review", "departure-outcomes"):
            await self._outcomes(action)
        else:
            raise DemoFailed(f"{_what(action)}: the driver does not know this kind of action ({facts}, {person})")

    # -- the case: the district's system over NATS, or a case worker over HTTP ---------------------------------

    def _young_person(self, facts: dict) -> dict:
        young_person = dict(facts["young_person"])
        young_person["family_name"] = f"{young_person['family_name']}-{self.driver.salt}"
        return young_person

    async def _refer(self, action: Action) -> None:
        facts, person = action.facts, action.young_person
        body = {"occurred_at": action.at.isoformat(), "gateway": facts["gateway"], "cohort": facts["cohort"],
                "presenting_reason": facts["presenting_reason"], "flags": facts["flags"],
                "young_person": self._young_person(facts)}
        self.doors[person] = facts["door"]
        if facts["door"] == "district_system":
            answer = await self._message(action, "referral", body)
        else:
            answer = await self.driver.request(action, "referral", "POST", "/referrals", self.childrens_services(),
                                               {**body, "district": self.district})
        self.sent.cases[person] = answer["case_id"]
        self.sent.case_positions[person] = self.sent.saw(answer["position"])

    async def _change_case(self, action: Action) -> None:
        person, kind = action.young_person, action.kind
        body = {"occurred_at": action.at.isoformat(), **action.facts}
        if self.doors[person] == "district_system":
            answer = await self._message(action, kind, body)
        else:
            caller = (self.driver.token("panel_member", f"demo-panel-{self.sent.run}") if kind == "panel-decision"
                      else self.childrens_services())
            answer = await self.driver.request(action, "referral", "POST",
                                               f"/cases/{self.sent.cases[person]}/{CASE_PATHS[kind]}", caller, body)
        self.sent.case_positions[person] = self.sent.saw(answer["position"])

    async def _message(self, action: Action, kind: str, facts: dict) -> dict:
        """Publish the district's message and wait for casetrack's answer (resent with the same message id if
        none comes: a repeat is applied once); a rejection is DemoFailed with every reason."""
        self.messages += 1
        message_id = f"{self.sent.run}-{action.young_person}-{self.messages}"
        message = {"district_ref": f"DEMO-{self.sent.run}-{action.young_person}", "message_id": message_id, **facts}
        waiting = self.answers[message_id] = asyncio.get_running_loop().create_future()
        js = self.nc.jetstream()
        try:
            for _ in range(10):
                await js.publish(f"casetrack.ingest.{self.district}.{kind}", json.dumps(message).encode(), timeout=10)
                try:
                    answer, body = await asyncio.wait_for(asyncio.shield(waiting), 60)
                    break
                except TimeoutError:
                    continue
            else:
                raise DemoFailed(f"{_what(action)}: no answer from casetrack to district message {message_id}")
        finally:
            self.answers.pop(message_id, None)
        if answer == "rejected":
            reasons = "; ".join(f"{r['field'] or 'message'}: {r['type']} ({r['problem']})" for r in body["reasons"])
            raise DemoFailed(f"{_what(action)}: district message {message_id} rejected: {reasons}")
        return body

    # -- placements and floating support over HTTP -----------------------------------------------------------

    async def _placement(self, action: Action) -> None:
        facts, person, sent = action.facts, action.young_person, self.sent
        key = (person, facts["placement"])
        at = action.at.isoformat()
        if action.kind == "placement-start":
            caller = (self.childrens_services() if facts["route"] in ("children_services", "pathway_plan")
                      else self.officer())
            answer = await self.driver.request(action, "placement", "POST", "/placements", caller, {
                "case_id": sent.cases[person], "scheme_id": sent.schemes[facts["scheme"]], "route": facts["route"],
                "occurred_at": at}, params={"after": sent.case_positions[person]})
            sent.placements[key] = answer["placement_id"]
            sent.placement_scheme[key] = facts["scheme"]
        elif action.kind == "placement-move":
            answer = await self.driver.request(action, "placement", "POST", f"/placements/{sent.placements[key]}/moves",
                                               self.officer(), {
                                                   "to_scheme_id": sent.schemes[facts["to_scheme"]],
                                                   "direction": facts["direction"], "planned": facts["planned"],
                                                   "occurred_at": at})
            sent.placement_scheme[key] = facts["to_scheme"]
        else:
            path, body = {  # every entry is built, whichever is sent: facts an action lacks are None
                "placement-end": ("ending", {"planned": facts.get("planned"), "destination": facts.get("destination"),
                                             "occurred_at": at}),
                "placement-breakdown": ("breakdown", {"reason": facts.get("reason"),
                                                      "destination": facts.get("destination"), "occurred_at": at}),
                "bed-and-breakfast-nights": ("bed-and-breakfast-nights", {"first_night": facts.get("first_night"),
                                                                          "nights": facts.get("nights")}),
            }[action.kind]
            answer = await self.driver.request(action, "placement", "POST",
                                               f"/placements/{sent.placements[key]}/{path}",
                                               self.provider(sent.placement_scheme[key]), body)
        sent.placement_positions[person] = sent.saw(answer["position"])

    async def _floating_support(self, action: Action) -> None:
        facts, person, sent = action.facts, action.young_person, self.sent
        key = (person, facts["floating_support"])
        if action.kind == "floating-support-start":
            answer = await self.driver.request(action, "placement", "POST", "/floating-support", self.officer(), {
                "case_id": sent.cases[person], "scheme_id": sent.schemes[facts["scheme"]],
                "occurred_at": action.at.isoformat()}, params={"after": sent.case_positions[person]})
            sent.floating_support[key] = answer["episode_id"]
            sent.floating_support_scheme[key] = facts["scheme"]
        else:
            answer = await self.driver.request(
                action, "placement", "POST", f"/floating-support/{sent.floating_support[key]}/ending",
                self.provider(sent.floating_support_scheme[key]), {
                    "planned": facts["planned"], "destination": facts["destination"],
                    "hours_delivered": facts["hours_delivered"], "occurred_at": action.at.isoformat()})
        sent.placement_positions[person] = sent.saw(answer["position"])

    # -- outcomes: the provider's support plans ------------------------------------------------------------------

    async def _episode(self, action: Action) -> tuple[str, str]:
        """The support episode the action is about (the outcomes service's id) and its scheme's key (the district
        officer lists a placement's episodes: each may be another provider's)."""
        facts, person, sent = action.facts, action.young_person, self.sent
        if "floating_support" in facts:
            query = {"floating_support_id": sent.floating_support[person, facts["floating_support"]]}
        else:
            query = {"placement_id": sent.placements[person, facts["placement"]]}
        episodes = await self.driver.request(action, "outcomes", "GET", "/support-episodes", self.officer(),
                                             params={**query, "after": sent.placement_positions[person]})
        index = facts.get("stay", 0)
        oldest_first = sorted(episodes, key=lambda episode: (episode["started_at"], episode["ended_at"] is None))
        if index >= len(oldest_first):
            raise DemoFailed(f"{_what(action)}: the outcomes service has no support episode {index + 1} for it")
        episode = oldest_first[index]
        return episode["episode_id"], sent.scheme_keys[episode["scheme_id"]]

    async def _outcomes(self, action: Action) -> None:
        episode, scheme = await self._episode(action)
        facts = action.facts
        path, body, params = {
            "support-plan": ("support-plan", {"outcomes_needed": facts.get("outcomes_needed"),
                                              "occurred_at": action.at.isoformat()}, None),
            "support-review": ("reviews", {"independence": facts.get("independence"),
                                           "occurred_at": action.at.isoformat()}, None),
            "departure-outcomes": ("departure-outcomes", {"results": facts.get("results")},
                                   {"after": self.sent.placement_positions[action.young_person]}),
        }[action.kind]
        answer = await self.driver.request(action, "outcomes", "POST", f"/support-episodes/{episode}/{path}",
                                           self.provider(scheme), body, params=params)
        self.sent.saw(answer["position"])


def _what(action: Action | str) -> str:
    if isinstance(action, str):
        return action
    who = f" for young person {action.young_person}" if action.young_person is not None else ""
    return f"{action.kind}{who} in {action.district or 'the county'} at {action.at.isoformat()}"


def _reasons(response: httpx.Response) -> str:
    """casetrack's reasons (rule names and where), never the values sent."""
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text[:200]
    if isinstance(detail, list):
        return "; ".join(f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('type')} ({d.get('msg')})"
                         for d in detail)
    return str(detail)[:300]
