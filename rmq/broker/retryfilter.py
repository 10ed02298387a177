"""``filterSupportRetry``: judge a group's retry messages by the SQL92 filter of their topic.

A consumer's subscription to ``%RETRY%<group>`` is ``*``, so by default every retry comes back
to it whatever its SQL92 selector on the original topic says. With ``filterSupportRetry=true``
RocketMQ (REFERENCE §7.13) evaluates, for each retry message, the SQL92 subscription the group
holds on the topic named by the message's ``RETRY_TOPIC`` property; a tag subscription (or no
subscription, or no ``RETRY_TOPIC``) lets the message through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rmq.broker.topics import RETRY_GROUP_TOPIC_PREFIX
from rmq.common.errors import SubscriptionParseFailed
from rmq.common.message import RETRY_TOPIC, MessageExt
from rmq.filter.message_filter import ExpressionMessageFilter, SubscriptionLike, record_properties
from rmq.filter.sql92 import CompiledExpression, compile_sql92
from rmq.filter.tags import is_tag_type

__all__ = ["RetryTopicFilter", "SubscriptionLookup", "for_pull"]

SubscriptionLookup = Callable[[str, str], SubscriptionLike | None]
"""``(group, topic) -> the group's current subscription to topic`` (None if it has none)."""


class RetryTopicFilter(ExpressionMessageFilter):
    """The pull filter for ``%RETRY%<group>``: the tag stage as usual, then the SQL92 filter
    of the message's original topic (looked up per message, as subscriptions may change)."""

    __slots__ = ("_group", "_lookup")

    def __init__(
        self, subscription: SubscriptionLike | None, group: str, lookup: SubscriptionLookup
    ) -> None:
        super().__init__(subscription, check_tags=True)
        self._group = group
        self._lookup = lookup

    def is_matched_by_commit_log(
        self,
        record: bytes | memoryview | MessageExt | None,
        properties: Mapping[str, str] | None = None,
    ) -> bool:
        """Evaluate the group's SQL92 selector on ``RETRY_TOPIC`` over the properties."""
        if self.subscription is None or self.subscription.class_filter_mode:
            return True
        if properties is None:
            if record is None:
                return True
            if isinstance(record, MessageExt):
                properties = record.properties_dict
            else:
                properties = record_properties(record)
        expression = self._expression_for(properties.get(RETRY_TOPIC))
        return expression is None or expression.matches(properties)

    def _expression_for(self, real_topic: str | None) -> CompiledExpression | None:
        if not real_topic:
            return None
        sub = self._lookup(self._group, real_topic)
        if sub is None or is_tag_type(sub.expression_type):
            return None
        try:
            return compile_sql92(sub.sub_string)  # cached by text
        except SubscriptionParseFailed:
            return None  # RocketMQ lets a message through when there is no compiled filter


def for_pull(
    subscription: SubscriptionLike,
    topic: str,
    support_retry: bool,
    lookup: SubscriptionLookup,
) -> ExpressionMessageFilter:
    """The store filter for one pull of ``topic``: retry-aware when configured and relevant."""
    if support_retry and topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
        group = topic[len(RETRY_GROUP_TOPIC_PREFIX) :]
        return RetryTopicFilter(subscription, group, lookup)
    return ExpressionMessageFilter(subscription, check_tags=True)
