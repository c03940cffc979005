"""Stand-in for the interrupt flag of ``comfy.model_management``: set by the UI's Cancel, read by nodes."""

import threading

_lock = threading.RLock()
interrupt_processing = False


class InterruptProcessingException(Exception):
    """Raised by a node that stops for Cancel; the executor logs "Processing interrupted" and tells the UI
    ``execution_interrupted`` (no error dialog, no traceback)."""


def interrupt_current_processing(value=True):
    global interrupt_processing
    with _lock:
        interrupt_processing = value


def processing_interrupted():
    with _lock:
        return interrupt_processing


def throw_exception_if_processing_interrupted():
    global interrupt_processing
    with _lock:
        if interrupt_processing:
            interrupt_processing = False
            raise InterruptProcessingException()
