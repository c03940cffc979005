"""Stand-in for ComfyUI's ``server.PromptServer``: records the status texts nodes send to the UI."""


class PromptServer:
    instance = None

    def __init__(self):
        PromptServer.instance = self
        self._test_texts = []  # (node_id, text)

    def send_progress_text(self, text, node_id, sid=None):
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8")
        self._test_texts.append((str(node_id), text))
