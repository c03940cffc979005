"""Stand-in for ComfyUI's ``folder_paths`` (only the folders the nodes use); tests point them at tmp dirs."""

import os
import tempfile

_test_base = os.path.join(tempfile.gettempdir(), "comfy-stub")


def get_temp_directory():
    return os.path.join(_test_base, "temp")


def get_output_directory():
    return os.path.join(_test_base, "output")
