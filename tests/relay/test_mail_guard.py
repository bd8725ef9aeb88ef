"""A mail goes out once across replicas: the mail channel's record of sent mails lives in Redis
when it is configured, and in the process otherwise (or while Redis is down)."""

from __future__ import annotations

import uuid
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from redis.asyncio import Redis

from engine.commands import RunChanged
from engine.ports import Succeeded
from engine.testing import ManualClock
from tests.relay.conftest import DEAD_REDIS_URL, TENANT, replica
from tests.web.support import approval_flow
from web.mail.guard import SentGuard, redis_key
from web.mail.sender import MailUnavailable

ALICE = "U0ALICE"
REQUESTER = "req@example.com"


def mails_to(folder: Path, address: str) -> list[str]:
    """Subjects of the mails written to `folder` for `address`."""
    found = []
    for path in folder.glob("*.eml"):
        mail = message_from_bytes(path.read_bytes(), policy=policy.default)
        if mail["To"] == address:
            found.append(str(mail["Subject"]))
    return found


async def test_the_outcome_mail_goes_out_once_whichever_replica_retries(
    postgres_url: str, redis_url: str, channel: str, clock: ManualClock, tmp_path: Path
) -> None:
    async with (
        replica(postgres_url, redis_url, channel, clock, tmp_path / "a") as a,
        replica(postgres_url, redis_url, channel, clock, tmp_path / "b") as b,
    ):
        await a.engine.apply_definition(TENANT, approval_flow(ALICE))
        run = await a.engine.start_run(TENANT, "purchase", {"item": "lamp"}, f"email:{REQUESTER}")
        await a.engine.run_until_idle()
        await a.engine.decide(TENANT, run.run_id, "manager", ALICE, "approve")
        await a.engine.run_until_idle()  # A performs the final run_changed: the outcome mail
        outcome = "purchase: your request is completed · item: lamp"  # the run summary follows
        assert mails_to(tmp_path / "a", REQUESTER).count(outcome) == 1
        # The same command again on B (as when its webhook failed and B took the retry).
        final = RunChanged(
            key=f"{run.run_id}/retry", tenant_id=TENANT, run_id=run.run_id, status="completed"
        )
        final = final.model_copy(update={"final": True})
        assert isinstance(await b.web.mail.perform(final), Succeeded)
        assert outcome not in mails_to(tmp_path / "b", REQUESTER)


@pytest.fixture
async def redis(redis_url: str) -> Redis:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_a_mail_being_sent_elsewhere_is_retried_later_not_guessed(redis: Redis) -> None:
    one, two = SentGuard(redis), SentGuard(redis)
    key = f"test/{uuid.uuid4()}"
    assert await one.claim(key, REQUESTER)
    with pytest.raises(MailUnavailable, match="another process is sending"):
        await two.claim(key, REQUESTER)
    await one.release(key, REQUESTER)  # the hand-over failed: the mail is still owed
    assert await two.claim(key, REQUESTER)
    await two.sent(key, REQUESTER)
    assert not await one.claim(key, REQUESTER)
    assert 3 * 86400 < await redis.ttl(redis_key(key, REQUESTER)) <= 4 * 86400
    assert REQUESTER not in redis_key(key, REQUESTER)  # addresses stay out of Redis


async def test_a_claim_left_by_a_crash_runs_out(redis: Redis) -> None:
    key = f"test/{uuid.uuid4()}"
    assert await SentGuard(redis).claim(key, REQUESTER)  # ...and the process died before sending
    assert 0 < await redis.ttl(redis_key(key, REQUESTER)) <= 120  # a lease, not a record
    await redis.delete(redis_key(key, REQUESTER))  # as the lease running out does
    assert await SentGuard(redis).claim(key, REQUESTER)  # the mail is still owed, and goes out


async def test_without_redis_each_process_remembers_its_own() -> None:
    dead = Redis.from_url(DEAD_REDIS_URL, socket_connect_timeout=0.2)
    guard = SentGuard(dead)
    assert await guard.claim("k", REQUESTER)
    await guard.sent("k", REQUESTER)
    assert not await guard.claim("k", REQUESTER)
    assert await SentGuard(dead).claim("k", REQUESTER)  # another process cannot know
    await dead.aclose()
