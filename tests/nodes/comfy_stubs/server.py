"""Stand-in for ComfyUI's ``server.PromptServer``: status texts nodes send, and the on_prompt hooks."""


class PromptServer:
    instance = None

    def __init__(self):
        PromptServer.instance = self
        self._test_texts = []  # (node_id, text)
        self.on_prompt_handlers = []

    def send_progress_text(self, text, node_id, sid=None):
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8")
        self._test_texts.append((str(node_id), text))

    def add_on_prompt_handler(self, handler):
        """Handlers get the body of POST /prompt before it is validated and return it (possibly changed)."""
        self.on_prompt_handlers.append(handler)

    def trigger_on_prompt(self, json_data):
        for handler in self.on_prompt_handlers:
            json_data = handler(json_data)
        return json_data
