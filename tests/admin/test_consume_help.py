"""``rmq-admin consumeMessage --help`` says that -g commits offsets, which mqadmin's does not."""

from __future__ import annotations

import io
import sys

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rmq.admin.cli import run


class ConsumeMessageHelpTest(SynchronousTestCase):
    def help_text(self, *argv: str) -> str:
        """The usage text ``rmq-admin argv`` prints, whitespace-normalised; it must exit 0.

        argparse writes help to ``sys.stdout`` itself, not to ``run``'s ``out``.
        """
        stdout, out, err = io.StringIO(), io.StringIO(), io.StringIO()
        self.patch(sys, "stdout", stdout)
        status = self.successResultOf(run(Clock(), list(argv), out, err, environ={}))
        self.assertEqual((status, err.getvalue()), (0, ""))
        return " ".join((stdout.getvalue() + out.getvalue()).split())

    def test_group_option_says_it_commits(self) -> None:
        """The -g help names the commit, the difference from mqadmin and the visible effect."""
        text = self.help_text("consumeMessage", "--help")
        self.assertIn("COMMITS this group's offsets, unlike mqadmin's consumeMessage", text)
        self.assertIn("which never commits", text)
        self.assertIn("running the command again shows only newer messages", text)

    def test_command_summary_says_it_commits(self) -> None:
        """The sub-command list warns too, so nobody needs to open the command's help."""
        text = self.help_text("--help")
        self.assertIn("with -g, also commit that group's offsets (mqadmin does not)", text)
