"""The rmq-broker command line: options that override the config file."""

from __future__ import annotations

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.tap import Options


class OptionsTests(SynchronousTestCase):
    def test_set_overrides_any_key(self) -> None:
        """--set KEY=VALUE (repeatable) reaches broker and store keys, typed as in YAML."""
        o = Options()
        o.parseOptions(
            ["--set", "mappedFileSizeCommitLog=4194304", "--set", "brokerName=zz", "-s", "/tmp/s"]
        )
        self.assertEqual(o.store_config.mapped_file_size_commit_log, 4194304)
        self.assertEqual(o.store_config.store_path_root_dir, "/tmp/s")
        self.assertEqual(o.broker_config.broker_name, "zz")

    def test_set_refuses_bad_input_naming_it(self) -> None:
        """A missing '=', an unknown key or a mistyped value is a usage error naming it."""
        for argv, named in (
            (["--set", "brokerName"], "KEY=VALUE"),
            (["--set", "brokerNmae=x"], "brokerNmae"),
            (["--set", "listenPort=abc"], "listenPort"),
        ):
            with self.assertRaises(usage.UsageError) as cm:
                Options().parseOptions(argv)
            self.assertIn(named, str(cm.exception))
