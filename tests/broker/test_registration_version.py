"""forceRegister=false: QUERY_DATA_VERSION first, REGISTER_BROKER only when something changed."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.registration import BrokerRegistration
from rmq.common.errors import RemotingConnectError
from rmq.common.route import DataVersion
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand
from tests.broker.harness import make_broker

NS1, NS2 = "127.0.0.1:1", "127.0.0.1:2"


class VersionNamesrv:
    """Fake name-server client: per address, what QUERY_DATA_VERSION answers."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, RemotingCommand]] = []
        self.changed: dict[str, bool] = {NS1: False, NS2: False}
        self.version: dict[str, DataVersion | None] = {NS1: None, NS2: None}
        self.code: dict[str, int] = {NS1: 0, NS2: 0}
        self.down: set[str] = set()

    def invoke(self, addr: str, cmd: RemotingCommand, timeout: float) -> Deferred[Any]:
        self.calls.append((addr, cmd))
        if addr in self.down:
            return fail(RemotingConnectError("refused"))
        if cmd.code != RequestCode.QUERY_DATA_VERSION:
            return succeed(cmd.make_response())
        version = self.version[addr]
        body = version.to_json() if version is not None else None
        ext = {"changed": "true" if self.changed[addr] else "false"}
        return succeed(cmd.make_response(self.code[addr], None, ext, body))

    def invoke_oneway(self, addr: str, cmd: RemotingCommand) -> Deferred[None]:
        return succeed(None)

    def codes(self) -> list[int]:
        return [cmd.code for _, cmd in self.calls]

    def registers(self) -> list[str]:
        return [a for a, cmd in self.calls if cmd.code == RequestCode.REGISTER_BROKER]


class NeedRegisterTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker(self, namesrvAddr=f"{NS1};{NS2}", forceRegister=False)
        self.ns = VersionNamesrv()
        self.broker.namesrv_client = self.ns  # type: ignore[assignment]
        self.reg = BrokerRegistration(self.broker)
        self.reg.start()
        self.addCleanup(self.reg.stop)
        self.ours = self.broker.topics.data_version
        self.ns.version = {NS1: self.ours, NS2: self.ours}
        del self.ns.calls[:]

    def test_first_round_registers_without_asking(self) -> None:
        """Start-up registers at once even with forceRegister=false."""
        self.assertEqual(self.reg.rounds, 1)
        self.assertEqual(self.reg.skipped, 0)

    def test_unchanged_everywhere_skips(self) -> None:
        """Both name servers unchanged with our version: only QUERY_DATA_VERSION is sent."""
        self.broker.clock.advance(30)
        self.assertEqual(self.ns.codes(), [RequestCode.QUERY_DATA_VERSION] * 2)
        self.assertEqual(self.reg.skipped, 1)
        _, query = self.ns.calls[0]
        self.assertEqual(DataVersion.from_json(query.body or b""), self.ours)
        self.assertEqual(query.ext_fields["brokerAddr"], self.broker.address)
        self.assertEqual(query.ext_fields["brokerId"], "0")

    def test_changed_on_one_registers_all(self) -> None:
        """One name server answering changed=true makes the round register with every one."""
        self.ns.changed[NS2] = True
        self.broker.clock.advance(30)
        self.assertEqual(sorted(self.ns.registers()), [NS1, NS2])
        self.assertEqual(self.reg.skipped, 0)

    def test_other_version_or_failure_registers(self) -> None:
        """A stored version unlike ours, or an unreachable name server, counts as changed."""
        self.ns.version[NS1] = DataVersion(1, 99)
        self.broker.clock.advance(30)
        self.assertEqual(len(self.ns.registers()), 2)
        del self.ns.calls[:]
        self.ns.version[NS1] = self.ours
        self.ns.down.add(NS1)
        self.broker.clock.advance(30)
        self.assertEqual(self.ns.registers(), [NS1, NS2])

    def test_error_code_counts_as_unchanged(self) -> None:
        """A non-success answer is not a change, like RocketMQ's needRegister."""
        self.ns.code[NS1] = 1
        self.ns.changed[NS1] = True
        self.broker.clock.advance(30)
        self.assertEqual(self.ns.registers(), [])
        self.assertEqual(self.reg.skipped, 1)

    def test_force_register_never_asks(self) -> None:
        """forceRegister=true (the default) registers every round without QUERY_DATA_VERSION."""
        self.broker.config.force_register = True
        self.broker.clock.advance(30)
        self.assertNotIn(RequestCode.QUERY_DATA_VERSION, self.ns.codes())
        self.assertEqual(len(self.ns.registers()), 2)
