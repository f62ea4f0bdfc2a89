"""The SMTP pool's own transaction (MAIL, RCPT, DATA without `sendmail`'s re-parsing) against a
real aiosmtpd: what a refusal at each step leaves behind, and addresses that must never reach
the command line."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.notifier.smtp_pool import MailServer, SendFailure, SmtpPool
from tests.support.smtp_sink import SmtpSink

SENDER = "beacon@school.example"
MESSAGE = b"Subject: test\r\n\r\nHello.\r\n"


@pytest.fixture
async def pool(smtp_sink: SmtpSink) -> AsyncIterator[SmtpPool]:
    p = SmtpPool(MailServer("127.0.0.1", smtp_sink.port, timeout=5), size=1)
    yield p
    await p.close()


async def test_each_message_goes_whole_with_its_size_over_one_connection(
    pool: SmtpPool, smtp_sink: SmtpSink
) -> None:
    for n in range(3):
        await pool.send(SENDER, f"dsl{n}@school.example", MESSAGE + b".dot\r\n")
    got = smtp_sink.messages
    assert [(m.envelope_from, m.recipients) for m in got] == [
        (SENDER, [f"dsl{n}@school.example"]) for n in range(3)
    ]
    assert {m.data for m in got} == {MESSAGE + b".dot\r\n"}  # dot-stuffed and unstuffed
    assert smtp_sink.handler.mail_options == [[f"SIZE={len(MESSAGE) + 6}"]] * 3
    assert len(smtp_sink.handler.sessions) == 1


@pytest.mark.parametrize(
    ("stage", "reply", "permanent"),
    [
        ("mail_reply", "451 4.3.0 sender greylisted", False),
        ("mail_reply", "553 5.7.1 sender rejected", True),
        ("rcpt_reply", "450 4.2.1 mailbox busy", False),
        ("rcpt_reply", "550 5.1.1 no such user", True),
        ("reply", "552 5.3.4 message too big", True),
    ],
)
async def test_a_refusal_at_any_step_is_sorted_and_leaves_the_session_clean(
    pool: SmtpPool, smtp_sink: SmtpSink, stage: str, reply: str, permanent: bool
) -> None:
    await pool.send(SENDER, "warm@school.example", MESSAGE)  # the session has said EHLO
    setattr(smtp_sink.handler, stage, reply)
    with pytest.raises(SendFailure) as refused:
        await pool.send(SENDER, "dsl@school.example", MESSAGE)
    assert (refused.value.reason, refused.value.permanent) == (reply, permanent)

    setattr(smtp_sink.handler, stage, None)
    await pool.send(SENDER, "head@school.example", MESSAGE)
    # RSET cleared the refused envelope: the next message has only its own recipient, and
    # it went over the same connection.
    assert [m.recipients for m in smtp_sink.messages] == [
        ["warm@school.example"],
        ["head@school.example"],
    ]
    assert len(smtp_sink.handler.sessions) == 1


@pytest.mark.parametrize(
    "recipient",
    [
        "dsl@school.example>\r\nRCPT TO:<attacker@evil.example",
        "dsl@school.example\r\nDATA\r\n",
        "attacker@evil.example>\nRCPT TO:<dsl@school.example",
    ],
)
async def test_an_address_smuggling_a_command_reaches_the_server_as_one_address(
    pool: SmtpPool, smtp_sink: SmtpSink, recipient: str
) -> None:
    """aiosmtplib's parsing (checked once per address, cached) keeps a line break out of the
    command: the server sees one MAIL, one RCPT, one message, never a second command."""
    await pool.send(SENDER, "warm@school.example", MESSAGE)
    await pool.send(SENDER, recipient, MESSAGE)
    await pool.send(SENDER, recipient, MESSAGE)  # the cached quoting, the same again
    got = smtp_sink.messages
    assert len(got) == 3 and len(smtp_sink.handler.mail_options) == 3
    first = recipient.partition(">")[0].partition("\r")[0].partition("\n")[0]
    assert [m.recipients for m in got[1:]] == [[first], [first]]


async def test_a_non_ascii_address_fails_for_good_as_it_did_under_sendmail(
    pool: SmtpPool, smtp_sink: SmtpSink
) -> None:
    await pool.send(SENDER, "warm@school.example", MESSAGE)
    with pytest.raises(SendFailure) as refused:
        await pool.send(SENDER, "zoë@school.example", MESSAGE)
    assert refused.value.permanent
    await pool.send(SENDER, "head@school.example", MESSAGE)
    assert [m.recipients for m in smtp_sink.messages][-1] == ["head@school.example"]
