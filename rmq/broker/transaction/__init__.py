"""Transactional messages (§7.10): half messages, END_TRANSACTION, and check-back to producers.

``half`` holds the message transformations, ``service`` the facade the broker uses
(``broker.transactions``: prepare on send, commit/rollback), ``check`` the periodic check-back
and ``processor`` the END_TRANSACTION (37) handler.
"""
