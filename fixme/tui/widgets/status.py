"""The status bar: what just happened on the left, the network on the right."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from ...safetext import printable
from ...tracker.dashboard import NetworkStatus, ago

LEVELS = ("info", "warning", "error")


def network_text(status: NetworkStatus, now_ms: int) -> str:
    """The footer's words about sync: peers, the node, the last sync."""
    if not status.network_key:
        return "sync: no network key (run fixme init)"
    peers = len(status.configured) + status.discovered
    node = f"node on {status.running.get('listen', '?')}" if status.running else "no node running"
    if not peers:
        return f"sync: no peers · {node}"
    noun = "peer" if peers == 1 else "peers"
    last = f"last sync {ago(status.last_contact_ms, now_ms)}" if status.last_contact_ms else "never synced"
    return f"sync: {peers} {noun} · {node} · {last}"


class StatusBar(Horizontal):
    """One line: the last message (scan progress, search hits, errors) and the sync status."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.message = ""
        self.network = ""

    def compose(self) -> ComposeResult:
        # Messages quote titles, peers' error reasons and search queries: plain
        # text, never markup ("[/]" in a peer's reason must not break the bar).
        yield Static(self.message, id="message", markup=False)
        yield Static(self.network, id="network", markup=False)

    def say(self, message: str, level: str = "info") -> None:
        message = printable(message)
        self.message = message
        for widget in self.query("#message").results(Static):  # none before the bar is composed
            widget.update(message)
        for name in LEVELS:
            self.set_class(name == level, f"-{name}")

    def show_network(self, text: str) -> None:
        self.network = text
        for widget in self.query("#network").results(Static):
            widget.update(text)
