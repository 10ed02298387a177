"""MessageStore provides IMessageStore, the facade the broker calls."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.exceptions import Invalid
from zope.interface.verify import verifyClass, verifyObject

from rmq.store.config import StoreConfig
from rmq.store.interfaces import IMessageStore
from rmq.store.message_store import MessageStore

from .helpers import make_store, msg


class MessageStoreInterfaceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.store, self.clock = make_store(self.mktemp())

    def tearDown(self) -> None:
        self.successResultOf(self.store.shutdown())

    def test_class_implements(self) -> None:
        """MessageStore declares IMessageStore and defines every member with a matching shape."""
        self.assertTrue(IMessageStore.implementedBy(MessageStore))
        self.assertTrue(verifyClass(IMessageStore, MessageStore))

    def test_started_store_provides(self) -> None:
        """A started store provides IMessageStore, attributes (config) included."""
        self.assertTrue(verifyObject(IMessageStore, self.store))
        self.assertIsInstance(self.store.config, StoreConfig)

    def test_used_through_the_interface(self) -> None:
        """A put and a read through the interface's methods reach the same store."""
        store = IMessageStore(self.store)
        self.assertIs(store, self.store)
        result = self.successResultOf(store.put_message(msg("T", 0, b"x")))
        self.assertTrue(result.ok)
        self.assertEqual(store.get_max_offset_in_queue("T", 0), 1)

    def test_partial_fake_is_rejected(self) -> None:
        """An object missing the facade methods fails verification."""
        self.assertRaises(Invalid, verifyObject, IMessageStore, object())
