"""The offline engine's evaluation: realistic commands with the expected plan, run against the
demo data (`aicrm.seed.run_seed`) at a fixed "now".

Data: `data/commands.jsonl` (the tuned set: 175 commands written before the engine, 83 more
written after it), `data/holdout.jsonl` (held out: written with the first 175, before the
engine, never used to tune it) and `data/holdout_late.jsonl` (held out, written after the
engine, never used to tune it). One case per line:
`{"id", "turns": [{"text", "expect"}]}`; `expect` is `{"tool", "args"}`, or "clarify", "refuse",
"answer", "undo", or `{"confirm": true|false}`. Record references in expected arguments are
names resolved at run time: "@lead:Jane Doe" (or "@lead:Jane Doe|Company" when two leads share
a name), "@deal:Name" (or "@deal:Name|Stage"), "@contact:…", "@company:…", "@member:Full Name",
"@me" (the caller).

A case passes when every turn's plan matches exactly: the same tool and the same arguments;
free-text arguments (titles, notes, reasons, queries, names) compare case-insensitively with
spaces squeezed, and an activity's subject and body compare as one text.

Run: `python -m tests.assistant_offline.evaluate sqlite+aiosqlite:////tmp/demo.db [-v]`
(a database the demo seed was loaded into).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aicrm.assistant.offline import Call, Clarify, Confirm, Pending, Turn, plan
from aicrm.assistant.offline.plan import Answer, Refuse, Undo
from aicrm.assistant.tools import ToolContext
from aicrm.kit.principal import ROLE_PERMISSIONS, Principal, Role
from aicrm.models import (
    Company,
    Contact,
    Deal,
    Lead,
    Membership,
    Organization,
    PipelineStage,
    User,
)

DATA = Path(__file__).parent / "data"
ZONE = "America/New_York"
NOW = datetime(2026, 12, 9, 14, 30, tzinfo=ZoneInfo(ZONE))  # a Wednesday afternoon
ORG = "Northwind Demo"
USER = "admin@demo.example"
FREE_TEXT = {
    "title",
    "subject",
    "body",
    "notes",
    "lost_reason",
    "query",
    "description",
    "name",
    "company",
}


def load(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]


async def principal_for(session: AsyncSession) -> Principal:
    org = (await session.execute(select(Organization).where(Organization.name == ORG))).scalar_one()
    uid = (await session.execute(select(User.id).where(User.email == USER))).scalar_one()
    role = Role(
        (
            await session.execute(
                select(Membership.role).where(
                    Membership.organization_id == org.id, Membership.user_id == uid
                )
            )
        ).scalar_one()
    )
    return Principal(org.id, role, user_id=uid, permissions=ROLE_PERMISSIONS[role])


async def ref_id(session: AsyncSession, p: Principal, ref: str) -> int:
    """ "@lead:Jane Doe|Company" → the one id (an error if it is not exactly one)."""
    if ref == "@me":
        assert p.user_id is not None
        return p.user_id
    kind, _, name = ref[1:].partition(":")
    name, _, extra = name.partition("|")
    org = p.organization_id
    if kind == "lead":
        stmt = select(Lead.id).where(Lead.organization_id == org, Lead.name == name)
        if extra:
            stmt = stmt.where(Lead.company == extra)
    elif kind == "deal":
        stmt = select(Deal.id).where(Deal.organization_id == org, Deal.name == name)
        if extra:
            stmt = stmt.join(PipelineStage, PipelineStage.id == Deal.stage_id).where(
                PipelineStage.name == extra
            )
    elif kind == "contact":
        stmt = select(Contact.id).where(Contact.organization_id == org, Contact.name == name)
    elif kind == "company":
        stmt = select(Company.id).where(Company.organization_id == org, Company.name == name)
    elif kind == "member":
        stmt = (
            select(User.id)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.organization_id == org, User.full_name == name)
        )
    else:
        raise ValueError(ref)
    ids = list((await session.execute(stmt)).scalars())
    if len(ids) != 1:
        raise ValueError(f"{ref} names {len(ids)} records")
    return ids[0]


async def expected_args(session: AsyncSession, p: Principal, value: Any) -> Any:
    if isinstance(value, str) and value.startswith("@"):
        return await ref_id(session, p, value)
    if isinstance(value, dict):
        return {k: await expected_args(session, p, v) for k, v in value.items()}
    if isinstance(value, list):
        return [await expected_args(session, p, v) for v in value]
    return value


def _text(v: Any) -> str:
    return " ".join(str(v).lower().split()).strip(" .,;:!")


def canonical(tool: str, args: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in args.items():
        if k in FREE_TEXT and isinstance(v, str):
            out[k] = _text(v)
        elif isinstance(v, float) and v.is_integer():
            out[k] = int(v)
        elif isinstance(v, dict):
            out[k] = canonical(tool, v)
        else:
            out[k] = v
    if tool == "log_activity":
        text = " ".join(x for x in (out.pop("subject", ""), out.pop("body", "")) if x)
        if text:
            out["text"] = text
    return out


def describe(result: Any) -> str:
    if isinstance(result, Call):
        return f"Call({result.name}, {json.dumps(result.args, ensure_ascii=False, default=str)})"
    if isinstance(result, Clarify):
        return f"Clarify({result.question!r})"
    return repr(result)


def matches(expect: Any, result: Any, want_args: dict[str, Any] | None) -> bool:
    if expect == "clarify":
        return isinstance(result, Clarify)
    if expect == "refuse":
        return isinstance(result, Refuse)
    if expect == "answer":
        return isinstance(result, Answer)
    if expect == "undo":
        return isinstance(result, Undo)
    if isinstance(expect, dict) and "confirm" in expect:
        return isinstance(result, Confirm) and result.accepted is expect["confirm"]
    if not isinstance(result, Call) or result.name != expect["tool"]:
        return False
    assert want_args is not None
    return canonical(result.name, result.args) == canonical(result.name, want_args)


@dataclass
class Outcome:
    case: str
    ok: bool
    detail: list[str] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)


async def run_case(session: AsyncSession, p: Principal, case: dict[str, Any]) -> Outcome:
    ctx = ToolContext(session=session, principal=p, now=NOW, timezone=ZONE)
    history: list[Turn] = []
    out = Outcome(case["id"], True)
    for turn in case["turns"]:
        t0 = time.perf_counter()
        result = await plan(ctx, history, turn["text"])
        out.ms.append((time.perf_counter() - t0) * 1000)
        expect = turn["expect"]
        want = None
        if isinstance(expect, dict) and "tool" in expect:
            want = await expected_args(session, p, expect["args"])
        ok = matches(expect, result, want)
        out.ok = out.ok and ok
        out.detail.append(
            f"{'ok ' if ok else 'BAD'} {turn['text']!r}\n      got  {describe(result)}"
            + ("" if ok else f"\n      want {expect if want is None else (expect['tool'], want)}")
        )
        history.append(Turn("user", turn["text"]))
        pending = None
        if isinstance(result, Clarify) and result.pending is not None:
            # as the engine keeps it: tool, args, field, options (not the command's text)
            stored = result.pending.to_dict()
            stored.pop("text", None)
            pending = Pending.from_dict(stored)
        elif isinstance(result, Call) and result.name == "delete_record":
            pending = Pending("confirmation", result.name, result.args, question="Delete?")
        history.append(Turn("assistant", describe(result), pending))
    return out


SETS = ("commands.jsonl", "holdout.jsonl", "holdout_late.jsonl")


async def evaluate(url: str, names: tuple[str, ...] = SETS) -> dict[str, Any]:
    from aicrm.db import Database

    db = Database(url=url)
    report: dict[str, Any] = {}
    try:
        async with db.sessionmaker() as session:
            p = await principal_for(session)
            for name in names:
                outcomes = [await run_case(session, p, c) for c in load(name)]
                passed = sum(o.ok for o in outcomes)
                report[name] = {
                    "cases": len(outcomes),
                    "passed": passed,
                    "accuracy": round(passed / len(outcomes), 4) if outcomes else 0.0,
                    "failures": [o for o in outcomes if not o.ok],
                    "ms": [m for o in outcomes for m in o.ms],
                }
            await session.rollback()
    finally:
        await db.dispose()
    return report


def say(line: str) -> None:
    sys.stdout.write(line + "\n")


def main() -> None:
    url = sys.argv[1]
    verbose = "-v" in sys.argv
    only = [a for a in sys.argv[2:] if a.endswith(".jsonl")]
    report = asyncio.run(evaluate(url, tuple(only) or SETS))
    for name, r in report.items():
        ms = sorted(r["ms"])
        say(
            f"{name}: {r['passed']}/{r['cases']} = {r['accuracy']:.1%}  (plan p50 {ms[len(ms) // 2]:.1f} ms, max {ms[-1]:.1f} ms)"
        )
        if verbose:
            for o in r["failures"]:
                say(f"  {o.case}")
                for d in o.detail:
                    say("    " + d)


if __name__ == "__main__":
    main()
