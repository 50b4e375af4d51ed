"""The socket.io website channel in a real Sanic server on 127.0.0.1 with a socket.io client
(long-polling: the installed aiohttp is too old for the client's websocket transport): only a
signed session is accepted, and bot replies reach the session's room (Rasa 3.6 forgot to await
`enter_room`, RasaHQ/rasa#13027)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import socketio
from rasa.core.channels.channel import register
from sanic import Sanic

from backend.chat_ids import issue_chat_id
from backend.rasa_ext.channels.web import SignedSocketIOInput, WebChatGate
from tests.helpers import free_port
from tests.twilio_support import ScriptedAgent, sanic_test_mode  # noqa: F401
from tests.unit.test_web_channels import SECRET, echo, make_gate


@contextlib.asynccontextmanager
async def served(gate: WebChatGate, agent: ScriptedAgent):
    channel = SignedSocketIOInput(session_persistence=True, gate=gate)
    app = Sanic(f"socketio_test_{uuid.uuid4().hex[:10]}")
    register([channel], app, route="/webhooks/")
    app.ctx.agent = agent
    port = free_port()
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    await server.startup()
    task = asyncio.ensure_future(server.serve_forever())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        task.cancel()
        await server.close()


class Client:
    def __init__(self):
        self.sio = socketio.AsyncClient()
        self.events: asyncio.Queue = asyncio.Queue()
        for name in ("session_confirm", "bot_uttered", "message_refused"):
            self.sio.on(name, self._recorder(name))

    def _recorder(self, name):
        async def record(data):
            await self.events.put((name, data))

        return record

    @classmethod
    async def connected(cls, url: str) -> Client:
        client = cls()
        await client.sio.connect(url, transports=["polling"])
        return client

    async def close(self):
        # abort: a polite disconnect waits for the pending long poll (~30 s)
        await self.sio.eio.disconnect(abort=True)

    async def next(self):
        return await asyncio.wait_for(self.events.get(), timeout=10)


async def test_a_signed_session_chats_and_gets_the_replies():
    agent = ScriptedAgent(echo)
    chat = issue_chat_id(secret=SECRET)
    async with served(make_gate(), agent) as url:
        c = await Client.connected(url)
        await c.sio.emit("session_request", {"session_id": chat.sender, "token": chat.token})
        assert await c.next() == ("session_confirm", chat.sender)
        # whatever session id the message claims, it belongs to the proved one
        await c.sio.emit("user_uttered", {"message": "hi", "session_id": "whatsapp:+14155550123"})
        name, data = await c.next()
        assert (name, data["text"]) == ("bot_uttered", "echo hi")
        await c.close()
    [message] = agent.messages
    assert (message.sender_id, message.input_channel) == (chat.sender, "socketio")


async def test_forged_sessions_and_overlong_messages_are_refused():
    agent = ScriptedAgent(echo)
    chat = issue_chat_id(secret=SECRET)
    async with served(make_gate(), agent) as url:
        c = await Client.connected(url)
        await c.sio.emit("user_uttered", {"message": "hi", "session_id": chat.sender})
        assert (await c.next())[1]["status"] == 403  # no session_request yet
        await c.sio.emit(
            "session_request", {"session_id": "whatsapp:+14155550123", "token": chat.token}
        )
        assert (await c.next())[1]["status"] == 403
        await c.sio.emit("session_request", {"session_id": chat.sender, "token": chat.token})
        assert (await c.next())[0] == "session_confirm"
        await c.sio.emit("user_uttered", {"message": "a" * 2001})
        name, data = await c.next()
        assert (name, data["status"]) == ("message_refused", 413) and "shorten" in data["error"]
        await c.close()
    assert agent.messages == []
