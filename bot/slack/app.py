"""The slack-bolt app: mentions, direct messages, /ask and the answer's buttons, all on the shared chain."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.blocks import (
    GONE,
    NOT_HERE,
    RATE_LIMITED,
    SORRY,
    answer_blocks,
    escape,
    fallback_text,
    sources_blocks,
)
from bot.slack.client import bolt_reads_no_token, short_reason, web_client
from bot.slack.conversation import answer_metadata, question_text, thread_turns
from bot.slack.feedback import FeedbackStore
from bot.slack.guards import RateLimiter, SeenEvents, channel_allowed
from bot.slack.handoff import on_handoff
from bot.slack.home import DAMAGED, on_home_opened
from bot.slack.logs import log_bolt_error
from bot.slack.modes import on_channel_message
from bot.slack.scopes import LiveScopes
from bot.slack.settings import SlackSettings
from bot.slack.votes import on_vote
from retrieval.conversation import Turn
from retrieval.errors import CitebotError
from retrieval.scope import Scope, Scopes
from retrieval.types import Answer, Citation, Location, Passage

if TYPE_CHECKING:
    from retrieval.engine import Engine

log = logging.getLogger("citebot.slack")
EMPTY_MENTION = "Ask me a question after the mention, e.g. `@citebot What did the US offer in Stockholm?`"


class SlackBot:
    """Everything the listeners share: the engine, the answers log, the guards and the answering workers."""

    def __init__(
        self,
        engine: Engine,
        settings: SlackSettings,
        feedback: FeedbackStore,
        workers: Executor,
        scopes: LiveScopes | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.feedback = feedback
        self.workers = workers
        self.seen = SeenEvents()
        self.limiter = RateLimiter(settings.rate_limit)
        self.vote_limiter = RateLimiter(settings.vote_limit)
        self.collections = Scopes(engine)
        # Without a scopes file every channel and direct message is answered from the engine's collection.
        self.scopes = scopes or LiveScopes(
            settings.scopes, engine.config.location.collection, self.collections.known
        )

    def scope(self, channel: str | None) -> Scope:
        """The collections a channel (or direct message) is answered from, as the scopes file says now."""
        return self.collections.scope(self.scopes.current().for_channel(channel))

    def collection_of(self, location: Location) -> str:
        """The collection a citation or passage came from (answers kept before collections were named: the
        bot's own, the only one it answered from then)."""
        return location.collection or self.engine.config.location.collection

    def in_scope(self, answer: Answer, channel: str | None) -> bool:
        """Whether every passage of an answer lies in the channel's scope now (its buttons reveal them)."""
        used = {self.collection_of(place) for place in [*answer.citations, *answer.passages]}
        return used <= set(self.scope(channel).collections)

    def failed_files(self, collection: str) -> list[str]:
        """A collection's failed files with their reasons, for the Home tab: those its ingests reported
        (kept by the store until the file is ingested again or forgotten), then unreadable index records."""
        engine = self.collections.engine(collection)
        failed = [failure.line() for failure in engine.failed_files()]
        return failed + [DAMAGED.format(record=record) for record in engine.store.damaged]

    def escalates(self, channel: str | None) -> bool:
        """Whether a channel's answers offer "Get help from a person" (its scope names an escalate_to)."""
        return self.scopes.current().escalation_for(channel) is not None

    def later(self, job: Callable[..., None], *args: Any) -> None:
        """Answer on the workers, not on bolt's listener pool, so acks never wait behind answers."""

        def run() -> None:
            try:
                job(*args)
            except Exception:
                log.exception("%s failed", job.__name__)

        self.workers.submit(run)

    def answer(
        self, question: str, history: list[Turn], user: str | None, channel: str | None
    ) -> tuple[Answer, str]:
        """Ask the chain, keep the answer for its buttons, log one line."""
        began = time.perf_counter()
        answer: Answer = self.scope(channel).ask(question, history)
        answer_id = self.feedback.record_answer(answer, user, channel)
        log.info(
            json.dumps(
                {
                    "event": "question",
                    "channel": channel,
                    "user": user,
                    "latency_ms": round((time.perf_counter() - began) * 1000, 1),
                    "abstained": answer.abstained,
                    "citations": len(answer.citations),
                    "follow_up": bool(history) and answer.retrieval_query != answer.question,
                }
            )
        )
        return answer, answer_id

    def post_answer(
        self,
        client: WebClient,
        channel: str,
        thread_ts: str | None,
        question: str,
        history: list[Turn],
        user: str | None,
    ) -> None:
        """Answer in a channel or thread; on any failure post a visible apology instead."""
        try:
            answer, answer_id = self.answer(question, history, user, channel)
            client.chat_postMessage(
                channel=channel,
                thread_ts=thread_ts,
                text=fallback_text(answer),
                blocks=answer_blocks(answer, answer_id, handoff=self.escalates(channel)),
                metadata=answer_metadata(
                    question, [c.id for c in answer.citations], answer_id, answer.retrieval_query
                ),
                unfurl_links=False,
                unfurl_media=False,
            )
        except Exception as exc:
            log.exception("answering failed in %s", channel)
            client.chat_postMessage(
                channel=channel,
                thread_ts=thread_ts,
                text=SORRY.format(reason=short_reason(exc, self.settings.secrets)),
            )

    def history(
        self, client: WebClient, channel: str, thread_ts: str | None, ts: str, bot_user: str | None
    ) -> list[Turn]:
        """The earlier turns of the thread a message is in (none outside a thread)."""
        if not thread_ts or thread_ts == ts:
            return []
        replies = client.conversations_replies(
            channel=channel, ts=thread_ts, include_all_metadata=True, limit=100
        )
        return thread_turns(list(replies.get("messages") or []), ts, bot_user)

    def on_message(
        self, event: dict[str, Any], client: WebClient, bot_user: str | None, in_thread: bool
    ) -> None:
        """A mention (in_thread: answer in its thread) or a direct message."""
        if event.get("bot_id") or event.get("subtype"):
            return
        channel, ts, user = str(event["channel"]), str(event["ts"]), str(event.get("user", ""))
        thread_ts = event.get("thread_ts") or (ts if in_thread else None)
        if not channel_allowed(channel, self.settings.allowlist):
            client.chat_postEphemeral(channel=channel, user=user, text=NOT_HERE)
            return
        question = question_text(str(event.get("text", "")))
        if not question:
            client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=EMPTY_MENTION)
            return
        self.reply(event, client, bot_user, question, thread_ts)

    def first_reply(self, channel: str, ts: str) -> bool:
        """Claim a message for one answer: a mention in a channel that answers every question arrives as
        both an app_mention and a message event (each with its own event id)."""
        return self.seen.first_time(f"message:{channel}:{ts}")

    def reply(
        self,
        event: dict[str, Any],
        client: WebClient,
        bot_user: str | None,
        question: str,
        thread_ts: str | None,
    ) -> None:
        """Answer a message's question where thread_ts says, within the asker's rate limit."""
        channel, ts, user = str(event["channel"]), str(event["ts"]), str(event.get("user", ""))
        if not self.first_reply(channel, ts):
            return
        if not self.limiter.allow(user):
            client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=RATE_LIMITED.format(limit=self.settings.rate_limit)
            )
            return
        self._react(client, "reactions_add", channel, ts)
        try:
            try:
                history = self.history(client, channel, event.get("thread_ts"), ts, bot_user)
            except SlackApiError:
                log.warning("could not read the thread %s; answering without its context", thread_ts)
                history = []
            self.post_answer(client, channel, thread_ts, question, history, user)
        finally:
            self._react(client, "reactions_remove", channel, ts)

    @staticmethod
    def _react(client: WebClient, method: str, channel: str, ts: str) -> None:
        try:
            getattr(client, method)(channel=channel, timestamp=ts, name="eyes")
        except SlackApiError as exc:  # a reaction is a courtesy; never let it stop the answer
            log.warning("%s failed: %s", method, exc.response.get("error"))

    def on_slash(self, command: dict[str, Any], respond: Any) -> None:
        """/ask: an ephemeral answer with a Share button."""
        question = question_text(str(command.get("text", "")))
        user, channel = str(command.get("user_id", "")), str(command.get("channel_id", ""))
        if not question:
            respond(response_type="ephemeral", text="Usage: `/ask What did the US offer in Stockholm?`")
            return
        if not channel_allowed(channel, self.settings.allowlist):
            respond(response_type="ephemeral", text=NOT_HERE)
            return
        if not self.limiter.allow(user):
            respond(response_type="ephemeral", text=RATE_LIMITED.format(limit=self.settings.rate_limit))
            return
        try:
            answer, answer_id = self.answer(question, [], user, channel)
            respond(
                response_type="ephemeral",
                text=fallback_text(answer),
                blocks=answer_blocks(answer, answer_id, share=True),
            )
        except Exception as exc:
            log.exception("/ask failed")
            respond(
                response_type="ephemeral", text=SORRY.format(reason=short_reason(exc, self.settings.secrets))
            )

    def on_sources(self, body: dict[str, Any], respond: Any) -> None:
        """The Sources button: the full cited passages, to the person who pressed it."""
        answer = self.feedback.answer(str(body["actions"][0]["value"]))
        channel = (body.get("channel") or {}).get("id")
        # An answer given elsewhere (a forged button, or a scope narrowed since) is as good as gone here.
        if answer is None or not self.in_scope(answer, channel):
            respond(response_type="ephemeral", replace_original=False, text=GONE)
            return
        shown: list[Citation | Passage] = [*answer.citations] or [*answer.passages[:3]]
        scope = self.scope(channel)
        try:
            passages = [scope.cite(place.id, self.collection_of(place)) for place in shown]
        except CitebotError as exc:
            respond(
                response_type="ephemeral",
                replace_original=False,
                text=SORRY.format(reason=short_reason(exc, self.settings.secrets)),
            )
            return
        respond(
            response_type="ephemeral", replace_original=False, text="Sources", blocks=sources_blocks(passages)
        )

    def on_share(self, body: dict[str, Any], client: WebClient, respond: Any) -> None:
        """The Share button of an ephemeral /ask answer: post it in the channel for everyone."""
        answer_id = str(body["actions"][0]["value"])
        answer = self.feedback.answer(answer_id)
        user, channel = body["user"]["id"], body["channel"]["id"]
        if answer is None or not self.in_scope(answer, channel):
            respond(response_type="ephemeral", replace_original=False, text=GONE)
            return
        asked_by = {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"<@{user}> asked: {escape(answer.question)}"}],
        }
        client.chat_postMessage(
            channel=channel,
            text=f"<@{user}> asked: {escape(answer.question)}\n{fallback_text(answer)}",
            blocks=[asked_by, *answer_blocks(answer, answer_id, handoff=self.escalates(channel))],
            metadata=answer_metadata(
                answer.question, [c.id for c in answer.citations], answer_id, answer.retrieval_query
            ),
            unfurl_links=False,
        )
        respond(delete_original=True)


def build_app(
    engine: Engine,
    settings: SlackSettings,
    feedback: FeedbackStore,
    http: bool,
    executor: Executor | None = None,
    workers: Executor | None = None,
    scopes: LiveScopes | None = None,
) -> App:
    """The bolt app: listeners (ack, hand over) run on `executor`, questions are answered on `workers`."""
    client = web_client(settings)
    with bolt_reads_no_token():
        app = App(
            client=client,
            signing_secret=settings.signing_secret if http else "",
            request_verification_enabled=http,
            name="citebot",
            listener_executor=executor,
            # A request no listener takes reaches log_bolt_error (one line), not bolt's multi-line warning.
            raise_error_for_unhandled_request=True,
        )
    app.error(log_bolt_error)
    workers = workers or ThreadPoolExecutor(max_workers=4, thread_name_prefix="citebot-answer")
    bot = SlackBot(engine, settings, feedback, workers, scopes)
    app.extensions = {"citebot": bot}  # type: ignore[attr-defined]

    @app.middleware
    def answer_each_event_once(body: dict[str, Any], next: Any) -> BoltResponse | None:
        event_id = body.get("event_id")
        if event_id and not bot.seen.first_time(str(event_id)):
            log.info(json.dumps({"event": "duplicate", "event_id": event_id}))
            return BoltResponse(status=200, body="")
        next()
        return None

    @app.event("app_mention")
    def mention(event: dict[str, Any], client: WebClient, context: Any) -> None:
        bot.later(bot.on_message, event, client, context.bot_user_id, True)

    @app.event("message")
    def message(event: dict[str, Any], client: WebClient, context: Any) -> None:
        if event.get("channel_type") == "im":
            bot.later(bot.on_message, event, client, context.bot_user_id, bool(event.get("thread_ts")))
        else:  # a channel's message: answered only where its mode is "questions" or "all"
            bot.later(on_channel_message, bot, event, client, context.bot_user_id)

    @app.event("app_home_opened")
    def home(event: dict[str, Any], client: WebClient) -> None:
        bot.later(on_home_opened, bot, event, client)

    @app.command("/ask")
    def ask(ack: Any, command: dict[str, Any], respond: Any) -> None:
        ack()
        bot.later(bot.on_slash, command, respond)

    @app.action("citebot_sources")
    def sources(ack: Any, body: dict[str, Any], respond: Any) -> None:
        ack()
        bot.on_sources(body, respond)

    @app.action("citebot_share")
    def share(ack: Any, body: dict[str, Any], client: WebClient, respond: Any) -> None:
        ack()
        bot.on_share(body, client, respond)

    @app.action("citebot_handoff")
    def handoff(ack: Any, body: dict[str, Any], client: WebClient, respond: Any) -> None:
        ack()
        bot.later(on_handoff, bot, body, client, respond)

    @app.action("citebot_helpful")
    def helpful(ack: Any, body: dict[str, Any], respond: Any) -> None:
        ack()
        on_vote(bot, body, respond, "helpful")

    @app.action("citebot_not_helpful")
    def not_helpful(ack: Any, body: dict[str, Any], respond: Any) -> None:
        ack()
        on_vote(bot, body, respond, "not_helpful")

    return app
