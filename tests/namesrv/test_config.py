"""Tests for rmq.namesrv.config: YAML loading and properties updates."""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from rmq.common.errors import ConfigError, NoPermission
from rmq.namesrv.config import NamesrvConfig, load_config, parse_properties

SAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "etc", "namesrv.yaml")


class LoadTests(SynchronousTestCase):
    def _yaml(self, text: str) -> str:
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_sample_loads(self) -> None:
        """etc/namesrv.yaml is valid and listens on loopback."""
        config = load_config(SAMPLE)
        self.assertEqual((config.bindAddress, config.listenPort), ("127.0.0.1", 9876))

    def test_defaults(self) -> None:
        """No file and an empty file give the Java defaults."""
        for config in (load_config(None), load_config(self._yaml(""))):
            self.assertEqual(config.scanNotActiveBrokerInterval, 10_000)
            self.assertFalse(config.orderMessageEnable)

    def test_values(self) -> None:
        """Known keys are applied, '~' in paths expanded."""
        config = load_config(self._yaml("orderMessageEnable: true\nkvConfigPath: ~/kv.json\n"))
        self.assertTrue(config.orderMessageEnable)
        self.assertEqual(config.kvConfigPath, os.path.expanduser("~/kv.json"))

    def test_unknown_key_named(self) -> None:
        """An unknown key raises ConfigError naming it."""
        exc = self.assertRaises(ConfigError, load_config, self._yaml("listenPrt: 1\n"))
        self.assertIn("listenPrt", exc.remark)

    def test_bad_values_named(self) -> None:
        """Wrong types and ranges raise ConfigError naming the key."""
        for text, key in [
            ("listenPort: 70000", "listenPort"),
            ("orderMessageEnable: maybe", "orderMessageEnable"),
            ("scanNotActiveBrokerInterval: 0", "scanNotActiveBrokerInterval"),
            ("clusterTest: 1", "clusterTest"),
            ("productEnvName: [1]", "productEnvName"),
        ]:
            exc = self.assertRaises(ConfigError, load_config, self._yaml(text))
            self.assertIn(key, exc.remark)

    def test_bad_files(self) -> None:
        """Missing files, bad YAML and non-mapping documents raise ConfigError."""
        self.assertRaises(ConfigError, load_config, self.mktemp())
        self.assertRaises(ConfigError, load_config, self._yaml("a: [1"))
        self.assertRaises(ConfigError, load_config, self._yaml("- 1\n"))


class PropertiesTests(SynchronousTestCase):
    def test_parse(self) -> None:
        """Comments and blank lines are skipped; '=' and ':' separate."""
        text = "# c\n! c\n\na=1\nb : two\nc\n"
        self.assertEqual(parse_properties(text), {"a": "1", "b": "two", "c": ""})

    def test_update(self) -> None:
        """Updating from properties converts types."""
        config = NamesrvConfig()
        config.update_from_properties("orderMessageEnable=true\nclusterTest=false\n")
        self.assertTrue(config.orderMessageEnable)

    def test_blacklist(self) -> None:
        """Blacklisted keys are refused with NO_PERMISSION, nothing applied."""
        config = NamesrvConfig(configBlackList="productEnvName")
        for key in ("kvConfigPath", "configStorePath", "rocketmqHome", "configBlackList"):
            exc = self.assertRaises(
                NoPermission, config.update_from_properties, f"orderMessageEnable=true\n{key}=x"
            )
            self.assertEqual(exc.code, 16)
        self.assertRaises(NoPermission, config.update_from_properties, "productEnvName=x")
        self.assertFalse(config.orderMessageEnable)

    def test_update_bad_value(self) -> None:
        """A bad value is a SYSTEM_ERROR naming the key; nothing is applied."""
        config = NamesrvConfig()
        exc = self.assertRaises(
            ConfigError, config.update_from_properties, "orderMessageEnable=true\nlistenPort=x"
        )
        self.assertIn("listenPort", exc.remark)
        self.assertEqual(exc.code, 1)
        self.assertFalse(config.orderMessageEnable)

    def test_to_properties_round_trip(self) -> None:
        """to_properties text loads back into an equal config."""
        config = NamesrvConfig(orderMessageEnable=True, listenPort=1)
        again = NamesrvConfig.from_mapping(parse_properties(config.to_properties()))
        self.assertEqual(again, config)
