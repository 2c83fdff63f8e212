"""The kernel's websocket without Nagle's algorithm, so a widget's small messages reach the browser at once.

Jupyter Server leaves Nagle's algorithm on for kernel websockets (Tornado's default). Then a small
message that follows another one waits in the server until the browser acknowledges the first,
and the browser may hold that acknowledgement back for up to 40 ms (TCP's delayed ACK). An
explorer's slider → kernel → figure round trip sends several small messages in a row (the kernel's
"busy" status, the slider's echo, the new image), so it often paid those 40 ms. `./course setup`
names this class as ``ServerApp.kernel_websocket_connection_class`` for every server the course's
environment starts, and the class hub passes it to each student's server;
``bench/browser_latency.py`` measures the effect.
"""

from __future__ import annotations

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

LOG_LINE = "kernel websocket %s: TCP_NODELAY on (messages leave without waiting for acknowledgements)"


class NoDelayKernelConnection(ZMQChannelsWebsocketConnection):
    """Jupyter Server's kernel websocket connection, with TCP_NODELAY set on the browser's socket."""

    def connect(self):
        """Turn Nagle's algorithm off for this websocket, then connect as usual."""
        self.websocket_handler.set_nodelay(True)
        self.websocket_handler.log.info(LOG_LINE, self.kernel_id)
        return super().connect()
